//! What each supported Kubernetes minor pins, as kubeadm of that minor does
//! (`kubeadm config images list`).

use crate::model::Version;

/// Images kubeadm deploys besides the versioned control-plane images.
#[derive(Debug, Clone, Copy)]
pub struct Pins {
    pub etcd: &'static str,
    pub pause: &'static str,
    pub coredns: &'static str,
    /// The CNI reference plugins a node of that minor gets (`kubebake bundle`).
    pub cni_plugins: &'static str,
    /// crictl, from cri-tools of the same minor (what the packages' cri-tools brings).
    pub cri_tools: &'static str,
}

pub fn pins(v: Version) -> Pins {
    match v.minor {
        33 => Pins { etcd: "3.5.21-0", pause: "3.10", coredns: "v1.12.0", cni_plugins: "v1.7.1", cri_tools: "v1.33.0" },
        m => unreachable!("validation admits only supported minors, not 1.{m}"),
    }
}

/// `<repo>/<name>:<tag>`.
pub fn image(repository: &str, name: &str, tag: &str) -> String {
    format!("{repository}/{name}:{tag}")
}
