//! Static pod manifests for a control-plane node: what kubeadm v1.33 writes for the same
//! configuration (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), plus
//! kube-vip when the spec asks for a virtual IP. Built as `v1.Pod` values.

mod control_plane;
mod etcd;
mod kube_vip;

pub use control_plane::{apiserver, controller_manager, scheduler};
pub use etcd::{etcd, etcd_data_dir};
pub use kube_vip::{KubeVipKubeconfig, kube_vip};

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, HTTPGetAction, HostPathVolumeSource, Pod, PodSecurityContext, PodSpec, Probe, ResourceRequirements,
    SeccompProfile, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";

/// kubeadm's `system-node-critical` priority value.
const NODE_CRITICAL_PRIORITY: i32 = 2_000_001_000;

/// A component's flags: kubeadm's defaults with the spec's extraArgs applied (an extra arg
/// replaces a default of the same name or adds a flag), as `--name=value` sorted by name.
pub fn command(binary: &str, defaults: BTreeMap<String, String>, extra: &BTreeMap<String, String>) -> Vec<String> {
    let mut flags = defaults;
    flags.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    std::iter::once(binary.to_string()).chain(flags.into_iter().map(|(k, v)| format!("--{k}={v}"))).collect()
}

/// Builds a flag map from literal pairs.
fn flags<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A probe as kubeadm writes them: HTTP GET with its thresholds.
fn probe(
    host: &str,
    path: &str,
    port: i32,
    scheme: &str,
    failure_threshold: i32,
    initial_delay: Option<i32>,
    period: i32,
) -> Probe {
    Probe {
        failure_threshold: Some(failure_threshold),
        http_get: Some(HTTPGetAction {
            host: Some(host.to_string()),
            path: Some(path.to_string()),
            port: IntOrString::Int(port),
            scheme: Some(scheme.to_string()),
            ..Default::default()
        }),
        initial_delay_seconds: initial_delay,
        period_seconds: Some(period),
        timeout_seconds: Some(15),
        ..Default::default()
    }
}

/// kubeadm's three probes: liveness (8 failures), readiness (3, every second), startup (24).
fn probes(
    host: &str,
    port: i32,
    scheme: &str,
    live: &str,
    ready: Option<&str>,
    start: &str,
) -> (Probe, Option<Probe>, Probe) {
    (
        probe(host, live, port, scheme, 8, Some(10), 10),
        ready.map(|r| probe(host, r, port, scheme, 3, None, 1)),
        probe(host, start, port, scheme, 24, Some(10), 10),
    )
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

/// The manifest file: the pod as kubeadm writes it, down to the `creationTimestamp: null`
/// and `status: {}` its Go serialisation leaves in, so the bytes equal kubeadm's.
pub fn to_yaml(pod: &Pod) -> String {
    let mut value = serde_json::to_value(pod).expect("a Pod serialises");
    if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.insert("creationTimestamp".into(), serde_json::Value::Null);
    }
    if let Some(obj) = value.as_object_mut() {
        obj.insert("status".into(), serde_json::json!({}));
    }
    crate::yaml::value_to_string(&value)
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
