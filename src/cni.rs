//! Calico's configuration for the cluster: the operator's `Installation` and `APIServer`
//! resources, or, in manifest mode, the default IP pool created before calico-node starts.
//! The pod CIDR always comes from the spec's podSubnet.

use serde::Serialize;

use crate::model::{Calico, CalicoMode, Cluster, Encapsulation, ManifestSource};

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

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CalicoNetwork {
    pub ip_pools: Vec<OperatorIpPool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
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
    use crate::yaml::to_string as yaml;
    match calico.mode {
        CalicoMode::Operator => {
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

/// `KEY=value` lines the first-boot step reads: where the manifest comes from and how to
/// apply it. Values are shell-safe (URLs, hex, paths, registry names).
pub fn source_env(calico: &Calico) -> String {
    let mode = match calico.mode {
        CalicoMode::Operator => "operator",
        CalicoMode::Manifest => "manifest",
    };
    let mut out = format!("CALICO_MODE={mode}\nCALICO_VERSION={}\n", calico.version);
    match &calico.source {
        ManifestSource::Url { urls, sha256 } => {
            out.push_str(&format!("CALICO_MANIFEST_URLS='{}'\n", urls.join(" ")));
            if let Some(h) = sha256 {
                out.push_str(&format!("CALICO_MANIFEST_SHA256={h}\n"));
            }
        }
        ManifestSource::File { .. } => {
            out.push_str(&format!("CALICO_MANIFEST_FILE={CALICO_DIR}/{}\n", calico.mode.manifest_name()));
        }
    }
    out.push_str(&format!("CALICO_RESOURCES_FILE={CALICO_DIR}/{}\n", resources_file(calico)));
    out
}
