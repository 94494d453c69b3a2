//! Static pod manifests for a control-plane node: what kubeadm of the cluster's minor
//! writes for the same configuration (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), plus
//! kube-vip when the spec asks for a virtual IP. Built as `v1.Pod` values.

mod control_plane;
mod etcd;
mod kube_vip;

pub use control_plane::{apiserver, controller_manager, scheduler};
pub use etcd::{etcd, etcd_data_dir, etcd_extra_args};
pub use kube_vip::{KubeVipKubeconfig, kube_vip};

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, HTTPGetAction, HostPathVolumeSource, Pod, PodSecurityContext, PodSpec, Probe,
    ResourceRequirements, SeccompProfile, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::model::Cluster;

/// Where the kubelet reads static pod manifests (`staticPodPath`).
pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";

/// kubeadm's `system-node-critical` priority value.
const NODE_CRITICAL_PRIORITY: i32 = 2_000_001_000;

/// A component's command line: kubeadm's defaults with the spec's extraArgs applied (an
/// extra arg replaces a default of the same name or adds a flag), ordered as kubeadm of the
/// cluster's minor orders them.
pub fn command(
    cluster: &Cluster,
    binary: &str,
    defaults: BTreeMap<String, String>,
    extra: &BTreeMap<String, String>,
) -> Vec<String> {
    let flags = cluster.kubernetes_version.kubeadm().arguments(
        defaults.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        extra.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    std::iter::once(binary.to_string()).chain(flags).collect()
}

/// Builds a flag map from literal pairs.
fn flags<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// kubeadm 1.34+ names the port its probes use, on the container (`probe-port`).
const PROBE_PORT_NAME: &str = "probe-port";
/// kubeadm's startup probe period: its failure threshold covers the health-check timeout.
const STARTUP_PERIOD_SECONDS: u64 = 10;

/// Where a component's probes knock: host, port, scheme and the probe paths, and how the
/// kubeadm of the cluster's minor writes them.
struct ProbeTarget<'a> {
    host: &'a str,
    port: u16,
    scheme: &'a str,
    live: &'a str,
    ready: Option<&'a str>,
    start: &'a str,
}

impl ProbeTarget<'_> {
    /// The probe's port: by number, or by the container port's name (1.34+).
    fn port(&self, cluster: &Cluster) -> IntOrString {
        if cluster.kubernetes_version.kubeadm().named_probe_port {
            IntOrString::String(PROBE_PORT_NAME.to_string())
        } else {
            IntOrString::Int(i32::from(self.port))
        }
    }

    /// The container's `ports`: only the named probe port, where the minor names it.
    fn container_ports(&self, cluster: &Cluster) -> Option<Vec<ContainerPort>> {
        cluster.kubernetes_version.kubeadm().named_probe_port.then(|| {
            vec![ContainerPort {
                container_port: i32::from(self.port),
                name: Some(PROBE_PORT_NAME.to_string()),
                protocol: Some("TCP".to_string()),
                ..Default::default()
            }]
        })
    }

    fn probe(
        &self,
        cluster: &Cluster,
        path: &str,
        failure_threshold: i32,
        initial_delay: Option<i32>,
        period: i32,
    ) -> Probe {
        Probe {
            failure_threshold: Some(failure_threshold),
            http_get: Some(HTTPGetAction {
                host: Some(self.host.to_string()),
                path: Some(path.to_string()),
                port: self.port(cluster),
                scheme: Some(self.scheme.to_string()),
                ..Default::default()
            }),
            initial_delay_seconds: initial_delay,
            period_seconds: Some(period),
            timeout_seconds: Some(15),
            ..Default::default()
        }
    }

    /// kubeadm's three probes: liveness (8 failures), readiness (3, every second), and
    /// startup, whose failures span `timeouts.controlPlaneComponentHealthCheck` (kubebake's
    /// `spec.join.timeout`) at one every 10 s, rounded up.
    fn probes(&self, cluster: &Cluster) -> Probes {
        let timeout = cluster.join.timeout.as_secs();
        let startup_failures = i32::try_from(timeout.div_ceil(STARTUP_PERIOD_SECONDS)).unwrap_or(i32::MAX);
        let period = STARTUP_PERIOD_SECONDS as i32;
        Probes {
            liveness: self.probe(cluster, self.live, 8, Some(10), 10),
            readiness: self.ready.map(|r| self.probe(cluster, r, 3, None, 1)),
            startup: self.probe(cluster, self.start, startup_failures, Some(period), period),
            ports: self.container_ports(cluster),
        }
    }
}

/// What [`ProbeTarget::probes`] gives a container.
struct Probes {
    liveness: Probe,
    readiness: Option<Probe>,
    startup: Probe,
    ports: Option<Vec<ContainerPort>>,
}

impl Probes {
    /// `container` with these probes and ports.
    fn on(self, container: Container) -> Container {
        Container {
            liveness_probe: Some(self.liveness),
            readiness_probe: self.readiness,
            startup_probe: Some(self.startup),
            ports: self.ports,
            ..container
        }
    }
}

/// A hostPath volume and its mount, by kubeadm's volume name.
struct HostMount {
    name: &'static str,
    path: String,
    kind: &'static str,
    read_only: bool,
}

impl HostMount {
    fn new(name: &'static str, path: impl Into<String>, kind: &'static str, read_only: bool) -> Self {
        HostMount { name, path: path.into(), kind, read_only }
    }
}

fn requests(cpu: &str, memory: Option<&str>) -> ResourceRequirements {
    let mut r = BTreeMap::from([("cpu".to_string(), Quantity(cpu.to_string()))]);
    if let Some(m) = memory {
        r.insert("memory".to_string(), Quantity(m.to_string()));
    }
    ResourceRequirements { requests: Some(r), ..Default::default() }
}

/// The pod around one control-plane container, as kubeadm's `ComponentPod` builds it:
/// host network, node-critical priority, RuntimeDefault seccomp, volumes sorted by name.
struct StaticPod {
    name: &'static str,
    annotations: BTreeMap<String, String>,
    container: Container,
    mounts: Vec<HostMount>,
}

impl StaticPod {
    fn build(self) -> Pod {
        // Mounts in the component's order, volumes sorted by name, as kubeadm lists them.
        let mut mounts = self.mounts;
        let volume_mounts = mounts
            .iter()
            .map(|m| VolumeMount {
                mount_path: m.path.clone(),
                name: m.name.to_string(),
                read_only: m.read_only.then_some(true),
                ..Default::default()
            })
            .collect();
        mounts.sort_by_key(|m| m.name);
        let volumes = mounts
            .iter()
            .map(|m| Volume {
                name: m.name.to_string(),
                host_path: Some(HostPathVolumeSource { path: m.path.clone(), type_: Some(m.kind.to_string()) }),
                ..Default::default()
            })
            .collect();
        Pod {
            metadata: ObjectMeta {
                name: Some(self.name.to_string()),
                namespace: Some("kube-system".to_string()),
                labels: Some(BTreeMap::from([
                    ("component".to_string(), self.name.to_string()),
                    ("tier".to_string(), "control-plane".to_string()),
                ])),
                annotations: (!self.annotations.is_empty()).then_some(self.annotations),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: self.name.to_string(),
                    image_pull_policy: Some("IfNotPresent".to_string()),
                    volume_mounts: Some(volume_mounts),
                    ..self.container
                }],
                host_network: Some(true),
                priority: Some(NODE_CRITICAL_PRIORITY),
                priority_class_name: Some("system-node-critical".to_string()),
                security_context: Some(PodSecurityContext {
                    seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".to_string(), ..Default::default() }),
                    ..Default::default()
                }),
                volumes: Some(volumes),
                ..Default::default()
            }),
            status: None,
        }
    }
}

/// A static pod's manifest as kubeadm of the cluster's minor writes it (see [`to_yaml`]).
pub fn kubeadm_yaml(cluster: &Cluster, pod: &Pod) -> String {
    to_yaml(pod, cluster.kubernetes_version.kubeadm().manifest_creation_timestamp)
}

/// The manifest file: the pod as Go's serialisation writes it, down to the `status: {}`
/// and, where that Go leaves it in, the `creationTimestamp: null`, so the bytes equal those
/// of the tool whose manifest it is (kubeadm, kube-vip).
pub fn to_yaml(pod: &Pod, creation_timestamp_null: bool) -> String {
    let mut value = serde_json::to_value(pod).expect("a Pod serialises");
    if creation_timestamp_null && let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.insert("creationTimestamp".into(), serde_json::Value::Null);
    }
    if let Some(obj) = value.as_object_mut() {
        obj.insert("status".into(), serde_json::json!({}));
    }
    crate::fmt::yaml::value_to_string(&value)
}

/// `127.0.0.1`, or `::1` on an IPv6 cluster, for listeners and probes on the node itself.
fn localhost(ipv6: bool) -> &'static str {
    if ipv6 { "::1" } else { "127.0.0.1" }
}

/// An address for a URL: IPv6 in brackets.
fn url_host(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    }
}
