//! What lands on each node: files at their absolute paths with mode and owner. Every
//! writer renders from this, so every output format lands the same files. The first-boot
//! part of a plan (`firstboot`) builds on this module, never the other way round.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::model::{Calico, Cluster, Cni, ManifestSource, Node, Role, Vip, WorkerPool};
use crate::node::cni::{self, CALICO_DIR};
use crate::node::invocation;
use crate::node::manifests::{self, KubeVipKubeconfig};
use crate::node::{kubeadm_config, kubelet_config};
use crate::pki::CaId;
use crate::pki::kubeconfig;
use crate::state::{State, node_kubeconfig_stem, node_pki_stem};

/// kubeadm's certificate directory on the node (`certificatesDir`).
pub const PKI_DIR: &str = "/etc/kubernetes/pki";
/// Where the node's kubeconfigs go, as kubeadm puts them.
pub const KUBERNETES_DIR: &str = "/etc/kubernetes";
/// The kubelet's directory: its `config.yaml`, `kubeadm-flags.env` and certificates.
pub const KUBELET_DIR: &str = "/var/lib/kubelet";
/// Where the node's systemd units are written.
pub const SYSTEMD_DIR: &str = "/etc/systemd/system";
/// The script that installs Kubernetes and runs kubeadm at first boot.
pub const FIRSTBOOT_SCRIPT: &str = "/opt/kubebake/firstboot.sh";
/// The systemd unit that runs the first-boot script at each boot until it has succeeded.
pub const FIRSTBOOT_UNIT: &str = "kubebake-firstboot.service";
/// The first control plane's kube-vip manifest once init is done (reads admin.conf).
pub const KUBE_VIP_AFTER_INIT: &str = "/etc/kubebake/kube-vip-after-init.yaml";
/// Where a control plane's static pod manifests wait until preflight has passed: a kubelet
/// that a package started early must find nothing to run, or preflight would find the
/// ports taken. First boot installs them, unchanged, into `/etc/kubernetes/manifests`.
pub const STAGED_MANIFESTS_DIR: &str = "/etc/kubebake/manifests";

/// A file the node gets, exactly as it will be on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Absolute path on the node.
    pub path: String,
    /// Permission bits, e.g. `0o600` for keys.
    pub mode: u32,
    /// `user:group`, always `root:root` today.
    pub owner: &'static str,
    /// The file's bytes.
    pub contents: Vec<u8>,
}

/// A systemd unit the node's init system must know and, when `enabled`, start at boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedUnit {
    /// The unit's file name, e.g. `kubebake-firstboot.service`.
    pub name: String,
    /// The unit file's text.
    pub contents: String,
    /// Whether it starts at boot.
    pub enabled: bool,
}

impl PlannedUnit {
    /// Where the unit file lands on the node, under [`SYSTEMD_DIR`].
    pub fn path(&self) -> String {
        format!("{SYSTEMD_DIR}/{}", self.name)
    }
}

/// A file of [`NodePlan::tree`].
#[derive(Debug)]
pub struct TreeFile<'a> {
    /// Absolute path on the node.
    pub path: Cow<'a, str>,
    /// Permission bits.
    pub mode: u32,
    /// `user:group`.
    pub owner: &'static str,
    /// The file's bytes.
    pub contents: &'a [u8],
}

/// Everything one node (or one worker pool's machines) gets: files and systemd units.
#[derive(Debug, Clone)]
pub struct NodePlan {
    /// The node's name, or `pool-<name>` for a worker pool: the plan's directory in OUT.
    pub name: String,
    /// Control plane or worker.
    pub role: Role,
    /// The worker pool this plan is for: its machines name themselves (hostname), so no
    /// hostname, address or instance identity is written for them.
    pub pool: Option<String>,
    /// Every file but the units, in the order they were planned.
    pub files: Vec<PlannedFile>,
    /// The systemd units, written under [`SYSTEMD_DIR`].
    pub units: Vec<PlannedUnit>,
}

impl NodePlan {
    /// Every file the node ends up with, units included, sorted by path; borrowed, as a
    /// node's tree is read three times (rootfs, user-data, summary) and a control plane's
    /// is some 50 KB.
    pub fn tree(&self) -> Vec<TreeFile<'_>> {
        let mut all: Vec<TreeFile> = self
            .files
            .iter()
            .map(|f| TreeFile { path: Cow::Borrowed(&f.path), mode: f.mode, owner: f.owner, contents: &f.contents })
            .collect();
        all.extend(self.units.iter().map(|u| TreeFile {
            path: Cow::Owned(u.path()),
            mode: 0o644,
            owner: "root:root",
            contents: u.contents.as_bytes(),
        }));
        all.sort_by(|a, b| a.path.cmp(&b.path));
        all
    }
}

impl NodePlan {
    pub(crate) fn add(&mut self, path: String, mode: u32, contents: impl Into<Vec<u8>>) {
        debug_assert!(!self.files.iter().any(|f| f.path == path), "{path} planned twice");
        self.files.push(PlannedFile { path, mode, owner: "root:root", contents: contents.into() });
    }

    fn cert(&mut self, stem: &str, cert_pem: &str) {
        self.add(format!("{PKI_DIR}/{stem}.crt"), 0o644, cert_pem);
    }

    fn key(&mut self, stem: &str, key_pem: &str) {
        self.add(format!("{PKI_DIR}/{stem}.key"), 0o600, key_pem);
    }
}

/// The kubelet's files as kubeadm's `kubelet-start` writes them: its configuration, its
/// flags and, from 1.34 on, the node's CRI socket in `instance-config.yaml`.
fn add_kubelet_files(p: &mut NodePlan, cluster: &Cluster, flags_env: String) {
    let config = kubelet_config::node_kubelet_configuration(cluster);
    p.add(format!("{KUBELET_DIR}/config.yaml"), 0o644, crate::fmt::yaml::to_string(&config));
    p.add(format!("{KUBELET_DIR}/kubeadm-flags.env"), 0o644, flags_env);
    if cluster.kubernetes_version.kubeadm().node_local_cri_socket {
        p.add(format!("{KUBELET_DIR}/instance-config.yaml"), 0o644, kubelet_config::kubelet_instance_config());
    }
}

/// kubebake's preflight checks to ignore for the role, then the user's.
fn ignored_preflight_errors(cluster: &Cluster, role: Role, first: bool) -> Vec<String> {
    let mut ignore = invocation::ignored_preflight_errors(role, first, cluster.pki.external_ca);
    ignore.extend(cluster.ignore_preflight_errors.iter().filter(|e| !ignore.contains(e)).cloned().collect::<Vec<_>>());
    ignore
}

/// The cluster files of a worker pool's machines: kubeadm's JoinConfiguration with the
/// pool's token and no node name, the kubelet's config and flags as kubeadm writes them
/// for a node named by its hostname, and the CA certificate. Nothing else: no key, no
/// identity, no address. The first-boot part is added by `firstboot::add_pool`.
pub fn plan_pool(cluster: &Cluster, state: &State, pool: &WorkerPool, ca_hash: &str) -> Result<NodePlan> {
    let mut p = NodePlan {
        name: pool.dir(),
        role: Role::Worker,
        pool: Some(pool.name.clone()),
        files: Vec::new(),
        units: Vec::new(),
    };
    let token = &state.pool_tokens[&pool.name].joins;
    let join = kubeadm_config::pool_join_configuration(
        cluster,
        pool,
        token,
        ca_hash,
        invocation::skip_phases(Role::Worker, false),
        ignored_preflight_errors(cluster, Role::Worker, false),
    );
    p.add(kubeadm_config::KUBEADM_CONFIG.into(), 0o600, crate::fmt::yaml::to_string(&join));
    add_kubelet_files(&mut p, cluster, kubelet_config::pool_kubelet_flags_env(cluster, pool)?);
    p.cert("ca", &state.ca(CaId::Kubernetes).cert_pem);
    p.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(p)
}

/// The cluster files of `node`: PKI, kubeconfigs, manifests and configuration, sorted by
/// path. The first-boot part is added by `firstboot::add`. A value that a file's format
/// cannot carry (whatever the spec's checks let through) is refused, naming it.
pub fn plan_node(cluster: &Cluster, state: &State, node: &Node, ca_hash: &str) -> Result<NodePlan> {
    let mut p = NodePlan { name: node.name.clone(), role: node.role, pool: None, files: Vec::new(), units: Vec::new() };
    let first = cluster.is_init_node(node);
    p.add(kubeadm_config::KUBEADM_CONFIG.into(), 0o600, node_kubeadm_config(cluster, state, node, ca_hash, first));
    if node.upgrade_from.is_some() && node.role == Role::ControlPlane && !first {
        add_upgrade_config(&mut p, cluster);
    }
    add_kubelet_files(&mut p, cluster, kubelet_config::kubelet_flags_env(cluster, node)?);
    match node.role {
        Role::Worker => add_worker_files(&mut p, cluster, state, node),
        Role::ControlPlane => {
            if let Some(vip) = &cluster.vip {
                add_kube_vip(&mut p, vip, first);
            }
            if let (true, Cni::Calico(calico)) = (first, &cluster.cni) {
                add_calico(&mut p, cluster, calico)?;
            }
            add_control_plane_pki(&mut p, cluster, state, node);
            add_static_pods(&mut p, cluster, node, first);
            add_node_kubeconfigs(&mut p, cluster, state, node);
        }
    }
    if cluster.pki.external_ca {
        // The kubelet serves with the certificate it finds in its --cert-dir instead of
        // making a self-signed one.
        let stored = state.leaf(&node_pki_stem(&node.name, crate::pki::KUBELET_SERVING_STEM));
        p.add(format!("{KUBELET_DIR}/pki/kubelet.crt"), 0o644, stored.cert_pem.clone());
        p.add(format!("{KUBELET_DIR}/pki/kubelet.key"), 0o600, stored.key_pem.clone());
    }
    p.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(p)
}

/// kubeadm's configuration for this node (it carries the token: private), and on the
/// first control plane the kubelet's, as kubeadm would write them.
fn node_kubeadm_config(cluster: &Cluster, state: &State, node: &Node, ca_hash: &str, first: bool) -> String {
    let skip = invocation::skip_phases(node.role, first);
    let ignore = ignored_preflight_errors(cluster, node.role, first);
    if !first {
        let join = kubeadm_config::join_configuration(cluster, node, &state.join_token, ca_hash, skip, ignore);
        return crate::fmt::yaml::to_string(&join);
    }
    let pools: Vec<(&WorkerPool, &crate::state::bootstrap_token::BootstrapToken)> =
        cluster.worker_pools.iter().map(|pool| (pool, &state.pool_tokens[&pool.name].initial)).collect();
    let init = kubeadm_config::init_configuration(cluster, node, &state.token, &pools, skip, ignore);
    let cluster_config = kubeadm_config::cluster_configuration(cluster);
    // The KubeletConfiguration goes along, so the kubelet-config ConfigMap kubeadm
    // uploads is the one every node's kubelet configuration is made from.
    format!(
        "{}---\n{}---\n{}",
        crate::fmt::yaml::to_string(&init),
        crate::fmt::yaml::to_string(&cluster_config),
        crate::fmt::yaml::to_string(&kubelet_config::kubelet_configuration(cluster)),
    )
}

/// What a control plane of a newer release puts in the cluster before it joins: the
/// cluster's configuration and the kubelet's at its release, as the first control plane
/// uploaded them at init, under the ConfigMaps' names and keys.
fn add_upgrade_config(p: &mut NodePlan, cluster: &Cluster) {
    let dir = kubeadm_config::UPGRADE_DIR;
    let cluster_config = crate::fmt::yaml::to_string(&kubeadm_config::cluster_configuration(cluster));
    p.add(format!("{dir}/kubeadm-config/ClusterConfiguration"), 0o600, cluster_config);
    let kubelet = crate::fmt::yaml::to_string(&kubelet_config::kubelet_configuration(cluster));
    p.add(format!("{dir}/kubelet-config/kubelet"), 0o600, kubelet);
}

/// A worker trusts the cluster CA and holds no key: its kubelet gets a client certificate
/// through the bootstrap token and a CSR.
fn add_worker_files(p: &mut NodePlan, cluster: &Cluster, state: &State, node: &Node) {
    let ca_pem = &state.ca(CaId::Kubernetes).cert_pem;
    p.cert("ca", ca_pem);
    if cluster.pki.external_ca {
        // Nothing in the cluster signs CSRs: the kubelet's identity comes baked.
        let identity = kubeconfig::worker_kubelet_identity(cluster, node);
        let stored = state.leaf(&node_kubeconfig_stem(&node.name, identity.file_stem));
        let kc = kubeconfig::for_node(cluster, node, &identity, ca_pem, &stored.cert_pem, &stored.key_pem);
        p.add(format!("{KUBERNETES_DIR}/kubelet.conf"), 0o600, kc.to_yaml());
    }
}

/// kube-vip's static pod. The first control plane reaches the API through the VIP before
/// kubeadm has bound admin.conf's group; it switches to admin.conf after init.
fn add_kube_vip(p: &mut NodePlan, vip: &Vip, first: bool) {
    let during_init = if first { KubeVipKubeconfig::SuperAdmin } else { KubeVipKubeconfig::Admin };
    p.add(
        format!("{STAGED_MANIFESTS_DIR}/kube-vip.yaml"),
        0o600,
        manifests::to_yaml(&manifests::kube_vip(vip, during_init), true),
    );
    if first {
        p.add(
            KUBE_VIP_AFTER_INIT.into(),
            0o600,
            manifests::to_yaml(&manifests::kube_vip(vip, KubeVipKubeconfig::Admin), true),
        );
    }
}

/// What the first control plane applies for Calico: its resources, where its manifest
/// comes from, and the manifest itself when the spec gave a file.
fn add_calico(p: &mut NodePlan, cluster: &Cluster, calico: &Calico) -> Result<()> {
    p.add(format!("{CALICO_DIR}/{}", cni::resources_file(calico)), 0o644, cni::resources(cluster, calico));
    let source = cni::source_data(calico).map_err(|m| Error::Usage(format!("spec.cni.manifest: {m}")))?;
    p.add(cni::source_data_path(), 0o644, source);
    if let ManifestSource::File { bytes } = &calico.source {
        p.add(format!("{CALICO_DIR}/{}", calico.mode.manifest_name()), 0o644, bytes.clone());
    }
    Ok(())
}

/// The CAs (with their keys unless the CA is external), the service-account key pair and
/// the control plane's own certificates.
fn add_control_plane_pki(p: &mut NodePlan, cluster: &Cluster, state: &State, node: &Node) {
    for id in CaId::ALL {
        p.cert(id.stem(), &state.ca(id).cert_pem);
        // kubeadm's external-CA mode: a CA certificate without its key.
        if !cluster.pki.external_ca {
            p.key(id.stem(), &state.ca_key_pem(id));
        }
    }
    p.key("sa", state.sa_key_pem());
    p.add(format!("{PKI_DIR}/sa.pub"), 0o600, state.sa_pub_pem());
    for leaf in crate::pki::control_plane_leaves(cluster, node) {
        let stored = state.leaf(&node_pki_stem(&node.name, leaf.stem));
        p.cert(leaf.stem, &stored.cert_pem);
        p.key(leaf.stem, &stored.key_pem);
    }
}

/// The control plane's static pods, staged for kubeadm. Joining members get their etcd
/// manifest from `kubeadm join` (etcd-join).
fn add_static_pods(p: &mut NodePlan, cluster: &Cluster, node: &Node, first: bool) {
    let ca_dirs: Vec<&str> = cluster.os.profile.ca_dirs.iter().map(String::as_str).collect();
    let etcd = first.then(|| ("etcd", manifests::etcd(cluster, node)));
    for (name, pod) in etcd.into_iter().chain([
        ("kube-apiserver", manifests::apiserver(cluster, node, &ca_dirs)),
        ("kube-controller-manager", manifests::controller_manager(cluster, node, &ca_dirs)),
        ("kube-scheduler", manifests::scheduler(cluster, node)),
    ]) {
        p.add(format!("{STAGED_MANIFESTS_DIR}/{name}.yaml"), 0o600, manifests::kubeadm_yaml(cluster, &pod));
    }
}

/// The control plane's kubeconfigs (admin, super-admin, controller-manager, scheduler,
/// kubelet), each with its baked client certificate.
fn add_node_kubeconfigs(p: &mut NodePlan, cluster: &Cluster, state: &State, node: &Node) {
    let ca_pem = &state.ca(CaId::Kubernetes).cert_pem;
    for identity in kubeconfig::node_identities(cluster, node) {
        let stored = state.leaf(&node_kubeconfig_stem(&node.name, identity.file_stem));
        let kc = kubeconfig::for_node(cluster, node, &identity, ca_pem, &stored.cert_pem, &stored.key_pem);
        p.add(format!("{KUBERNETES_DIR}/{}.conf", identity.file_stem), 0o600, kc.to_yaml());
    }
}
