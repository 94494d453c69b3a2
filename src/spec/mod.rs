//! The user's cluster spec: the file format (versioned, unknown fields rejected), and its
//! validation into the resolved [`Cluster`](crate::model::Cluster) model.
//!
//! Fields whose values need checking (addresses, CIDRs, durations, versions) are read as
//! strings, so a spec with several bad values reports all of them in one go rather than
//! stopping at the first one serde trips over.

pub(crate) mod checker;
pub(crate) mod grammar;
mod locate;
pub mod profile;
mod validate;

pub use locate::Locator;
pub use validate::DEFAULT_POOL_TOKEN_TTL;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Problem, Problems, Result};
use crate::model::Cluster;

pub const API_VERSION: &str = "kubebake.io/v1alpha1";
pub const KIND: &str = "Cluster";

/// The file as written by the user, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterFile {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spec {
    /// Any patch release of a supported minor; the newest supported minor when absent.
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    /// kubeadm's `clusterName`: names the cluster inside kubeconfigs. kubeadm's default.
    #[serde(default)]
    pub cluster_name: Option<String>,
    #[serde(default)]
    pub control_plane_endpoint: Option<String>,
    #[serde(default)]
    pub networking: Networking,
    #[serde(default)]
    pub pki: Pki,
    #[serde(default)]
    pub join: Join,
    pub nodes: Vec<NodeSpec>,
    /// Any number of identical workers per pool, from one user-data each: the machine's
    /// hostname names the node (autoscaling groups, MachineSets).
    #[serde(default)]
    pub worker_pools: Vec<WorkerPoolSpec>,
    /// Where control-plane images come from (kubeadm's `imageRepository`).
    #[serde(default)]
    pub image_repository: Option<String>,
    #[serde(default)]
    pub api_server: Component,
    #[serde(default)]
    pub controller_manager: Component,
    #[serde(default)]
    pub scheduler: Component,
    #[serde(default)]
    pub etcd: Component,
    /// A virtual IP for the endpoint, announced by kube-vip on every control plane.
    #[serde(default)]
    pub vip: Option<VipSpec>,
    #[serde(default)]
    pub cni: Option<CniSpec>,
    /// A built-in OS profile (ubuntu-24.04, debian-12, flatcar, fedora-coreos) or the path
    /// of a profile file.
    #[serde(default)]
    pub os: Option<String>,
    /// cloud-init or ignition, where the profile supports both.
    #[serde(default)]
    pub format: Option<String>,
    /// Ignition spec version of config.ign (3.3.0 by default; 3.4.0 also works).
    #[serde(default)]
    pub ignition_version: Option<String>,
    /// apt, download, prebaked or bundle, overriding the profile.
    #[serde(default)]
    pub packages: Option<String>,
    #[serde(default)]
    pub login: Option<LoginSpec>,
    /// containerd registry mirrors: registry host to mirror URLs, tried in order.
    #[serde(default)]
    pub registry_mirrors: BTreeMap<String, Vec<String>>,
    /// Static addressing for every node (its `address` with this prefix and gateway);
    /// without it nodes use DHCP.
    #[serde(default)]
    pub node_network: Option<NodeNetworkSpec>,
    /// kubeadm preflight checks to treat as warnings on every node (`--ignore-preflight-errors`),
    /// e.g. NumCPU on small machines.
    #[serde(default)]
    pub ignore_preflight_errors: Vec<String>,
    /// The nodes' files sealed in the user-data (opt-in).
    #[serde(default)]
    pub secrets: Option<SecretsSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretsSpec {
    /// The age X25519 recipient (`age1…`) whose identity the nodes' image holds; not a
    /// low-order point, which anyone could open a seal to.
    pub encrypt_to: String,
    /// Where the image keeps that identity; default /etc/kubebake/age.key.
    #[serde(default)]
    pub identity: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginSpec {
    /// Defaults to the image's own user (the profile's).
    pub user: Option<String>,
    #[serde(default)]
    pub ssh_authorized_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeNetworkSpec {
    #[serde(default)]
    pub interface: Option<String>,
    pub prefix_length: u8,
    pub gateway: String,
    #[serde(default)]
    pub nameservers: Vec<String>,
}

/// A control-plane component's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Component {
    /// Flags without their leading `--`; kubeadm's semantics: a flag the component already
    /// gets is overridden, any other is added. Values may be any YAML scalar that reads as
    /// one line of printable text.
    #[serde(default)]
    pub extra_args: BTreeMap<String, serde_yaml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VipSpec {
    pub address: String,
    /// The network interface kube-vip announces the address on (ARP).
    pub interface: String,
    #[serde(default)]
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CniSpec {
    pub plugin: Option<String>,
    pub version: Option<String>,
    pub mode: Option<String>,
    pub encapsulation: Option<String>,
    pub mtu: Option<u32>,
    /// Image registry for Calico's images (air-gapped installs).
    pub registry: Option<String>,
    #[serde(default)]
    pub manifest: ManifestSource,
}

/// Where the first control plane gets Calico's manifest (the operator's in operator mode,
/// `calico.yaml` in manifest mode): a URL fetched at boot, or a local file shipped along.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSource {
    /// https, or http when `sha256` checks what it fetches.
    pub url: Option<String>,
    /// 64 lower-case hex digits, as sha256sum prints them.
    pub sha256: Option<String>,
    /// Relative paths are relative to the spec file.
    pub file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Networking {
    pub pod_subnet: Option<String>,
    pub service_subnet: Option<String>,
    pub dns_domain: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Pki {
    pub encryption_algorithm: Option<String>,
    pub certificate_validity_period: Option<String>,
    pub ca_certificate_validity_period: Option<String>,
    #[serde(default, rename = "apiServerCertSANs")]
    pub api_server_cert_sans: Vec<String>,
    /// kubeadm's external-CA mode: no CA key on any node; kubebake pre-issues every
    /// kubelet's client and serving certificates, and nothing signs CSRs in the cluster.
    #[serde(default, rename = "externalCA")]
    pub external_ca: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Join {
    #[serde(rename = "tokenTTL")]
    pub token_ttl: Option<String>,
    /// How long a node keeps trying to reach the first control plane before giving up.
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub name: String,
    pub role: String,
    pub address: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkerPoolSpec {
    pub name: String,
    /// Node labels the kubelet registers with. Values are read as any YAML so that an
    /// unquoted `true` or `1` is reported with its line rather than by serde.
    #[serde(default)]
    pub labels: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    pub taints: Vec<TaintSpec>,
    /// How long the pool's join token lives once kubeadm init created it (0: never expires).
    #[serde(default, rename = "tokenTTL")]
    pub token_ttl: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaintSpec {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub effect: String,
}

/// A spec that parsed and validated, with the warnings worth showing the user.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub cluster: Cluster,
    pub warnings: Vec<Problem>,
}

/// Reads and validates the spec at `path`.
///
/// Syntax and shape errors (bad YAML, unknown or missing fields) are reported with the
/// line serde found; value errors are collected over the whole file and reported together.
pub fn load(path: &Path) -> Result<Loaded> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading spec", path, e))?;
    parse(&text, path)
}

/// Like [`load`], for a spec already in memory; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Loaded> {
    let fail = |problems: Vec<Problem>| Error::Spec(Problems { file: path.to_path_buf(), problems });
    let file: ClusterFile = serde_yaml::from_str(text).map_err(|e| fail(vec![serde_problem(&e)]))?;
    let locator = Locator::new(text);
    let base = path.parent().unwrap_or(Path::new("."));
    match validate::validate(&file, &locator, base) {
        Ok((cluster, warnings)) => Ok(Loaded { cluster, warnings }),
        Err(problems) => Err(fail(problems)),
    }
}

pub(crate) fn serde_problem(e: &serde_yaml::Error) -> Problem {
    // serde_yaml prefixes the message with the field path ("spec.nodes[0]: unknown field
    // ...") and appends the position; split them so the output reads like our own errors.
    let mut message = e.to_string();
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    let (path, message) = match message.split_once(": ") {
        Some((p, m)) if !p.contains(' ') => (p.to_string(), m.to_string()),
        _ => (String::new(), message),
    };
    let loc = e.location();
    Problem {
        path,
        line: loc.as_ref().map(|l| l.line()),
        column: loc.as_ref().map(|l| l.column()),
        message,
        file: None,
    }
}
