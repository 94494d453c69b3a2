//! kube-apiserver, kube-controller-manager and kube-scheduler.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::{HostMount, ProbeTarget, StaticPod, command, flags, localhost, requests};
use crate::model::versions::image;
use crate::model::{API_SERVER_BIND_PORT, Cluster, Node};

const PKI: &str = "/etc/kubernetes/pki";
/// kubeadm's default for the controller manager's flexvolume directory.
const FLEXVOLUME_DIR: &str = "/usr/libexec/kubernetes/kubelet-plugins/volume/exec";

/// kubeadm mounts the host's CA bundle, and the distribution's CA directories among
/// `/etc/ca-certificates`, `/etc/pki`, `/usr/share/ca-certificates` and
/// `/usr/local/share/ca-certificates` that exist on the node, into the API server and
/// controller manager. `host_ca_dirs` lists those (they depend on the node's OS).
fn ca_mounts(host_ca_dirs: &[&str]) -> Vec<HostMount> {
    let mut m = vec![HostMount::new("ca-certs", "/etc/ssl/certs", "DirectoryOrCreate", true)];
    for dir in host_ca_dirs {
        let name = match *dir {
            "/etc/ca-certificates" => "etc-ca-certificates",
            "/etc/pki" => "etc-pki",
            "/usr/share/ca-certificates" => "usr-share-ca-certificates",
            "/usr/local/share/ca-certificates" => "usr-local-share-ca-certificates",
            other => unreachable!("{other} is not one of kubeadm's CA directories"),
        };
        m.push(HostMount::new(name, *dir, "DirectoryOrCreate", true));
    }
    m
}

/// kube-apiserver's static pod: kubeadm's manifest for the node, with the spec's extraArgs.
pub fn apiserver(cluster: &Cluster, node: &Node, host_ca_dirs: &[&str]) -> Pod {
    let addr = node.address;
    let local = localhost(addr.is_ipv6());
    let defaults = flags([
        ("advertise-address", addr.to_string()),
        ("allow-privileged", "true".into()),
        ("authorization-mode", "Node,RBAC".into()),
        ("client-ca-file", format!("{PKI}/ca.crt")),
        ("enable-admission-plugins", "NodeRestriction".into()),
        ("enable-bootstrap-token-auth", "true".into()),
        ("etcd-cafile", format!("{PKI}/etcd/ca.crt")),
        ("etcd-certfile", format!("{PKI}/apiserver-etcd-client.crt")),
        ("etcd-keyfile", format!("{PKI}/apiserver-etcd-client.key")),
        ("etcd-servers", format!("https://{}:2379", super::url_host(local.parse().expect("literal")))),
        ("kubelet-client-certificate", format!("{PKI}/apiserver-kubelet-client.crt")),
        ("kubelet-client-key", format!("{PKI}/apiserver-kubelet-client.key")),
        ("kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname".into()),
        ("proxy-client-cert-file", format!("{PKI}/front-proxy-client.crt")),
        ("proxy-client-key-file", format!("{PKI}/front-proxy-client.key")),
        ("requestheader-allowed-names", "front-proxy-client".into()),
        ("requestheader-client-ca-file", format!("{PKI}/front-proxy-ca.crt")),
        ("requestheader-extra-headers-prefix", "X-Remote-Extra-".into()),
        ("requestheader-group-headers", "X-Remote-Group".into()),
        ("requestheader-username-headers", "X-Remote-User".into()),
        ("secure-port", API_SERVER_BIND_PORT.to_string()),
        ("service-account-issuer", format!("https://kubernetes.default.svc.{}", cluster.networking.dns_domain)),
        ("service-account-key-file", format!("{PKI}/sa.pub")),
        ("service-account-signing-key-file", format!("{PKI}/sa.key")),
        ("service-cluster-ip-range", cluster.networking.service_subnet.to_string()),
        ("tls-cert-file", format!("{PKI}/apiserver.crt")),
        ("tls-private-key-file", format!("{PKI}/apiserver.key")),
    ]);
    // The probes use the address the API server advertises (or a bind address given).
    let probe_host = cluster.extra_args.api_server.get("bind-address").cloned().unwrap_or_else(|| addr.to_string());
    let probes = ProbeTarget {
        host: &probe_host,
        port: API_SERVER_BIND_PORT,
        scheme: "HTTPS",
        live: "/livez",
        ready: Some("/readyz"),
        start: "/livez",
    }
    .probes(cluster);
    let mut mounts = ca_mounts(host_ca_dirs);
    mounts.push(HostMount::new("k8s-certs", PKI, "DirectoryOrCreate", true));
    StaticPod {
        name: "kube-apiserver",
        annotations: BTreeMap::from([(
            "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint".to_string(),
            format!("{}:{API_SERVER_BIND_PORT}", super::url_host(addr)),
        )]),
        container: probes.on(Container {
            command: Some(command(cluster, "kube-apiserver", defaults, &cluster.extra_args.api_server)),
            image: Some(image(&cluster.image_repository, "kube-apiserver", &cluster.kubernetes_version.to_string())),
            resources: Some(requests("250m", None)),
            ..Default::default()
        }),
        mounts,
    }
    .build()
}

/// kube-controller-manager's static pod, with the spec's extraArgs.
pub fn controller_manager(cluster: &Cluster, node: &Node, host_ca_dirs: &[&str]) -> Pod {
    let kubeconfig = "/etc/kubernetes/controller-manager.conf";
    let net = &cluster.networking;
    let local = localhost(node.address.is_ipv6());
    let mut defaults = flags([
        ("allocate-node-cidrs", "true".into()),
        ("authentication-kubeconfig", kubeconfig.into()),
        ("authorization-kubeconfig", kubeconfig.into()),
        ("bind-address", local.into()),
        ("client-ca-file", format!("{PKI}/ca.crt")),
        ("cluster-cidr", net.pod_subnet.to_string()),
        ("cluster-name", cluster.cluster_name.clone()),
        // External CA: empty, as kubeadm writes them, so nothing in the cluster signs CSRs.
        ("cluster-signing-cert-file", if cluster.pki.external_ca { String::new() } else { format!("{PKI}/ca.crt") }),
        ("cluster-signing-key-file", if cluster.pki.external_ca { String::new() } else { format!("{PKI}/ca.key") }),
        ("controllers", "*,bootstrapsigner,tokencleaner".into()),
        ("kubeconfig", kubeconfig.into()),
        ("leader-elect", "true".into()),
        ("requestheader-client-ca-file", format!("{PKI}/front-proxy-ca.crt")),
        ("root-ca-file", format!("{PKI}/ca.crt")),
        ("service-account-private-key-file", format!("{PKI}/sa.key")),
        ("service-cluster-ip-range", net.service_subnet.to_string()),
        ("use-service-account-credentials", "true".into()),
    ]);
    let extra = &cluster.extra_args.controller_manager;
    if extra.get("allocate-node-cidrs").is_some_and(|v| v == "false") {
        defaults.remove("cluster-cidr");
    }
    let probe_host = extra.get("bind-address").cloned().unwrap_or_else(|| local.to_string());
    let probes = ProbeTarget {
        host: &probe_host,
        port: 10257,
        scheme: "HTTPS",
        live: "/healthz",
        ready: None,
        start: "/healthz",
    }
    .probes(cluster);
    let mut mounts = ca_mounts(host_ca_dirs);
    if cluster.kubernetes_version.kubeadm().flexvolume_mount {
        let flex = extra.get("flex-volume-plugin-dir").cloned().unwrap_or_else(|| FLEXVOLUME_DIR.to_string());
        mounts.push(HostMount::new("flexvolume-dir", flex, "DirectoryOrCreate", false));
    }
    mounts.push(HostMount::new("k8s-certs", PKI, "DirectoryOrCreate", true));
    mounts.push(HostMount::new("kubeconfig", kubeconfig, "FileOrCreate", true));
    StaticPod {
        name: "kube-controller-manager",
        annotations: BTreeMap::new(),
        container: probes.on(Container {
            command: Some(command(cluster, "kube-controller-manager", defaults, extra)),
            image: Some(image(
                &cluster.image_repository,
                "kube-controller-manager",
                &cluster.kubernetes_version.to_string(),
            )),
            resources: Some(requests("200m", None)),
            ..Default::default()
        }),
        mounts,
    }
    .build()
}

/// kube-scheduler's static pod, with the spec's extraArgs.
pub fn scheduler(cluster: &Cluster, node: &Node) -> Pod {
    let kubeconfig = "/etc/kubernetes/scheduler.conf";
    let local = localhost(node.address.is_ipv6());
    let defaults = flags([
        ("authentication-kubeconfig", kubeconfig.into()),
        ("authorization-kubeconfig", kubeconfig.into()),
        ("bind-address", local.into()),
        ("kubeconfig", kubeconfig.into()),
        ("leader-elect", "true".into()),
    ]);
    let extra = &cluster.extra_args.scheduler;
    let probe_host = extra.get("bind-address").cloned().unwrap_or_else(|| local.to_string());
    let probes = ProbeTarget {
        host: &probe_host,
        port: 10259,
        scheme: "HTTPS",
        live: "/livez",
        ready: Some("/readyz"),
        start: "/livez",
    }
    .probes(cluster);
    StaticPod {
        name: "kube-scheduler",
        annotations: BTreeMap::new(),
        container: probes.on(Container {
            command: Some(command(cluster, "kube-scheduler", defaults, extra)),
            image: Some(image(&cluster.image_repository, "kube-scheduler", &cluster.kubernetes_version.to_string())),
            resources: Some(requests("100m", None)),
            ..Default::default()
        }),
        mounts: vec![HostMount::new("kubeconfig", kubeconfig, "FileOrCreate", true)],
    }
    .build()
}
