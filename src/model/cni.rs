//! `spec.cni` resolved: the pod network the first control plane installs, and how.

/// `spec.cni`: the pod network the first control plane installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cni {
    /// The operator installs a CNI of their own after the cluster is up.
    None,
    /// Calico, applied by the first control plane once the API server is up.
    Calico(Calico),
}

/// `spec.cni` with `plugin: calico`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calico {
    /// Calico's release, e.g. `v3.30.3`: picks the manifest and the images.
    pub version: String,
    /// How Calico is installed: through the Tigera operator or the manifest.
    pub mode: CalicoMode,
    /// How pod traffic between nodes is carried.
    pub encapsulation: Encapsulation,
    /// None: Calico detects it.
    pub mtu: Option<u32>,
    /// A registry to pull Calico's images from instead of the upstream one.
    pub registry: Option<String>,
    /// Where the first control plane gets Calico's manifest.
    pub source: ManifestSource,
}

/// `spec.cni.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalicoMode {
    /// The Tigera operator, configured by an `Installation` resource.
    Operator,
    /// The all-in-one `calico.yaml`.
    Manifest,
}

impl CalicoMode {
    /// The upstream manifest's file name, also its name under `/etc/kubebake/calico`.
    pub fn manifest_name(self) -> &'static str {
        match self {
            CalicoMode::Operator => "tigera-operator.yaml",
            CalicoMode::Manifest => "calico.yaml",
        }
    }
}

/// `spec.cni.encapsulation`: how pod traffic crosses between nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encapsulation {
    /// VXLAN only between nodes on different subnets; routed directly within one.
    VxlanCrossSubnet,
    /// VXLAN between every pair of nodes.
    Vxlan,
    /// IP-in-IP between every pair of nodes.
    Ipip,
    /// IP-in-IP only between nodes on different subnets.
    IpipCrossSubnet,
    /// No encapsulation: the network must route pod addresses itself.
    None,
}

impl Encapsulation {
    /// Every value, in the order the spec's error message lists them.
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
    Url {
        /// The manifest's parts, downloaded in order and joined.
        urls: Vec<String>,
        /// The expected sha256 of the whole manifest, as 64 lower-case hex digits.
        sha256: Option<String>,
    },
    /// Read at bake time and shipped with the node's files (air-gapped).
    File {
        /// The manifest itself, as read from the spec's `manifest.file`.
        bytes: Vec<u8>,
    },
}
