//! The resolved cluster: every default applied, every value parsed and checked. Everything
//! downstream (PKI, kubeconfigs, plans, writers) reads only this.

pub mod cni;
pub mod images;
pub mod profile;
pub mod recipient;
pub mod releases;
pub mod versions;

pub use cni::{Calico, CalicoMode, Cni, Encapsulation, ManifestSource};

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

/// A spec resolved: what `bake` makes every node's files from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// `metadata.name`: names the cluster for the operator (state directory, kubeconfig).
    pub name: String,
    /// kubeadm's `clusterName`, used inside the kubeconfigs kubeadm writes.
    pub cluster_name: String,
    /// `spec.kubernetesVersion`: the release every node installs and kubeadm deploys.
    pub kubernetes_version: Version,
    /// `spec.controlPlaneEndpoint`, defaulting to the VIP or the first control plane.
    pub endpoint: Endpoint,
    /// `spec.networking`: the pod and Service ranges and the cluster's DNS domain.
    pub networking: Networking,
    /// `spec.pki`: key algorithm, certificate lifetimes and extra API server SANs.
    pub pki: PkiSettings,
    /// `spec.join`: the bootstrap token's lifetime and how long joining may take.
    pub join: JoinSettings,
    /// `spec.nodes`, in the spec's order: each one baked by name and address.
    pub nodes: Vec<Node>,
    /// Identical workers baked once per pool, named by their own hostname.
    pub worker_pools: Vec<WorkerPool>,
    /// Registry of the control-plane images (kubeadm's `imageRepository`).
    pub image_repository: String,
    /// Extra flags for the API server, controller manager, scheduler and etcd.
    pub extra_args: ExtraArgs,
    /// `spec.vip`: a kube-vip static pod on each control plane announces the endpoint.
    pub vip: Option<Vip>,
    /// `spec.cni`: what the first control plane installs for pod networking.
    pub cni: Cni,
    /// `spec.os`, `format` and `packages`: what the nodes boot and how they get Kubernetes.
    pub os: NodeOs,
    /// `spec.login`: the SSH user on every node.
    pub login: Login,
    /// containerd registry mirrors: registry host to mirror URLs.
    pub registry_mirrors: BTreeMap<String, Vec<String>>,
    /// `spec.nodeNetwork`: static addressing for named nodes; None means DHCP.
    pub node_network: Option<NodeNetwork>,
    /// The user's own preflight checks to ignore, sorted, on top of kubebake's.
    pub ignore_preflight_errors: Vec<String>,
    /// `secrets.encryptTo`: the user-data carries secrets sealed to this recipient.
    pub sealing: Option<Sealing>,
    /// The control plane that ran (or runs) `kubeadm init`, as the state recorded it at the
    /// first bake; None before then. Once the cluster exists no other node inits it, even
    /// when this one has left the spec.
    pub initialized_by: Option<String>,
}

/// `spec.secrets`: seal each node's secrets (keys, tokens) to an age recipient whose
/// identity the node's image already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealing {
    /// `encryptTo`: the age recipient (`age1…`) the secrets are sealed to.
    pub recipient: crate::model::recipient::Recipient,
    /// The identity's absolute path on the node.
    pub identity: String,
}

/// The nodes' operating system and how they are provisioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeOs {
    /// The OS profile (`spec.os`, built in or a file): package manager, paths, users.
    pub profile: crate::model::profile::Profile,
    /// `spec.format`: the user-data the nodes' first boot reads.
    pub format: crate::model::profile::Format,
    /// The Ignition spec version `config.ign` declares (the profile's, e.g. `3.3.0`).
    pub ignition_version: String,
    /// `spec.packages`: how the nodes get containerd, kubeadm and the kubelet.
    pub packages: crate::model::profile::Packages,
    /// `packages: bundle`: the sha256 of the bundle the nodes' image carries, which first
    /// boot checks before it reads a byte of it (`bake --bundle`, kept in the state).
    pub bundle_sha256: Option<String>,
}

/// `spec.login`: who can SSH into the nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The login name: the spec's, or the image's default user (`ubuntu`, `core`, …).
    pub user: String,
    /// Whether the user must be created (it is not the image's own).
    pub create: bool,
    /// Public keys, one `type base64-key [comment]` line each, allowed to log in as the user.
    pub ssh_authorized_keys: Vec<String>,
}

/// `spec.nodeNetwork`: each named node's address set statically on one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNetwork {
    /// The interface that gets the node's address (e.g. `eth0`).
    pub interface: String,
    /// The subnet's prefix length, in bits, added to each node's address.
    pub prefix_length: u8,
    /// The default route's next hop.
    pub gateway: IpAddr,
    /// DNS servers the node is given; empty gives it none.
    pub nameservers: Vec<IpAddr>,
}

/// Per-component extra flags, by flag name without `--`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraArgs {
    /// `spec.apiServer.extraArgs`.
    pub api_server: BTreeMap<String, String>,
    /// `spec.controllerManager.extraArgs`.
    pub controller_manager: BTreeMap<String, String>,
    /// `spec.scheduler.extraArgs`.
    pub scheduler: BTreeMap<String, String>,
    /// `spec.etcd.extraArgs`; `data-dir` among them moves etcd's data directory.
    pub etcd: BTreeMap<String, String>,
}

/// A virtual IP for the API endpoint, announced over ARP by kube-vip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    /// The virtual IP clients reach the API server on.
    pub address: IpAddr,
    /// The control planes' interface kube-vip announces the address on.
    pub interface: String,
    /// kube-vip's container image reference.
    pub image: String,
}

impl Cluster {
    /// The control-plane nodes, in the spec's order.
    pub fn control_planes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == Role::ControlPlane)
    }

    /// The control plane that runs `kubeadm init`, which the others join: the first one
    /// that replaces no other. None once every control plane is a replacement: the cluster
    /// exists, and every node joins it.
    pub fn init_node(&self) -> Option<&Node> {
        match &self.initialized_by {
            Some(name) => self.control_planes().find(|n| &n.name == name),
            None => self.control_planes().find(|n| n.replaces.is_none()),
        }
    }

    /// The release `node` runs: the spec's, or the older one it was first baked for.
    pub fn release_of(&self, node: &Node) -> Version {
        node.release.unwrap_or(self.kubernetes_version)
    }

    /// Whether `node` runs `kubeadm init` ([`Cluster::init_node`]).
    pub fn is_init_node(&self, node: &Node) -> bool {
        self.init_node().is_some_and(|n| n.name == node.name)
    }

    /// The named node of `spec.nodes`, if there is one.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The named worker pool of `spec.workerPools`, if there is one.
    pub fn worker_pool(&self, name: &str) -> Option<&WorkerPool> {
        self.worker_pools.iter().find(|p| p.name == name)
    }
}

/// The host part of the API endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IP address, which goes into the API server certificate as an IP SAN.
    Ip(IpAddr),
    /// A DNS name, which goes into the API server certificate as a DNS SAN.
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
    /// The address or DNS name clients connect to.
    pub host: Host,
    /// The TCP port, 6443 unless the spec says otherwise.
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

    /// `https://host:port`, the `server` of the kubeconfigs that use the endpoint.
    pub fn url(&self) -> String {
        format!("https://{}", self.host_port())
    }
}

/// `https://address:6443` for a node's own API server.
pub fn local_api_url(address: IpAddr) -> String {
    Endpoint { host: Host::Ip(address), port: API_SERVER_BIND_PORT }.url()
}

/// `spec.networking`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Networking {
    /// Pods' addresses: the controller manager's `--cluster-cidr` and Calico's IP pool.
    pub pod_subnet: IpNet,
    /// Services' ClusterIPs (`--service-cluster-ip-range`).
    pub service_subnet: IpNet,
    /// The cluster's DNS suffix, `cluster.local` unless the spec says otherwise.
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
    /// RSA with a 2048-bit modulus: kubeadm's default.
    #[serde(rename = "RSA-2048")]
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    #[serde(rename = "RSA-3072")]
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    #[serde(rename = "RSA-4096")]
    Rsa4096,
    /// ECDSA on the NIST P-256 curve: kubebake's default, far faster to generate.
    #[serde(rename = "ECDSA-P256")]
    EcdsaP256,
    /// ECDSA on the NIST P-384 curve.
    #[serde(rename = "ECDSA-P384")]
    EcdsaP384,
}

impl KeyAlgorithm {
    /// Every value, in the order the spec's error message lists them.
    pub const ALL: [KeyAlgorithm; 5] = [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ];

    /// The spelling kubeadm and the spec use, e.g. `ECDSA-P256`.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "RSA-2048",
            KeyAlgorithm::Rsa3072 => "RSA-3072",
            KeyAlgorithm::Rsa4096 => "RSA-4096",
            KeyAlgorithm::EcdsaP256 => "ECDSA-P256",
            KeyAlgorithm::EcdsaP384 => "ECDSA-P384",
        }
    }

    /// The algorithm spelled as kubeadm spells it; None for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether keys are RSA: slow to generate, and random bytes no compression shrinks.
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096)
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An extra subject alternative name for the API server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    /// A DNS name, possibly a wildcard (`*.example.com`).
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
}

/// `spec.pki`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiSettings {
    /// The algorithm of every key kubebake generates (CAs, leaves, service-account key).
    pub algorithm: KeyAlgorithm,
    /// How long leaf certificates are valid (kubeadm's `certificateValidityPeriod`).
    pub cert_validity: Duration,
    /// How long CA certificates are valid (kubeadm's `caCertificateValidityPeriod`).
    pub ca_validity: Duration,
    /// `apiServerCertSANs`: names beyond kubeadm's own on the API server's certificate.
    pub api_server_cert_sans: Vec<San>,
    /// No CA key on any node (kubeadm's external-CA mode).
    pub external_ca: bool,
}

/// `spec.join`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinSettings {
    /// Zero means the token never expires.
    pub token_ttl: Duration,
    /// How long joining nodes retry, and how long the first control plane waits for the
    /// others' etcd members to form quorum.
    pub timeout: Duration,
}

/// What a node of `spec.nodes` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// API server, controller manager, scheduler and a stacked etcd member.
    ControlPlane,
    /// The kubelet only, for workloads.
    Worker,
}

impl Role {
    /// The spelling the spec uses: `control-plane` or `worker`.
    pub fn name(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
        }
    }
}

/// One machine of `spec.nodes`, baked with its own name, address and certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The Kubernetes node name and hostname, a DNS-1123 label.
    pub name: String,
    /// Control plane or worker.
    pub role: Role,
    /// The address the node advertises (API server, etcd, kubelet) and, with static
    /// addressing, the one it is given.
    pub address: IpAddr,
    /// The control plane this one replaces (`replaces`): a machine gone from the spec
    /// whose etcd member and Node object this node's first boot removes once it has joined.
    pub replaces: Option<String>,
    /// The older release this node was first baked for, which it keeps: a running node is
    /// replaced, not upgraded in place (`state::history`). None: the spec's release.
    pub release: Option<Version>,
    /// A control plane of the spec's release baked while the cluster had control planes of
    /// `upgrade_from`: its first boot moves the cluster's configuration to its release, as
    /// `kubeadm upgrade apply` would, and the add-ons once no older control plane is left.
    pub upgrade_from: Option<Version>,
}

/// A pool of identical workers: one user-data for any number of machines, each of which
/// takes its hostname as its node name. Nothing node-specific (name, address, certificate)
/// is baked for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPool {
    /// A DNS-1123 label; the output goes to `OUT/pool-<name>/`.
    pub name: String,
    /// Registered by the kubelet (`--node-labels`); only keys a kubelet may set on itself.
    pub labels: BTreeMap<String, String>,
    /// Registered by the kubelet (`--register-with-taints`), in the spec's order.
    pub taints: Vec<Taint>,
    /// The TTL kubeadm init gives the pool's first join token; zero: never expires.
    pub token_ttl: Duration,
    /// The older release the pool was first baked for, which its machines keep joining
    /// with; None: the spec's.
    pub release: Option<Version>,
}

impl WorkerPool {
    /// The pool's directory in the output (`OUT/pool-<name>/`) and its plan's name.
    pub fn dir(&self) -> String {
        format!("pool-{}", self.name)
    }
}

/// A taint a pool's kubelets register their node with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    /// A label-style key, e.g. `example.com/gpu`.
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
