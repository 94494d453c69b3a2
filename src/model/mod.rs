//! The resolved cluster: every default applied, every value parsed and checked. Everything
//! downstream (PKI, kubeconfigs, plans, writers) reads only this.

pub mod images;
pub mod profile;
pub mod recipient;
pub mod versions;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

pub use crate::model::versions::Version;

/// How long kubeadm back-dates a CA's notBefore, to tolerate clock skew between nodes.
pub const CERTIFICATE_BACKDATE: Duration = Duration::from_secs(5 * 60);
/// The API server's port on each control plane (kubeadm's `localAPIEndpoint.bindPort`).
pub const API_SERVER_BIND_PORT: u16 = 6443;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// `metadata.name`: names the cluster for the operator (state directory, kubeconfig).
    pub name: String,
    /// kubeadm's `clusterName`, used inside the kubeconfigs kubeadm writes.
    pub cluster_name: String,
    pub kubernetes_version: Version,
    pub endpoint: Endpoint,
    pub networking: Networking,
    pub pki: PkiSettings,
    pub join: JoinSettings,
    pub nodes: Vec<Node>,
    /// Identical workers baked once per pool, named by their own hostname.
    pub worker_pools: Vec<WorkerPool>,
    /// Registry of the control-plane images (kubeadm's `imageRepository`).
    pub image_repository: String,
    pub extra_args: ExtraArgs,
    pub vip: Option<Vip>,
    pub cni: Cni,
    pub os: NodeOs,
    pub login: Login,
    /// containerd registry mirrors: registry host to mirror URLs.
    pub registry_mirrors: BTreeMap<String, Vec<String>>,
    pub node_network: Option<NodeNetwork>,
    /// The user's own preflight checks to ignore, sorted, on top of kubebake's.
    pub ignore_preflight_errors: Vec<String>,
    /// `secrets.encryptTo`: the user-data carries secrets sealed to this recipient.
    pub sealing: Option<Sealing>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealing {
    pub recipient: crate::model::recipient::Recipient,
    /// The identity's absolute path on the node.
    pub identity: String,
}

/// The nodes' operating system and how they are provisioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeOs {
    pub profile: crate::model::profile::Profile,
    pub format: crate::model::profile::Format,
    pub ignition_version: String,
    pub packages: crate::model::profile::Packages,
    /// `packages: bundle`: the sha256 of the bundle the nodes' image carries, which first
    /// boot checks before it reads a byte of it (`bake --bundle`, kept in the state).
    pub bundle_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    /// Whether the user must be created (it is not the image's own).
    pub create: bool,
    pub ssh_authorized_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNetwork {
    pub interface: String,
    pub prefix_length: u8,
    pub gateway: IpAddr,
    pub nameservers: Vec<IpAddr>,
}

/// Per-component extra flags, by flag name without `--`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraArgs {
    pub api_server: BTreeMap<String, String>,
    pub controller_manager: BTreeMap<String, String>,
    pub scheduler: BTreeMap<String, String>,
    pub etcd: BTreeMap<String, String>,
}

/// A virtual IP for the API endpoint, announced over ARP by kube-vip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    pub address: IpAddr,
    pub interface: String,
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cni {
    /// The operator installs a CNI of their own after the cluster is up.
    None,
    Calico(Calico),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calico {
    pub version: String,
    pub mode: CalicoMode,
    pub encapsulation: Encapsulation,
    /// None: Calico detects it.
    pub mtu: Option<u32>,
    pub registry: Option<String>,
    pub source: ManifestSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalicoMode {
    /// The Tigera operator, configured by an `Installation` resource.
    Operator,
    /// The all-in-one `calico.yaml`.
    Manifest,
}

impl CalicoMode {
    pub fn manifest_name(self) -> &'static str {
        match self {
            CalicoMode::Operator => "tigera-operator.yaml",
            CalicoMode::Manifest => "calico.yaml",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encapsulation {
    VxlanCrossSubnet,
    Vxlan,
    Ipip,
    IpipCrossSubnet,
    None,
}

impl Encapsulation {
    pub const ALL: [Encapsulation; 5] = [
        Encapsulation::VxlanCrossSubnet,
        Encapsulation::Vxlan,
        Encapsulation::Ipip,
        Encapsulation::IpipCrossSubnet,
        Encapsulation::None,
    ];

    /// The name the operator's `Installation` uses.
    pub fn name(self) -> &'static str {
        match self {
            Encapsulation::VxlanCrossSubnet => "VXLANCrossSubnet",
            Encapsulation::Vxlan => "VXLAN",
            Encapsulation::Ipip => "IPIP",
            Encapsulation::IpipCrossSubnet => "IPIPCrossSubnet",
            Encapsulation::None => "None",
        }
    }
}

/// Where Calico's manifest comes from on the first control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestSource {
    /// Fetched at first boot, in order, into one manifest; checked against `sha256` when
    /// given (only for a single URL of the user's choosing).
    Url { urls: Vec<String>, sha256: Option<String> },
    /// Read at bake time and shipped with the node's files (air-gapped).
    File { bytes: Vec<u8> },
}

impl Cluster {
    pub fn control_planes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == Role::ControlPlane)
    }

    /// The control plane that runs `kubeadm init`; the others join it.
    pub fn first_control_plane(&self) -> &Node {
        self.control_planes().next().expect("validation guarantees a control plane")
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn worker_pool(&self, name: &str) -> Option<&WorkerPool> {
        self.worker_pools.iter().find(|p| p.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Dns(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Dns(name) => write!(f, "{name}"),
        }
    }
}

/// Where clients reach the API server: a control plane's address, a load balancer or a
/// virtual IP, with its port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: Host,
    pub port: u16,
}

impl Endpoint {
    /// `host:port` as kubeadm writes `controlPlaneEndpoint` (IPv6 in brackets).
    pub fn host_port(&self) -> String {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{}", self.port),
            host => format!("{host}:{}", self.port),
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.host_port())
    }
}

/// `https://address:6443` for a node's own API server.
pub fn local_api_url(address: IpAddr) -> String {
    Endpoint { host: Host::Ip(address), port: API_SERVER_BIND_PORT }.url()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Networking {
    pub pod_subnet: IpNet,
    pub service_subnet: IpNet,
    pub dns_domain: String,
}

impl Networking {
    /// The first usable address of the service range: the `kubernetes` Service's ClusterIP.
    pub fn first_service_ip(&self) -> IpAddr {
        nth_address(&self.service_subnet, 1)
    }

    /// The tenth address of the service range, which kubeadm gives CoreDNS.
    pub fn cluster_dns_ip(&self) -> IpAddr {
        nth_address(&self.service_subnet, 10)
    }
}

fn nth_address(net: &IpNet, n: u128) -> IpAddr {
    match net.network() {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) + n as u32).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) + n).into()),
    }
}

/// kubeadm's `encryptionAlgorithm` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum KeyAlgorithm {
    #[serde(rename = "RSA-2048")]
    Rsa2048,
    #[serde(rename = "RSA-3072")]
    Rsa3072,
    #[serde(rename = "RSA-4096")]
    Rsa4096,
    #[serde(rename = "ECDSA-P256")]
    EcdsaP256,
    #[serde(rename = "ECDSA-P384")]
    EcdsaP384,
}

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 5] = [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "RSA-2048",
            KeyAlgorithm::Rsa3072 => "RSA-3072",
            KeyAlgorithm::Rsa4096 => "RSA-4096",
            KeyAlgorithm::EcdsaP256 => "ECDSA-P256",
            KeyAlgorithm::EcdsaP384 => "ECDSA-P384",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096)
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiSettings {
    pub algorithm: KeyAlgorithm,
    pub cert_validity: Duration,
    pub ca_validity: Duration,
    pub api_server_cert_sans: Vec<San>,
    /// No CA key on any node (kubeadm's external-CA mode).
    pub external_ca: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinSettings {
    /// Zero means the token never expires.
    pub token_ttl: Duration,
    /// How long joining nodes retry, and how long the first control plane waits for the
    /// others' etcd members to form quorum.
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    ControlPlane,
    Worker,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub role: Role,
    pub address: IpAddr,
}

/// A pool of identical workers: one user-data for any number of machines, each of which
/// takes its hostname as its node name. Nothing node-specific (name, address, certificate)
/// is baked for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPool {
    pub name: String,
    /// Registered by the kubelet (`--node-labels`); only keys a kubelet may set on itself.
    pub labels: BTreeMap<String, String>,
    /// Registered by the kubelet (`--register-with-taints`), in the spec's order.
    pub taints: Vec<Taint>,
    /// The TTL kubeadm init gives the pool's first join token; zero: never expires.
    pub token_ttl: Duration,
}

impl WorkerPool {
    /// The pool's directory in the output (`OUT/pool-<name>/`) and its plan's name.
    pub fn dir(&self) -> String {
        format!("pool-{}", self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    /// Empty: a taint with no value.
    pub value: String,
    /// NoSchedule, PreferNoSchedule or NoExecute.
    pub effect: String,
}

impl Taint {
    /// `key=value:Effect` (or `key:Effect`), as the kubelet's `--register-with-taints`
    /// takes it and kubeadm writes it (`Taint.ToString`).
    pub fn to_flag(&self) -> String {
        if self.value.is_empty() {
            format!("{}:{}", self.key, self.effect)
        } else {
            format!("{}={}:{}", self.key, self.value, self.effect)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_addresses_follow_kubeadm() {
        let n = Networking {
            pod_subnet: "192.168.0.0/16".parse().unwrap(),
            service_subnet: "10.96.0.0/12".parse().unwrap(),
            dns_domain: "cluster.local".into(),
        };
        assert_eq!(n.first_service_ip().to_string(), "10.96.0.1");
        assert_eq!(n.cluster_dns_ip().to_string(), "10.96.0.10");
        let v6 = Networking { service_subnet: "fd00:10::/108".parse().unwrap(), ..n };
        assert_eq!(v6.first_service_ip().to_string(), "fd00:10::1");
    }

    #[test]
    fn ipv6_endpoints_are_bracketed() {
        let e = Endpoint { host: Host::Ip("fd00::10".parse().unwrap()), port: 6443 };
        assert_eq!(e.url(), "https://[fd00::10]:6443");
    }
}
