//! The kubeadm certificate set: which certificates a cluster has, what each one says
//! (subjects, SANs, usages, lifetimes as kubeadm of the cluster's minor issues them), and issuing them.

mod der;
mod issue;
mod key;
pub mod kubeconfig;
mod mint;

pub use issue::{Ca, IssuedCert, ParsedCert, signed_by};
pub use key::{KeyError, KeyKind, PrivateKey};
pub use mint::{Minted, Order, mint};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::model::{Cluster, Host, KeyAlgorithm, Node, San};

/// Makes and drops one key and self-signed certificate, so that the crypto library's
/// one-time setup is done when it returns (see `cmd::bake`).
pub fn warm_up() {
    let _ = Ca::generate(CaId::Kubernetes, KeyAlgorithm::EcdsaP256, 3600, time::OffsetDateTime::now_utc());
}

/// PEM with LF line endings and 64-column lines, as Go's `encoding/pem` writes it.
pub fn pem_encode(tag: &str, der: &[u8]) -> String {
    let block = pem::Pem::new(tag, der.to_vec());
    pem::encode_config(&block, pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF))
}

/// The three CAs of a kubeadm cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaId {
    /// The cluster CA (`ca.crt`): signs the API server, kubelets and every kubeconfig's user.
    Kubernetes,
    /// The front-proxy CA: signs the client certificate the API server shows extension API servers.
    FrontProxy,
    /// etcd's CA: signs etcd's server and peer certificates and its clients'.
    Etcd,
}

impl CaId {
    /// The three, in the order the state lists them.
    pub const ALL: [CaId; 3] = [CaId::Kubernetes, CaId::FrontProxy, CaId::Etcd];

    /// Path of the CA's files under the pki directory, without extension.
    pub fn stem(self) -> &'static str {
        match self {
            CaId::Kubernetes => "ca",
            CaId::FrontProxy => "front-proxy-ca",
            CaId::Etcd => "etcd/ca",
        }
    }

    /// The CA certificate's CN, as kubeadm names it (`kubernetes`, `front-proxy-ca`, `etcd-ca`).
    pub fn common_name(self) -> &'static str {
        match self {
            CaId::Kubernetes => "kubernetes",
            CaId::FrontProxy => "front-proxy-ca",
            CaId::Etcd => "etcd-ca",
        }
    }
}

/// An extended key usage: what a leaf certificate may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    /// TLS server: the API server, etcd, a kubelet's serving endpoint.
    ServerAuth,
    /// TLS client: a component or user authenticating to a server.
    ClientAuth,
}

/// Everything a leaf certificate must say. Recorded in the state beside each certificate,
/// so a later bake can tell whether the spec still asks for the same certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Subject CN: for a client certificate, the Kubernetes user name.
    pub common_name: String,
    /// Subject O: for a client certificate, the Kubernetes groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<String>,
    /// DNS subject alternative names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<IpAddr>,
    /// The extended key usages.
    pub usages: Vec<Usage>,
    /// The CA that signs it.
    pub issuer: CaId,
    /// The algorithm of the certificate's new key.
    pub algorithm: KeyAlgorithm,
    /// notAfter is the issuing time plus this many seconds.
    pub validity_seconds: u64,
}

impl Profile {
    fn client(cluster: &Cluster, issuer: CaId, cn: &str, orgs: &[&str]) -> Self {
        Profile {
            common_name: cn.to_string(),
            organizations: orgs.iter().map(|o| o.to_string()).collect(),
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            usages: vec![Usage::ClientAuth],
            issuer,
            algorithm: cluster.pki.algorithm,
            validity_seconds: cluster.pki.cert_validity.as_secs(),
        }
    }

    /// A client certificate signed by the cluster CA (kubeconfig identities).
    pub fn kubernetes_client(cluster: &Cluster, cn: &str, orgs: &[&str]) -> Self {
        Self::client(cluster, CaId::Kubernetes, cn, orgs)
    }
}

/// One leaf certificate of a control-plane node, by its path under `pki/` (no extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSpec {
    /// The path under `/etc/kubernetes/pki`, without `.crt`/`.key` (e.g. `etcd/peer`).
    pub stem: &'static str,
    /// What the certificate says.
    pub profile: Profile,
}

/// The leaf certificates kubeadm issues on each control-plane node (`init` on the first,
/// `join --control-plane` on the others: all of them are generated locally on each node).
pub fn control_plane_leaves(cluster: &Cluster, node: &Node) -> Vec<LeafSpec> {
    let client = |issuer, cn: &str, orgs: &[&str]| Profile::client(cluster, issuer, cn, orgs);
    let etcd_peerish = |cn: &str| Profile {
        dns_names: vec![node.name.clone(), "localhost".into()],
        ip_addresses: dedup(vec![node.address, Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]),
        usages: vec![Usage::ServerAuth, Usage::ClientAuth],
        ..client(CaId::Etcd, cn, &[])
    };
    vec![
        LeafSpec { stem: "apiserver", profile: apiserver_profile(cluster, node) },
        LeafSpec {
            stem: "apiserver-kubelet-client",
            profile: client(CaId::Kubernetes, "kube-apiserver-kubelet-client", kubelet_client_groups(cluster)),
        },
        LeafSpec { stem: "front-proxy-client", profile: client(CaId::FrontProxy, "front-proxy-client", &[]) },
        LeafSpec { stem: "etcd/server", profile: etcd_peerish(&node.name) },
        LeafSpec { stem: "etcd/peer", profile: etcd_peerish(&node.name) },
        LeafSpec { stem: "etcd/healthcheck-client", profile: client(CaId::Etcd, "kube-etcd-healthcheck-client", &[]) },
        LeafSpec { stem: "apiserver-etcd-client", profile: client(CaId::Etcd, "kube-apiserver-etcd-client", &[]) },
    ]
}

/// The API server's client identity towards kubelets: in `kubeadm:cluster-admins` until
/// 1.33; from 1.34 kubeadm binds the user itself to `system:kubelet-api-admin` instead.
fn kubelet_client_groups(cluster: &Cluster) -> &'static [&'static str] {
    if cluster.kubernetes_version.kubeadm().kubelet_client_in_cluster_admins() {
        &["kubeadm:cluster-admins"]
    } else {
        &[]
    }
}

/// Where the kubelet finds its serving certificate by default (`--cert-dir`).
pub const KUBELET_SERVING_STEM: &str = "kubelet-serving";

/// A kubelet's serving certificate signed by the cluster CA, as the CSR signer would issue
/// it (`kubernetes.io/kubelet-serving`): for external-CA clusters, where nothing signs.
pub fn kubelet_serving(cluster: &Cluster, node: &Node) -> LeafSpec {
    LeafSpec {
        stem: KUBELET_SERVING_STEM,
        profile: Profile {
            dns_names: vec![node.name.clone()],
            ip_addresses: vec![node.address],
            usages: vec![Usage::ServerAuth],
            ..Profile::client(cluster, CaId::Kubernetes, &format!("system:node:{}", node.name), &["system:nodes"])
        },
    }
}

fn apiserver_profile(cluster: &Cluster, node: &Node) -> Profile {
    let domain = &cluster.networking.dns_domain;
    let mut dns = vec![
        node.name.clone(),
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        format!("kubernetes.default.svc.{domain}"),
    ];
    let mut ips = vec![cluster.networking.first_service_ip(), node.address];
    match &cluster.endpoint.host {
        Host::Ip(ip) => ips.push(*ip),
        Host::Dns(name) => dns.push(name.clone()),
    }
    for san in &cluster.pki.api_server_cert_sans {
        match san {
            San::Ip(ip) => ips.push(*ip),
            San::Dns(name) => dns.push(name.clone()),
        }
    }
    Profile {
        dns_names: dedup(dns),
        ip_addresses: dedup(ips),
        usages: vec![Usage::ServerAuth],
        ..Profile::client(cluster, CaId::Kubernetes, "kube-apiserver", &[])
    }
}

/// Keeps the first of each repeated value, in order (a SAN listed twice is noise).
fn dedup<T: PartialEq>(v: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// `sha256:<hex>` of the CA's SubjectPublicKeyInfo: kubeadm's `--discovery-token-ca-cert-hash`.
pub fn ca_cert_hash(ca_cert_der: &[u8]) -> Result<String, String> {
    use sha2::Digest;
    let parsed = ParsedCert::from_der(ca_cert_der)?;
    Ok(format!("sha256:{}", crate::fmt::hex(&sha2::Sha256::digest(&parsed.spki_der))))
}
