//! The kubelet's files on a node, as kubeadm writes them: `kubeadm-flags.env` (the flags
//! kubeadm gives every kubelet of the cluster's minor), `instance-config.yaml` (1.34+) and
//! the `KubeletConfiguration` (`kubelet.config.k8s.io/v1beta1`) of `config.yaml` and the
//! `kubelet-config` ConfigMap.

// The structs mirror kubelet.config.k8s.io/v1beta1 field for field.
#![allow(missing_docs)]

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::versions::image;
use crate::model::{Cluster, Node, WorkerPool};
use crate::node::kubeadm_config::{Arg, CRI_SOCKET, Empty, node_kubelet_args, pool_kubelet_args};

/// A pool machine's `/var/lib/kubelet/kubeadm-flags.env`, byte for byte as kubeadm's
/// worker join writes it (`WriteKubeletDynamicEnvFile`): no `--hostname-override`, since the
/// node name is the hostname; the taints as `--register-with-taints`; the labels as the
/// extra arg `--node-labels`.
pub fn pool_kubelet_flags_env(cluster: &Cluster, pool: &WorkerPool) -> Result<String> {
    let mut base = kubelet_base_flags(cluster);
    if !pool.taints.is_empty() {
        let taints: Vec<String> = pool.taints.iter().map(|t| t.to_flag()).collect();
        base.push(("register-with-taints", taints.join(",")));
    }
    kubelet_flags_file(cluster, &base, &pool_kubelet_args(pool))
}

/// The kubelet's `/var/lib/kubelet/kubeadm-flags.env`, as kubeadm writes it for the node's
/// `kubeletExtraArgs` (`--node-ip`), with `--hostname-override` always (kubeadm leaves it
/// out when the hostname is the node name).
pub fn kubelet_flags_env(cluster: &Cluster, node: &Node) -> Result<String> {
    let mut base = kubelet_base_flags(cluster);
    base.push(("hostname-override", node.name.clone()));
    kubelet_flags_file(cluster, &base, &node_kubelet_args(node))
}

/// The flags kubeadm gives every kubelet of the cluster's minor: the CRI socket until
/// `NodeLocalCRISocket` moved it into `instance-config.yaml`, the pause image until 1.35.
fn kubelet_base_flags(cluster: &Cluster) -> Vec<(&'static str, String)> {
    let minor = cluster.kubernetes_version.kubeadm();
    let mut flags = Vec::new();
    if !minor.node_local_cri_socket {
        flags.push(("container-runtime-endpoint", CRI_SOCKET.to_string()));
    }
    if minor.pause_image_flag {
        flags.push(("pod-infra-container-image", image(&cluster.image_repository, "pause", minor.pause)));
    }
    flags
}

/// `KUBELET_KUBEADM_ARGS="…"`: Go's `%q` of the flags, as kubeadm writes it, which is
/// also what systemd's `EnvironmentFile=` reads back (`quote::env_double_quoted`) for
/// printable ASCII. The kubelet's unit splits the variable on whitespace into arguments,
/// so a flag holding whitespace would become two; and anything beyond printable ASCII
/// kubeadm's `%q` would write as an escape systemd does not read. Such a flag is refused.
fn kubelet_flags_file(cluster: &Cluster, base: &[(&str, String)], extra: &[Arg]) -> Result<String> {
    let flags = cluster.kubernetes_version.kubeadm().arguments(
        base.iter().map(|(name, value)| (*name, value.as_str())),
        extra.iter().map(|a| (a.name.as_str(), a.value.as_str())),
    );
    if let Some(flag) = flags.iter().find(|f| !f.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(Error::Usage(format!(
            "the kubelet flag {flag:?} cannot go into kubeadm-flags.env: the kubelet's flags are split on \
             whitespace and hold printable ASCII only"
        )));
    }
    let value = crate::fmt::quote::env_double_quoted(&flags.join(" ")).map_err(Error::Usage)?;
    Ok(format!("KUBELET_KUBEADM_ARGS={value}\n"))
}

/// `/var/lib/kubelet/instance-config.yaml` (1.34+, `NodeLocalCRISocket`): the node's own
/// CRI socket, which kubeadm merges into the kubelet's `config.yaml` and reads back on
/// `kubeadm upgrade node`.
pub fn kubelet_instance_config() -> String {
    format!("containerRuntimeEndpoint: \"{CRI_SOCKET}\"\n")
}

/// Go's zero `metav1.Duration`, which kubeadm's serialisation writes for unset periods.
const ZERO: &str = "0s";

#[derive(Debug, Clone, Serialize)]
pub struct Enabled {
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAuthentication {
    #[serde(rename = "cacheTTL")]
    pub cache_ttl: &'static str,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct X509Authentication {
    #[serde(rename = "clientCAFile")]
    pub client_ca_file: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct KubeletAuthentication {
    pub anonymous: Enabled,
    pub webhook: WebhookAuthentication,
    pub x509: X509Authentication,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAuthorization {
    #[serde(rename = "cacheAuthorizedTTL")]
    pub cache_authorized_ttl: &'static str,
    #[serde(rename = "cacheUnauthorizedTTL")]
    pub cache_unauthorized_ttl: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct KubeletAuthorization {
    pub mode: &'static str,
    pub webhook: WebhookAuthorization,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BufferSize {
    /// A quantity, written as a string by Go.
    pub info_buffer_size: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoggingOptions {
    pub json: BufferSize,
    pub text: BufferSize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Logging {
    pub flush_frequency: u32,
    pub options: LoggingOptions,
    pub verbosity: u32,
}

/// The `KubeletConfiguration` kubeadm writes to `/var/lib/kubelet/config.yaml` and uploads
/// as the `kubelet-config` ConfigMap, including the zero durations and empty structs its
/// Go serialisation leaves in, so the file equals kubeadm's.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletConfiguration {
    pub api_version: &'static str,
    pub authentication: KubeletAuthentication,
    pub authorization: KubeletAuthorization,
    pub cgroup_driver: &'static str,
    #[serde(rename = "clusterDNS")]
    pub cluster_dns: Vec<String>,
    pub cluster_domain: String,
    pub container_runtime_endpoint: &'static str,
    pub cpu_manager_reconcile_period: &'static str,
    pub crash_loop_back_off: Empty,
    pub eviction_pressure_transition_period: &'static str,
    pub file_check_frequency: &'static str,
    pub healthz_bind_address: &'static str,
    pub healthz_port: u16,
    pub http_check_frequency: &'static str,
    #[serde(rename = "imageMaximumGCAge")]
    pub image_maximum_gc_age: &'static str,
    #[serde(rename = "imageMinimumGCAge")]
    pub image_minimum_gc_age: &'static str,
    pub kind: &'static str,
    pub logging: Logging,
    pub memory_swap: Empty,
    pub node_status_report_frequency: &'static str,
    pub node_status_update_frequency: &'static str,
    pub rotate_certificates: bool,
    pub runtime_request_timeout: &'static str,
    pub shutdown_grace_period: &'static str,
    pub shutdown_grace_period_critical_pods: &'static str,
    pub static_pod_path: &'static str,
    pub streaming_connection_idle_timeout: &'static str,
    pub sync_frequency: &'static str,
    pub volume_stats_agg_period: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_plugin_dir: Option<String>,
}

/// The kubelet's `config.yaml` on a node: what kubeadm uploads ([`kubelet_configuration`])
/// with, from 1.34 on, the node's CRI socket merged in from `instance-config.yaml`.
pub fn node_kubelet_configuration(cluster: &Cluster) -> KubeletConfiguration {
    let mut config = kubelet_configuration(cluster);
    if cluster.kubernetes_version.kubeadm().node_local_cri_socket {
        config.container_runtime_endpoint = CRI_SOCKET;
    }
    config
}

/// The `KubeletConfiguration` kubeadm uploads as the `kubelet-config` ConfigMap.
pub fn kubelet_configuration(cluster: &Cluster) -> KubeletConfiguration {
    KubeletConfiguration {
        api_version: "kubelet.config.k8s.io/v1beta1",
        authentication: KubeletAuthentication {
            anonymous: Enabled { enabled: false },
            webhook: WebhookAuthentication { cache_ttl: ZERO, enabled: true },
            x509: X509Authentication { client_ca_file: "/etc/kubernetes/pki/ca.crt" },
        },
        authorization: KubeletAuthorization {
            mode: "Webhook",
            webhook: WebhookAuthorization { cache_authorized_ttl: ZERO, cache_unauthorized_ttl: ZERO },
        },
        cgroup_driver: "systemd",
        cluster_dns: vec![cluster.networking.cluster_dns_ip().to_string()],
        cluster_domain: cluster.networking.dns_domain.clone(),
        // kubeadm leaves it empty: the CRI socket is each node's own (kubeadm-flags.env,
        // or instance-config.yaml from 1.34).
        container_runtime_endpoint: "",
        cpu_manager_reconcile_period: ZERO,
        crash_loop_back_off: Empty {},
        eviction_pressure_transition_period: ZERO,
        file_check_frequency: ZERO,
        healthz_bind_address: "127.0.0.1",
        healthz_port: 10248,
        http_check_frequency: ZERO,
        image_maximum_gc_age: ZERO,
        image_minimum_gc_age: ZERO,
        kind: "KubeletConfiguration",
        logging: Logging {
            flush_frequency: 0,
            options: LoggingOptions {
                json: BufferSize { info_buffer_size: "0" },
                text: BufferSize { info_buffer_size: "0" },
            },
            verbosity: 0,
        },
        memory_swap: Empty {},
        node_status_report_frequency: ZERO,
        node_status_update_frequency: ZERO,
        rotate_certificates: true,
        runtime_request_timeout: ZERO,
        shutdown_grace_period: ZERO,
        shutdown_grace_period_critical_pods: ZERO,
        static_pod_path: "/etc/kubernetes/manifests",
        streaming_connection_idle_timeout: ZERO,
        sync_frequency: ZERO,
        volume_stats_agg_period: ZERO,
        volume_plugin_dir: cluster.extra_args.controller_manager.get("flex-volume-plugin-dir").cloned(),
    }
}
