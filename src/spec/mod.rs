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
pub mod yaml;

pub use locate::Locator;
pub use validate::DEFAULT_POOL_TOKEN_TTL;
pub use yaml::Scalar;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Problem, Problems, Result};
use crate::model::Cluster;

/// The spec's `apiVersion`: the only version of the format there is so far.
pub const API_VERSION: &str = "kubebake.io/v1alpha1";
/// The spec's `kind`.
pub const KIND: &str = "Cluster";

/// The file as written by the user, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterFile {
    /// Must be [`API_VERSION`].
    pub api_version: String,
    /// Must be [`KIND`].
    pub kind: String,
    /// What names the cluster for its operator.
    pub metadata: Metadata,
    /// The cluster itself.
    pub spec: Spec,
}

/// The spec's `metadata`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// A DNS-1123 label naming the cluster for its operator: the state directory and the
    /// operator's kubeconfig are named after it.
    pub name: String,
}

/// The spec's `spec`: the cluster's settings, each optional unless said otherwise, with
/// kubeadm's defaults where kubeadm has one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spec {
    /// Any patch release of a supported minor; the newest supported minor when absent.
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    /// kubeadm's `clusterName`: names the cluster inside kubeconfigs. kubeadm's default.
    #[serde(default)]
    pub cluster_name: Option<String>,
    /// Where clients and joining nodes reach the API server: `host[:port]`, a DNS name or
    /// an IP address, port 6443 by default. Without it, the VIP when there is one, else
    /// the first control plane's address.
    #[serde(default)]
    pub control_plane_endpoint: Option<String>,
    /// The pod and service ranges and the cluster's DNS domain.
    #[serde(default, deserialize_with = "or_default")]
    pub networking: Networking,
    /// The certificates kubebake issues: key algorithm, lifetimes, extra names.
    #[serde(default, deserialize_with = "or_default")]
    pub pki: Pki,
    /// The bootstrap token nodes join with, and how long they try.
    #[serde(default, deserialize_with = "or_default")]
    pub join: Join,
    /// Every node by name, in order; the first control plane runs kubeadm init. Required,
    /// with at least one control plane.
    #[serde(deserialize_with = "or_default")]
    pub nodes: Vec<NodeSpec>,
    /// Any number of identical workers per pool, from one user-data each: the machine's
    /// hostname names the node (autoscaling groups, MachineSets).
    #[serde(default, deserialize_with = "or_default")]
    pub worker_pools: Vec<WorkerPoolSpec>,
    /// Where control-plane images come from (kubeadm's `imageRepository`).
    #[serde(default)]
    pub image_repository: Option<String>,
    /// The API server's extra flags.
    #[serde(default, deserialize_with = "or_default")]
    pub api_server: Component,
    /// The controller manager's extra flags.
    #[serde(default, deserialize_with = "or_default")]
    pub controller_manager: Component,
    /// The scheduler's extra flags.
    #[serde(default, deserialize_with = "or_default")]
    pub scheduler: Component,
    /// etcd's extra flags.
    #[serde(default, deserialize_with = "or_default")]
    pub etcd: Component,
    /// A virtual IP for the endpoint, announced by kube-vip on every control plane.
    #[serde(default)]
    pub vip: Option<VipSpec>,
    /// The pod network: Calico by default.
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
    /// Who can log in to the nodes over SSH.
    #[serde(default)]
    pub login: Option<LoginSpec>,
    /// containerd registry mirrors: registry host to mirror URLs, tried in order.
    #[serde(default, deserialize_with = "or_default")]
    pub registry_mirrors: BTreeMap<String, Vec<String>>,
    /// Static addressing for every node (its `address` with this prefix and gateway);
    /// without it nodes use DHCP.
    #[serde(default)]
    pub node_network: Option<NodeNetworkSpec>,
    /// kubeadm preflight checks to treat as warnings on every node (`--ignore-preflight-errors`),
    /// e.g. NumCPU on small machines.
    #[serde(default, deserialize_with = "or_default")]
    pub ignore_preflight_errors: Vec<String>,
    /// The nodes' files sealed in the user-data (opt-in).
    #[serde(default)]
    pub secrets: Option<SecretsSpec>,
}

/// The spec's `secrets`: sealing the nodes' secret files in the user-data.
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

/// The spec's `login`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginSpec {
    /// The user to log in as; the image's own user (the profile's) by default, any other
    /// is created at first boot.
    pub user: Option<String>,
    /// OpenSSH public key lines (`type base64-key [comment]`) that may log in as the user.
    #[serde(default, deserialize_with = "or_default")]
    pub ssh_authorized_keys: Vec<String>,
}

/// The spec's `nodeNetwork`: static addressing, the same for every node but its address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeNetworkSpec {
    /// The interface the address goes on; eth0 by default.
    #[serde(default)]
    pub interface: Option<String>,
    /// The prefix length of the nodes' network (24 for a /24). Required.
    pub prefix_length: u8,
    /// The default gateway, on every node's network. Required.
    pub gateway: String,
    /// DNS servers, as IP addresses.
    #[serde(default, deserialize_with = "or_default")]
    pub nameservers: Vec<String>,
}

/// A control-plane component's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Component {
    /// Flags without their leading `--`; kubeadm's semantics: a flag the component already
    /// gets is overridden, any other is added. Values may be any YAML scalar that reads as
    /// one line of printable text.
    #[serde(default, deserialize_with = "or_default")]
    pub extra_args: BTreeMap<String, Scalar>,
}

/// The spec's `vip`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VipSpec {
    /// A free IP address on the control planes' network; the endpoint defaults to it.
    pub address: String,
    /// The network interface kube-vip announces the address on (ARP).
    pub interface: String,
    /// kube-vip's image reference; a pinned release by default.
    #[serde(default)]
    pub image: Option<String>,
}

/// The spec's `cni`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CniSpec {
    /// calico (the default), or none to install a CNI of one's own once the cluster is up.
    pub plugin: Option<String>,
    /// The Calico release (`v3.30.3`); a tested release by default.
    pub version: Option<String>,
    /// operator (the default: the Tigera operator and an Installation) or manifest
    /// (`calico.yaml`).
    pub mode: Option<String>,
    /// How pod traffic crosses nodes: VXLANCrossSubnet (the default), VXLAN, IPIP,
    /// IPIPCrossSubnet or None.
    pub encapsulation: Option<String>,
    /// The pods' MTU, operator mode only; Calico detects it by default.
    pub mtu: Option<u32>,
    /// Image registry for Calico's images (air-gapped installs).
    pub registry: Option<String>,
    /// Where the manifest comes from; Calico's own for the release and mode by default.
    #[serde(default, deserialize_with = "or_default")]
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

/// The spec's `networking`: one IP family, no dual-stack.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Networking {
    /// The pods' range (the controller manager's `--cluster-cidr`, Calico's IP pool);
    /// Calico's 192.168.0.0/16 by default.
    pub pod_subnet: Option<String>,
    /// The services' range; kubeadm's 10.96.0.0/12 by default.
    pub service_subnet: Option<String>,
    /// The cluster's DNS domain; cluster.local by default.
    pub dns_domain: Option<String>,
}

/// The spec's `pki`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Pki {
    /// The key algorithm of every key kubebake generates: RSA-2048, RSA-3072, RSA-4096,
    /// ECDSA-P256 (the default) or ECDSA-P384.
    pub encryption_algorithm: Option<String>,
    /// How long leaf certificates live, as a Go duration; 8760h (a year) by default.
    pub certificate_validity_period: Option<String>,
    /// How long the CAs live, as a Go duration; 87600h (ten years) by default.
    pub ca_certificate_validity_period: Option<String>,
    /// Extra IP addresses and DNS names (wildcards allowed) in the API server's certificate.
    #[serde(default, rename = "apiServerCertSANs", deserialize_with = "or_default")]
    pub api_server_cert_sans: Vec<String>,
    /// kubeadm's external-CA mode: no CA key on any node; kubebake pre-issues every
    /// kubelet's client and serving certificates, and nothing signs CSRs in the cluster.
    #[serde(default, rename = "externalCA")]
    pub external_ca: bool,
}

/// The spec's `join`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Join {
    /// How long the nodes' bootstrap token lives once kubeadm init created it, as a Go
    /// duration; 24h by default, 0 for never.
    #[serde(rename = "tokenTTL")]
    pub token_ttl: Option<String>,
    /// How long a node keeps trying to reach the first control plane before giving up.
    pub timeout: Option<String>,
}

/// One of the spec's `nodes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// A DNS-1123 label; the node's name in the cluster and its output directory.
    pub name: String,
    /// control-plane or worker.
    pub role: String,
    /// The node's IP address, which it advertises and others reach it on.
    pub address: String,
    /// The name of a control plane gone from the spec that this one replaces.
    #[serde(default)]
    pub replaces: Option<String>,
}

/// One of the spec's `workerPools`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkerPoolSpec {
    /// A DNS-1123 label; the pool's user-data goes to `pool-<name>/`.
    pub name: String,
    /// Node labels the kubelet registers with. Values are read as any YAML so that an
    /// unquoted `true` or `1` is reported with its line rather than by serde.
    #[serde(default, deserialize_with = "or_default")]
    pub labels: BTreeMap<String, Scalar>,
    /// Taints the kubelet registers the nodes with.
    #[serde(default, deserialize_with = "or_default")]
    pub taints: Vec<TaintSpec>,
    /// How long the pool's join token lives once kubeadm init created it (0: never expires).
    #[serde(default, rename = "tokenTTL")]
    pub token_ttl: Option<String>,
}

/// One of a worker pool's `taints`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaintSpec {
    /// A qualified name, as a label key.
    pub key: String,
    /// Empty by default.
    #[serde(default)]
    pub value: Option<String>,
    /// NoSchedule, PreferNoSchedule or NoExecute.
    pub effect: String,
}

/// A spec that parsed and validated, with the warnings worth showing the user.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The resolved cluster, every default applied.
    pub cluster: Cluster,
    /// What is allowed but likely a mistake (an end-of-life release, a loopback address).
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
    let locator = Locator::new(text);
    let file: ClusterFile = yaml::from_str(text).map_err(|e| fail(vec![yaml::problem(&e, &locator)]))?;
    let base = path.parent().unwrap_or(Path::new("."));
    match validate::validate(&file, &locator, base) {
        Ok((cluster, warnings)) => Ok(Loaded { cluster, warnings }),
        Err(problems) => Err(fail(problems)),
    }
}

/// A section or list written with nothing after its key (`nodes:`, or a list whose items
/// are all commented out) is empty, not an error: YAML reads nothing as null.
fn or_default<'de, D: serde::Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> std::result::Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
