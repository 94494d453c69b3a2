//! How each node runs kubeadm so that kubeadm reuses every pre-placed file and rewrites
//! none of them. `docs/kubeadm-invocation.md` explains each choice against kubeadm's source;
//! the first-boot script and the rendered kubeadm configuration both take their lists from
//! here, so they cannot drift apart.

use crate::model::{Node, Role};

/// Static pod manifests kubebake places; kubeadm's preflight refuses to overwrite them.
const MANIFEST_FILES: [&str; 4] = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];

/// Phases `kubeadm init` must not run on the first control plane:
/// - `preflight` runs on its own first (before the kubelet starts the static pods, whose
///   ports it would otherwise find taken);
/// - `etcd` and `control-plane` always rewrite the manifests (and `etcd` would write a
///   one-member cluster);
/// - `kubelet-start` rewrites the kubelet's config and flags and restarts it; kubebake's
///   copies are kubeadm's, and the first-boot step starts the kubelet itself;
/// - `kubelet-finalize` rewrites kubelet.conf to point at the rotated client certificate;
///   the kubelet's certificate store takes over rotation without it.
pub const INIT_SKIP_PHASES: &[&str] = &["preflight", "etcd", "control-plane", "kubelet-start", "kubelet-finalize"];

/// Phases `kubeadm join --control-plane` must not run on the other control planes:
/// - `control-plane-prepare/control-plane` rewrites the manifests;
/// - `check-etcd` wants every listed member healthy, which the pre-rendered members are
///   not until they have all booted;
/// - `kubelet-start` fails on a node that is already Ready, as the kubelet makes it with
///   the pre-placed kubelet.conf;
/// - `etcd-join` (1.33, with ControlPlaneKubeletLocalMode) and `control-plane-join/etcd`
///   (without it) add this member at run time and rewrite its manifest with
///   `--initial-cluster-state=existing`: the pre-rendered members form the cluster together.
pub const CONTROL_PLANE_JOIN_SKIP_PHASES: &[&str] = &[
    "preflight",
    "control-plane-prepare/control-plane",
    "check-etcd",
    "kubelet-start",
    "etcd-join",
    "control-plane-join/etcd",
];

/// A worker joins the normal way (TLS bootstrap through the token), after its own
/// preflight run.
pub const WORKER_JOIN_SKIP_PHASES: &[&str] = &["preflight"];

/// Preflight checks that fail only because kubebake placed files ahead of kubeadm.
pub fn ignored_preflight_errors(node: &Node, first_control_plane: bool) -> Vec<String> {
    let mut out = Vec::new();
    if node.role == Role::ControlPlane {
        for m in MANIFEST_FILES {
            out.push(format!("FileAvailable--etc-kubernetes-manifests-{m}.yaml"));
        }
        if !first_control_plane {
            out.push("FileAvailable--etc-kubernetes-kubelet.conf".into());
        }
    } else {
        // Workers get the CA certificate up front; join's preflight expects none.
        out.push("FileAvailable--etc-kubernetes-pki-ca.crt".into());
    }
    out
}

pub fn skip_phases(node: &Node, first_control_plane: bool) -> Vec<String> {
    let list = match (node.role, first_control_plane) {
        (Role::ControlPlane, true) => INIT_SKIP_PHASES,
        (Role::ControlPlane, false) => CONTROL_PLANE_JOIN_SKIP_PHASES,
        (Role::Worker, _) => WORKER_JOIN_SKIP_PHASES,
    };
    list.iter().map(|s| s.to_string()).collect()
}
