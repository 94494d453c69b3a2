//! The local (stacked) etcd member of a control plane.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::{HostMount, ProbeTarget, StaticPod, command, flags, localhost, requests, url_host};
use crate::model::versions::image;
use crate::model::{Cluster, Node};

const ETCD_PKI: &str = "/etc/kubernetes/pki/etcd";
pub const DATA_DIR: &str = "/var/lib/etcd";

/// The etcd manifest of the first control plane, as `kubeadm init` writes it: a cluster of
/// this one member. The other control planes get no etcd manifest from kubebake: their
/// `kubeadm join` adds each member through the running cluster (as a learner, then
/// promoted) and writes its manifest, so members join in whatever order nodes boot, and a
/// control plane can be added later from the same state (docs/kubeadm-invocation.md).
pub fn etcd(cluster: &Cluster, node: &Node) -> Pod {
    let addr = url_host(node.address);
    let local = url_host(localhost(node.address.is_ipv6()).parse().expect("literal"));
    let mut defaults = flags([
        ("advertise-client-urls", format!("https://{addr}:2379")),
        ("cert-file", format!("{ETCD_PKI}/server.crt")),
        ("client-cert-auth", "true".into()),
        ("data-dir", etcd_data_dir(cluster)),
        ("initial-advertise-peer-urls", format!("https://{addr}:2380")),
        ("initial-cluster", format!("{}=https://{addr}:2380", node.name)),
        ("key-file", format!("{ETCD_PKI}/server.key")),
        ("listen-client-urls", format!("https://{local}:2379,https://{addr}:2379")),
        ("listen-metrics-urls", format!("http://{local}:2381")),
        ("listen-peer-urls", format!("https://{addr}:2380")),
        ("name", node.name.clone()),
        ("peer-cert-file", format!("{ETCD_PKI}/peer.crt")),
        ("peer-client-cert-auth", "true".into()),
        ("peer-key-file", format!("{ETCD_PKI}/peer.key")),
        ("peer-trusted-ca-file", format!("{ETCD_PKI}/ca.crt")),
        ("snapshot-count", "10000".into()),
        ("trusted-ca-file", format!("{ETCD_PKI}/ca.crt")),
    ]);
    // The same two settings under etcd 3.5's and 3.6's names.
    if cluster.kubernetes_version.kubeadm().etcd_3_6_flags {
        defaults.insert("feature-gates".into(), "InitialCorruptCheck=true".into());
        defaults.insert("watch-progress-notify-interval".into(), "5s".into());
    } else {
        defaults.insert("experimental-initial-corrupt-check".into(), "true".into());
        defaults.insert("experimental-watch-progress-notify-interval".into(), "5s".into());
    }
    let probes = ProbeTarget {
        host: localhost(node.address.is_ipv6()),
        port: 2381,
        scheme: "HTTP",
        live: "/livez",
        ready: Some("/readyz"),
        start: "/readyz",
    }
    .probes(cluster);
    let data_dir = etcd_data_dir(cluster);
    StaticPod {
        name: "etcd",
        annotations: BTreeMap::from([(
            "kubeadm.kubernetes.io/etcd.advertise-client-urls".to_string(),
            format!("https://{addr}:2379"),
        )]),
        container: probes.on(Container {
            command: Some(command(cluster, "etcd", defaults, &etcd_extra_args(cluster))),
            image: Some(image(&cluster.image_repository, "etcd", cluster.kubernetes_version.kubeadm().etcd())),
            resources: Some(requests("100m", Some("100Mi"))),
            ..Default::default()
        }),
        mounts: vec![
            HostMount::new("etcd-data", data_dir, "DirectoryOrCreate", false),
            HostMount::new("etcd-certs", ETCD_PKI, "DirectoryOrCreate", false),
        ],
    }
    .build()
}

/// The spec's etcd extraArgs but `data-dir`, which kubeadm's configuration holds as
/// `etcd.local.dataDir` (a default flag of its own) rather than as an extra arg.
pub fn etcd_extra_args(cluster: &Cluster) -> BTreeMap<String, String> {
    let mut args = cluster.extra_args.etcd.clone();
    args.remove("data-dir");
    args
}

/// etcd's data directory: kubeadm's default unless the spec's etcd extraArgs move it.
pub fn etcd_data_dir(cluster: &Cluster) -> String {
    cluster.extra_args.etcd.get("data-dir").cloned().unwrap_or_else(|| DATA_DIR.into())
}
