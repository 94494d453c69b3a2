//! Calico's configuration for the cluster: the operator's `Installation` and `APIServer`
//! resources, or, in manifest mode, the default IP pool created before calico-node starts.
//! The pod CIDR always comes from the spec's podSubnet.

// The structs mirror Calico's operator.tigera.io/v1 and crd.projectcalico.org/v1 resources.
#![allow(missing_docs)]

use serde::Serialize;

use crate::model::{Calico, CalicoMode, Cluster, Encapsulation, ManifestSource};

/// Where the first control plane keeps Calico's manifest, resources and source file.
pub const CALICO_DIR: &str = "/etc/kubebake/calico";

#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    pub name: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorIpPool {
    pub block_size: u8,
    pub cidr: String,
    pub encapsulation: &'static str,
    pub name: String,
    pub nat_outgoing: &'static str,
    pub node_selector: &'static str,
}

/// How calico-node finds its node's address: always the Node's InternalIP, which is the
/// spec's address (the kubelet's `--node-ip`) or, on a pool machine, the one its kubelet
/// chose. Calico's own default takes the first interface's address, which on a machine
/// with a second network (VirtualBox's NAT: 10.0.2.15 on every VM) is the wrong one.
#[derive(Debug, Clone, Serialize)]
pub struct NodeAddressAutodetection {
    pub kubernetes: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CalicoNetwork {
    pub ip_pools: Vec<OperatorIpPool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(rename = "nodeAddressAutodetectionV4", skip_serializing_if = "Option::is_none")]
    pub node_address_autodetection_v4: Option<NodeAddressAutodetection>,
    #[serde(rename = "nodeAddressAutodetectionV6", skip_serializing_if = "Option::is_none")]
    pub node_address_autodetection_v6: Option<NodeAddressAutodetection>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallationSpec {
    pub calico_network: CalicoNetwork,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
}

/// `operator.tigera.io/v1` `Installation`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Installation {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Metadata,
    pub spec: InstallationSpec,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EmptySpec {}

/// `operator.tigera.io/v1` `APIServer`: serves Calico's API through the Kubernetes one.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiServer {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Metadata,
    pub spec: EmptySpec,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IpPoolSpec {
    pub block_size: u8,
    pub cidr: String,
    pub ipip_mode: &'static str,
    pub nat_outgoing: bool,
    pub node_selector: &'static str,
    pub vxlan_mode: &'static str,
}

/// `crd.projectcalico.org/v1` `IPPool`, for manifest mode: with a pool in place before
/// calico-node first starts, calico-node creates no default pool of its own.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IpPool {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Metadata,
    pub spec: IpPoolSpec,
}

fn pool_name(cluster: &Cluster) -> &'static str {
    if cluster.networking.pod_subnet.addr().is_ipv6() { "default-ipv6-ippool" } else { "default-ipv4-ippool" }
}

/// Calico's default block sizes: /26 per node for IPv4, /122 for IPv6.
fn block_size(cluster: &Cluster) -> u8 {
    if cluster.networking.pod_subnet.addr().is_ipv6() { 122 } else { 26 }
}

/// The resources the first control plane applies, as one multi-document YAML file.
pub fn resources(cluster: &Cluster, calico: &Calico) -> String {
    use crate::fmt::yaml::to_string as yaml;
    match calico.mode {
        CalicoMode::Operator => {
            const INTERNAL_IP: NodeAddressAutodetection = NodeAddressAutodetection { kubernetes: "NodeInternalIP" };
            let ipv6 = cluster.networking.pod_subnet.addr().is_ipv6();
            let installation = Installation {
                api_version: "operator.tigera.io/v1",
                kind: "Installation",
                metadata: Metadata { name: "default" },
                spec: InstallationSpec {
                    calico_network: CalicoNetwork {
                        ip_pools: vec![OperatorIpPool {
                            block_size: block_size(cluster),
                            cidr: cluster.networking.pod_subnet.to_string(),
                            encapsulation: calico.encapsulation.name(),
                            name: pool_name(cluster).to_string(),
                            nat_outgoing: "Enabled",
                            node_selector: "all()",
                        }],
                        mtu: calico.mtu,
                        node_address_autodetection_v4: (!ipv6).then_some(INTERNAL_IP),
                        node_address_autodetection_v6: ipv6.then_some(INTERNAL_IP),
                    },
                    registry: calico.registry.clone(),
                },
            };
            let api_server = ApiServer {
                api_version: "operator.tigera.io/v1",
                kind: "APIServer",
                metadata: Metadata { name: "default" },
                spec: EmptySpec {},
            };
            format!("{}---\n{}", yaml(&installation), yaml(&api_server))
        }
        CalicoMode::Manifest => {
            let (ipip_mode, vxlan_mode) = match calico.encapsulation {
                Encapsulation::VxlanCrossSubnet => ("Never", "CrossSubnet"),
                Encapsulation::Vxlan => ("Never", "Always"),
                Encapsulation::Ipip => ("Always", "Never"),
                Encapsulation::IpipCrossSubnet => ("CrossSubnet", "Never"),
                Encapsulation::None => ("Never", "Never"),
            };
            yaml(&IpPool {
                api_version: "crd.projectcalico.org/v1",
                kind: "IPPool",
                metadata: Metadata { name: pool_name(cluster) },
                spec: IpPoolSpec {
                    block_size: block_size(cluster),
                    cidr: cluster.networking.pod_subnet.to_string(),
                    ipip_mode,
                    nat_outgoing: true,
                    node_selector: "all()",
                    vxlan_mode,
                },
            })
        }
    }
}

/// File name of the resources file under [`CALICO_DIR`].
pub fn resources_file(calico: &Calico) -> &'static str {
    match calico.mode {
        CalicoMode::Operator => "custom-resources.yaml",
        CalicoMode::Manifest => "ippool.yaml",
    }
}

/// The file under [`CALICO_DIR`] that says where Calico's manifest comes from.
pub const SOURCE_FILE: &str = "source.txt";

/// Where [`source_data`] lands on the first control plane.
pub fn source_data_path() -> String {
    format!("{CALICO_DIR}/{SOURCE_FILE}")
}

/// Where Calico's manifest comes from and how to apply it, as data first boot reads line
/// by line (`IFS= read -r`) and never runs: `key value` lines (`mode`, `version`, a `url`
/// each, `sha256`, or `file`; `resources`), the value being the rest of the line, byte
/// for byte. A line cannot hold a line break, and bash no NUL: a value with either (a
/// manifest URL) is refused.
pub fn source_data(calico: &Calico) -> Result<String, crate::fmt::quote::Refused> {
    let mode = match calico.mode {
        CalicoMode::Operator => "operator",
        CalicoMode::Manifest => "manifest",
    };
    let mut lines = vec![("mode", mode.to_string()), ("version", calico.version.clone())];
    match &calico.source {
        ManifestSource::Url { urls, sha256 } => {
            lines.extend(urls.iter().map(|u| ("url", u.clone())));
            lines.extend(sha256.iter().map(|h| ("sha256", h.clone())));
        }
        ManifestSource::File { .. } => {
            lines.push(("file", format!("{CALICO_DIR}/{}", calico.mode.manifest_name())));
        }
    }
    lines.push(("resources", format!("{CALICO_DIR}/{}", resources_file(calico))));
    let mut out = String::new();
    for (key, value) in lines {
        if let Some(c) = value.chars().find(|c| matches!(c, '\n' | '\0')) {
            return Err(format!("{value:?}: a line of {SOURCE_FILE} cannot hold {c:?}"));
        }
        out.push_str(&format!("{key} {value}\n"));
    }
    Ok(out)
}
