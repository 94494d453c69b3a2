//! kubeadm's configuration files (API `kubeadm.k8s.io/v1beta4`), rendered from the same
//! model as the manifests so the node and the kubeadm-config ConfigMap kubeadm uploads agree
//! on every value. The kubelet's own files are in [`crate::node::kubelet_config`].

// The structs mirror kubeadm's v1beta4 API field for field.
#![allow(missing_docs)]

use std::collections::BTreeMap;

use serde::Serialize;

use crate::fmt::duration::format_go_duration;
use crate::model::{API_SERVER_BIND_PORT, Cluster, Node, Role, WorkerPool};
use crate::node::manifests::{etcd_data_dir, etcd_extra_args};
use crate::state::bootstrap_token::BootstrapToken;

/// The kubeadm configuration API that kubeadm of every supported minor reads.
pub const API_VERSION: &str = "kubeadm.k8s.io/v1beta4";
/// containerd's socket, which kubeadm and the kubelet talk to on every node.
pub const CRI_SOCKET: &str = "unix:///var/run/containerd/containerd.sock";
/// kubeadm's configuration on every node; kubebake's own node files live under /etc/kubebake.
pub const KUBEADM_CONFIG: &str = "/etc/kubebake/kubeadm-config.yaml";
/// On a control plane that moves the cluster to a newer release: the cluster's ConfigMaps
/// at that release, as `kubeadm upgrade apply` uploads them, one directory per ConfigMap
/// and one file per key (`kubeadm-config/ClusterConfiguration`, `kubelet-config/kubelet`).
pub const UPGRADE_DIR: &str = "/etc/kubebake/upgrade";

#[derive(Debug, Clone, Serialize)]
pub struct Arg {
    pub name: String,
    pub value: String,
}

fn args(map: &BTreeMap<String, String>) -> Vec<Arg> {
    map.iter().map(|(name, value)| Arg { name: name.clone(), value: value.clone() }).collect()
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<Arg>,
    #[serde(rename = "certSANs", skip_serializing_if = "Vec::is_empty")]
    pub cert_sans: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalEtcd {
    pub data_dir: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<Arg>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Etcd {
    pub local: LocalEtcd,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkingConfig {
    pub dns_domain: String,
    pub pod_subnet: String,
    pub service_subnet: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Empty {}

/// `ClusterConfiguration`: what kubeadm stores in the `kubeadm-config` ConfigMap.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfiguration {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub api_server: ComponentConfig,
    pub ca_certificate_validity_period: String,
    pub certificate_validity_period: String,
    pub certificates_dir: String,
    pub cluster_name: String,
    pub control_plane_endpoint: String,
    pub controller_manager: ComponentConfig,
    pub dns: Empty,
    pub encryption_algorithm: String,
    pub etcd: Etcd,
    pub image_repository: String,
    pub kubernetes_version: String,
    pub networking: NetworkingConfig,
    pub proxy: Empty,
    pub scheduler: ComponentConfig,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapTokenConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub groups: Vec<String>,
    pub token: String,
    pub ttl: String,
    pub usages: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiEndpoint {
    pub advertise_address: String,
    pub bind_port: u16,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRegistration {
    pub cri_socket: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore_preflight_errors: Vec<String>,
    pub image_pull_policy: &'static str,
    /// A listed node's `node-ip`, a pool's labels (`node-labels`); kubeadm writes them
    /// into kubeadm-flags.env.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kubelet_extra_args: Vec<Arg>,
    /// None for a pool's machines: kubeadm and the kubelet take the hostname.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A pool's taints, registered by the kubelet (`--register-with-taints`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<TaintConfig>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaintConfig {
    pub effect: String,
    pub key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitConfiguration {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub bootstrap_tokens: Vec<BootstrapTokenConfig>,
    #[serde(rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
    pub node_registration: NodeRegistration,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skip_phases: Vec<String>,
    pub timeouts: Timeouts,
}

/// v1beta4 timeouts, as Go durations.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeouts {
    /// How long init waits for the control plane: with several control planes, until
    /// enough etcd members are up for quorum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_plane_component_health_check: Option<String>,
    /// How long a joining node retries discovery against the endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapTokenDiscovery {
    pub api_server_endpoint: String,
    pub ca_cert_hashes: Vec<String>,
    pub token: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_token: Option<BootstrapTokenDiscovery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileDiscovery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_bootstrap_token: Option<String>,
}

/// Discovery from a kubeconfig on the node: an external-CA worker's own kubelet.conf,
/// whose client certificate makes a TLS bootstrap unnecessary.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDiscovery {
    pub kube_config_path: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct JoinControlPlane {
    #[serde(rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinConfiguration {
    pub api_version: &'static str,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<JoinControlPlane>,
    pub discovery: Discovery,
    pub node_registration: NodeRegistration,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skip_phases: Vec<String>,
    pub timeouts: Timeouts,
}

/// `ClusterConfiguration` from the spec: the endpoint, subnets, certificate lifetimes and
/// each control-plane component's extra args, identical on every control plane.
pub fn cluster_configuration(cluster: &Cluster) -> ClusterConfiguration {
    let sans: Vec<String> = cluster
        .pki
        .api_server_cert_sans
        .iter()
        .map(|s| match s {
            crate::model::San::Dns(d) => d.clone(),
            crate::model::San::Ip(ip) => ip.to_string(),
        })
        .collect();
    let period = |d: std::time::Duration| format_go_duration(d);
    let etcd_args = etcd_extra_args(cluster);
    ClusterConfiguration {
        api_version: API_VERSION,
        kind: "ClusterConfiguration",
        api_server: ComponentConfig { extra_args: args(&cluster.extra_args.api_server), cert_sans: sans },
        ca_certificate_validity_period: period(cluster.pki.ca_validity),
        certificate_validity_period: period(cluster.pki.cert_validity),
        certificates_dir: "/etc/kubernetes/pki".into(),
        cluster_name: cluster.cluster_name.clone(),
        control_plane_endpoint: cluster.endpoint.host_port(),
        controller_manager: ComponentConfig {
            extra_args: args(&cluster.extra_args.controller_manager),
            ..Default::default()
        },
        dns: Empty {},
        encryption_algorithm: cluster.pki.algorithm.name().into(),
        etcd: Etcd { local: LocalEtcd { data_dir: etcd_data_dir(cluster), extra_args: args(&etcd_args) } },
        image_repository: cluster.image_repository.clone(),
        kubernetes_version: cluster.kubernetes_version.to_string(),
        networking: NetworkingConfig {
            dns_domain: cluster.networking.dns_domain.clone(),
            pod_subnet: cluster.networking.pod_subnet.to_string(),
            service_subnet: cluster.networking.service_subnet.to_string(),
        },
        proxy: Empty {},
        scheduler: ComponentConfig { extra_args: args(&cluster.extra_args.scheduler), ..Default::default() },
    }
}

fn node_registration(node: &Node, ignore_preflight_errors: Vec<String>) -> NodeRegistration {
    NodeRegistration {
        cri_socket: CRI_SOCKET,
        ignore_preflight_errors,
        image_pull_policy: "IfNotPresent",
        kubelet_extra_args: node_kubelet_args(node),
        name: Some(node.name.clone()),
        taints: Vec::new(),
    }
}

/// The group kubeadm's join tokens authenticate as: its RBAC lets it join and only that
/// (cluster-info, CSRs auto-approved for node client certificates).
const DEFAULT_NODE_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

fn join_token_config(
    token: &BootstrapToken,
    ttl: std::time::Duration,
    description: Option<String>,
) -> BootstrapTokenConfig {
    BootstrapTokenConfig {
        description,
        groups: vec![DEFAULT_NODE_TOKEN_GROUP.into()],
        token: token.expose(),
        ttl: format_go_duration(ttl),
        usages: vec!["signing".into(), "authentication".into()],
    }
}

/// `InitConfiguration` for the first control plane, carrying the cluster's first bootstrap
/// token and each worker pool's first token, all with kubeadm's default group and usages
/// (they can join and do nothing else); kubeadm init creates every one of them.
pub fn init_configuration(
    cluster: &Cluster,
    node: &Node,
    token: &BootstrapToken,
    pool_tokens: &[(&WorkerPool, &BootstrapToken)],
    skip_phases: Vec<String>,
    ignore_preflight_errors: Vec<String>,
) -> InitConfiguration {
    let mut bootstrap_tokens = vec![join_token_config(token, cluster.join.token_ttl, None)];
    bootstrap_tokens.extend(pool_tokens.iter().map(|(pool, token)| {
        join_token_config(token, pool.token_ttl, Some(format!("kubebake worker pool {}", pool.name)))
    }));
    InitConfiguration {
        api_version: API_VERSION,
        kind: "InitConfiguration",
        bootstrap_tokens,
        local_api_endpoint: ApiEndpoint {
            advertise_address: node.address.to_string(),
            bind_port: API_SERVER_BIND_PORT,
        },
        node_registration: node_registration(node, ignore_preflight_errors),
        skip_phases,
        timeouts: Timeouts {
            control_plane_component_health_check: Some(format_go_duration(cluster.join.timeout)),
            ..Default::default()
        },
    }
}

/// `JoinConfiguration` for every other node: token discovery pinned to the CA.
pub fn join_configuration(
    cluster: &Cluster,
    node: &Node,
    token: &BootstrapToken,
    ca_cert_hash: &str,
    skip_phases: Vec<String>,
    ignore_preflight_errors: Vec<String>,
) -> JoinConfiguration {
    JoinConfiguration {
        api_version: API_VERSION,
        kind: "JoinConfiguration",
        control_plane: (node.role == Role::ControlPlane).then(|| JoinControlPlane {
            local_api_endpoint: ApiEndpoint {
                advertise_address: node.address.to_string(),
                bind_port: API_SERVER_BIND_PORT,
            },
        }),
        discovery: if cluster.pki.external_ca && node.role == Role::Worker {
            Discovery {
                bootstrap_token: None,
                file: Some(FileDiscovery { kube_config_path: "/etc/kubernetes/kubelet.conf".into() }),
                tls_bootstrap_token: None,
            }
        } else {
            Discovery {
                bootstrap_token: Some(BootstrapTokenDiscovery {
                    api_server_endpoint: cluster.endpoint.host_port(),
                    ca_cert_hashes: vec![ca_cert_hash.to_string()],
                    token: token.expose(),
                }),
                file: None,
                tls_bootstrap_token: Some(token.expose()),
            }
        },
        node_registration: node_registration(node, ignore_preflight_errors),
        skip_phases,
        timeouts: Timeouts {
            control_plane_component_health_check: (node.role == Role::ControlPlane)
                .then(|| format_go_duration(cluster.join.timeout)),
            discovery: Some(format_go_duration(cluster.join.timeout)),
        },
    }
}

/// `JoinConfiguration` for a worker pool's machines: token discovery pinned to the CA, and
/// no node name, so kubeadm and the kubelet take the machine's hostname. The pool's labels
/// and taints go where kubeadm's own worker join reads them.
pub fn pool_join_configuration(
    cluster: &Cluster,
    pool: &WorkerPool,
    token: &BootstrapToken,
    ca_cert_hash: &str,
    skip_phases: Vec<String>,
    ignore_preflight_errors: Vec<String>,
) -> JoinConfiguration {
    JoinConfiguration {
        api_version: API_VERSION,
        kind: "JoinConfiguration",
        control_plane: None,
        discovery: Discovery {
            bootstrap_token: Some(BootstrapTokenDiscovery {
                api_server_endpoint: cluster.endpoint.host_port(),
                ca_cert_hashes: vec![ca_cert_hash.to_string()],
                token: token.expose(),
            }),
            file: None,
            tls_bootstrap_token: Some(token.expose()),
        },
        node_registration: NodeRegistration {
            cri_socket: CRI_SOCKET,
            ignore_preflight_errors,
            image_pull_policy: "IfNotPresent",
            kubelet_extra_args: pool_kubelet_args(pool),
            name: None,
            taints: pool
                .taints
                .iter()
                .map(|t| TaintConfig { effect: t.effect.clone(), key: t.key.clone(), value: t.value.clone() })
                .collect(),
        },
        skip_phases,
        timeouts: Timeouts {
            control_plane_component_health_check: None,
            discovery: Some(format_go_duration(cluster.join.timeout)),
        },
    }
}

/// `node-ip` for a listed node's kubelet: the spec's address becomes the Node's InternalIP
/// (what the API server dials for logs and exec, and what Calico takes as the node's
/// address). Without it the kubelet takes the address of the default route's interface,
/// which on a machine with a second network (VirtualBox's NAT, a management NIC) is not
/// the spec's, and can be the same on every machine.
pub fn node_kubelet_args(node: &Node) -> Vec<Arg> {
    vec![Arg { name: "node-ip".into(), value: node.address.to_string() }]
}

/// `node-labels` for a pool's kubelet, sorted by key as the kubelet's flag parser does not
/// care and a re-bake must not reorder.
pub fn pool_kubelet_args(pool: &WorkerPool) -> Vec<Arg> {
    if pool.labels.is_empty() {
        return Vec::new();
    }
    let labels: Vec<String> = pool.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    vec![Arg { name: "node-labels".into(), value: labels.join(",") }]
}
