//! kube-vip in ARP mode, announcing the control-plane endpoint's virtual IP from whichever
//! control plane holds its leader lease.

use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, EnvVarSource, HostAlias, HostPathVolumeSource, ObjectFieldSelector, Pod, PodSpec,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::{API_SERVER_BIND_PORT, Vip};

/// Which kubeconfig the node's kube-vip reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeVipKubeconfig {
    /// `admin.conf`: every joining control plane, and the first one once `kubeadm init`
    /// has created the `kubeadm:cluster-admins` binding.
    Admin,
    /// `super-admin.conf`: the first control plane during `kubeadm init`. Since kubeadm
    /// 1.29 `admin.conf`'s group is bound to cluster-admin only late in init, but the API
    /// server must be reachable on the VIP before that (kube-vip issue #684).
    SuperAdmin,
}

impl KubeVipKubeconfig {
    /// The kubeconfig's path on the node, mounted into kube-vip's pod.
    pub fn host_path(self) -> &'static str {
        match self {
            KubeVipKubeconfig::Admin => "/etc/kubernetes/admin.conf",
            KubeVipKubeconfig::SuperAdmin => "/etc/kubernetes/super-admin.conf",
        }
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.to_string(), value: Some(value.to_string()), ..Default::default() }
}

/// kube-vip's static pod, announcing the VIP over ARP from the lease holder.
pub fn kube_vip(vip: &Vip, kubeconfig: KubeVipKubeconfig) -> Pod {
    let subnet = if vip.address.is_ipv6() { "128" } else { "32" };
    let env = vec![
        env("vip_arp", "true"),
        env("port", &API_SERVER_BIND_PORT.to_string()),
        EnvVar {
            name: "vip_nodename".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector { field_path: "spec.nodeName".into(), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        },
        env("vip_interface", &vip.interface),
        env("vip_subnet", subnet),
        env("dns_mode", "first"),
        env("cp_enable", "true"),
        env("cp_namespace", "kube-system"),
        env("vip_leaderelection", "true"),
        env("vip_leasename", "plndr-cp-lock"),
        env("vip_leaseduration", "5"),
        env("vip_renewdeadline", "3"),
        env("vip_retryperiod", "1"),
        env("address", &vip.address.to_string()),
        env("prometheus_server", ":2112"),
    ];
    Pod {
        metadata: ObjectMeta {
            name: Some("kube-vip".into()),
            namespace: Some("kube-system".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "kube-vip".into(),
                args: Some(vec!["manager".into()]),
                env: Some(env),
                image: Some(vip.image.clone()),
                image_pull_policy: Some("IfNotPresent".into()),
                security_context: Some(SecurityContext {
                    capabilities: Some(Capabilities {
                        add: Some(vec!["NET_ADMIN".into(), "NET_RAW".into()]),
                        drop: Some(vec!["ALL".into()]),
                    }),
                    ..Default::default()
                }),
                // kube-vip reads the kubeconfig at this path whichever host file backs it.
                volume_mounts: Some(vec![VolumeMount {
                    mount_path: "/etc/kubernetes/admin.conf".into(),
                    name: "kubeconfig".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            // kube-vip talks to the API server as https://kubernetes:6443 on the node
            // itself, so it works before the VIP is up.
            host_aliases: Some(vec![HostAlias { hostnames: Some(vec!["kubernetes".into()]), ip: "127.0.0.1".into() }]),
            host_network: Some(true),
            volumes: Some(vec![Volume {
                name: "kubeconfig".into(),
                host_path: Some(HostPathVolumeSource { path: kubeconfig.host_path().into(), type_: None }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    }
}
