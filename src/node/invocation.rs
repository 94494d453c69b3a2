//! How each node runs kubeadm so that kubeadm reuses every pre-placed file and rewrites
//! none of them, and so that nodes booted in any order converge. `docs/kubeadm-invocation.md`
//! reasons it through per role against kubeadm's source; the first-boot script and the
//! rendered kubeadm configuration both take their lists from here, so they cannot drift apart.

use crate::model::Role;

/// Phases `kubeadm init` must not run on the first control plane:
/// - `preflight` runs on its own first, before the kubelet starts the static pods whose
///   ports it checks;
/// - `etcd` and `control-plane` always rewrite the manifests (kubebake's are kubeadm's);
/// - `kubelet-start` rewrites the kubelet's config and flags and restarts it; kubebake's
///   copies are kubeadm's, and the first-boot step starts the kubelet itself;
/// - `kubelet-finalize` rewrites kubelet.conf to point at the rotated client certificate;
///   the kubelet's certificate store takes over rotation without it.
pub const INIT_SKIP_PHASES: &[&str] = &["preflight", "etcd", "control-plane", "kubelet-start", "kubelet-finalize"];

/// Phases `kubeadm join --control-plane` must not run on the other control planes:
/// - `preflight` runs on its own first, before this node's kubelet runs anything;
/// - `control-plane-prepare/control-plane` rewrites the three manifests kubebake placed;
/// - `check-etcd` wants every member healthy, so a member that was added as a learner but
///   never started (a reboot right after `etcd-join` added it) would block this node's
///   own retry forever; a learner does not count for quorum, so adding one is safe anyway;
/// - `kubelet-start` refuses a node that is already Ready, which a retried join after a
///   reboot finds; the first-boot step starts the kubelet on the pre-placed kubelet.conf.
///
/// `etcd-join` runs: it adds this member as a learner through the running cluster, writes
/// its manifest and promotes it, exactly as for any kubeadm control-plane join, and skips
/// the add when a retried join finds the member already there.
pub const CONTROL_PLANE_JOIN_SKIP_PHASES: &[&str] =
    &["preflight", "control-plane-prepare/control-plane", "check-etcd", "kubelet-start"];

/// A worker joins the normal way (TLS bootstrap through the token), after its own
/// preflight run.
pub const WORKER_JOIN_SKIP_PHASES: &[&str] = &["preflight"];

/// Preflight checks that fail only because kubebake placed files ahead of kubeadm. The
/// static pod manifests are staged outside `/etc/kubernetes/manifests` until preflight has
/// passed, so no manifest or port check needs ignoring.
/// A worker pool's machines join as workers do: `(Role::Worker, false, false)`.
pub fn ignored_preflight_errors(role: Role, first_control_plane: bool, external_ca: bool) -> Vec<String> {
    match (role, first_control_plane) {
        (Role::ControlPlane, true) => Vec::new(),
        // This node's own identity, for its kubelet to start before its API server exists.
        (Role::ControlPlane, false) => vec!["FileAvailable--etc-kubernetes-kubelet.conf".into()],
        // Workers get the CA certificate up front; join's preflight expects none. With an
        // external CA their kubelet's identity is pre-issued too.
        (Role::Worker, _) if external_ca => {
            vec!["FileAvailable--etc-kubernetes-kubelet.conf".into(), "FileAvailable--etc-kubernetes-pki-ca.crt".into()]
        }
        (Role::Worker, _) => vec!["FileAvailable--etc-kubernetes-pki-ca.crt".into()],
    }
}

/// The phases kubeadm skips on this node, for its configuration's `skipPhases`.
pub fn skip_phases(role: Role, first_control_plane: bool) -> Vec<String> {
    let list = match (role, first_control_plane) {
        (Role::ControlPlane, true) => INIT_SKIP_PHASES,
        (Role::ControlPlane, false) => CONTROL_PLANE_JOIN_SKIP_PHASES,
        (Role::Worker, _) => WORKER_JOIN_SKIP_PHASES,
    };
    list.iter().map(|s| s.to_string()).collect()
}
