//! What a node runs on first boot: the script (from `firstboot.sh.tera`), its one-shot
//! unit, and the node configuration the script relies on (kernel modules, sysctls,
//! containerd, registry mirrors, and the kubelet's unit where no package provides it).

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::images::CALICO_UPSTREAMS;
use crate::model::profile::{Firewall, Format, NetworkConfig, Packages};
use crate::model::versions::image;
use crate::model::{Cluster, Cni, Node, Role, WorkerPool};
use crate::node::cni::CALICO_DIR;
use crate::node::kubeadm_config::{KUBEADM_CONFIG, UPGRADE_DIR};
use crate::node::plan::{
    FIRSTBOOT_SCRIPT, FIRSTBOOT_UNIT, KUBE_VIP_AFTER_INIT, NodePlan, PlannedUnit, STAGED_MANIFESTS_DIR, SYSTEMD_DIR,
};
use crate::node::templates::Templates;

/// The first-boot script's template, the largest every node renders.
pub const SCRIPT_TEMPLATE: &str = "firstboot.sh.tera";

/// Where an image for `packages: bundle` carries the `kubebake bundle` archive.
pub const BUNDLE_PATH: &str = "/opt/kubebake/bundle.tar";
/// Where first boot unpacks and checks it (the archive's top directory inside).
pub const BUNDLE_DIR: &str = "/var/lib/kubebake/bundle";

/// cloud-init's per-instance directories, each with the user-data it ran (`user-data.txt`,
/// `user-data.txt.i`) and its cached datasource (`obj.pkl`, the user-data among it).
pub const CLOUD_INIT_INSTANCES: &str = "/var/lib/cloud/instances";

/// kubebake's sysctls; first boot applies this file alone.
pub const SYSCTL_FILE: &str = "/etc/sysctl.d/99-kubebake.conf";

/// What the first-boot script template sees. The template quotes every string through its
/// `sh` filter, whatever the spec's validation let through; where a value must also be
/// escaped for another reader inside the shell word (sed), or a word is made of several
/// values, the whole word is built here.
#[derive(Debug, Serialize)]
pub struct ScriptContext {
    /// The node's name, or `pool-<name>` for a worker pool (whose machines take their
    /// hostname as node name).
    pub node_name: String,
    /// The worker pool, for a pool's script: it waits for a usable hostname and joins as it.
    pub pool: Option<String>,
    /// The node's address from the spec, which first boot waits for the machine to have;
    /// None for a pool's machines (any address).
    pub address: Option<String>,
    /// The control plane this one replaces, whose etcd member and Node object first boot
    /// removes.
    pub replaces: Option<String>,
    /// On a joining control plane of a newer release than the cluster's older control
    /// planes: their release, `v1.35.6`. First boot moves the cluster's configuration to its
    /// own release before it joins, and the add-ons once no older control plane is left.
    pub upgrade_from: Option<String>,
    /// Where the ConfigMaps it uploads for that are (`kubeadm_config::UPGRADE_DIR`).
    pub upgrade_dir: &'static str,
    /// init, join-control-plane or join-worker.
    pub role: &'static str,
    /// The Kubernetes release, `v1.36.3`, which first boot checks kubeadm against.
    pub kubernetes_version: String,
    /// The version without its `v`, as the packages name it.
    pub package_version: String,
    /// `kubelet=<version>-*` and the like: apt's pins, one word each.
    pub pinned_packages: Vec<String>,
    /// `spec.packages`: `apt`, `download`, `prebaked` or `bundle`.
    pub packages: &'static str,
    /// The distribution's containerd package, for `packages: apt`.
    pub containerd_package: Option<String>,
    /// The Kubernetes apt repository of the cluster's minor (pkgs.k8s.io).
    pub apt_repository: String,
    /// The URL of the repository's signing key.
    pub apt_release_key: String,
    /// The repository's line in sources.list.
    pub apt_source: String,
    /// Where `packages: download` fetches the release binaries, per architecture below it.
    pub download_base: String,
    /// Where kubeadm, kubelet and kubectl are (or go), from the OS profile.
    pub bin_dir: String,
    /// The kubeadm configuration file first boot passes to `kubeadm init`/`join`.
    pub kubeadm_config: &'static str,
    /// Where cloud-init keeps the user-data it ran (cloud-init nodes only): removed with the
    /// join token once first boot is done.
    pub cloud_init_cache: Option<&'static str>,
    /// How long, in seconds, first boot retries the endpoint and the join before failing.
    pub join_timeout_seconds: u64,
    /// The API endpoint as `host:port`.
    pub endpoint: String,
    /// The endpoint's readiness URL, which answers once the cluster exists.
    pub readyz_url: String,
    /// The profile's firewall: `ufw`, `firewalld` or `none`.
    pub firewall: &'static str,
    /// The ports to open for the node's role, in the firewall's syntax (`2379:2380/tcp`).
    pub ports: Vec<String>,
    /// On the first control plane with a VIP: the kube-vip manifest installed after init.
    pub kube_vip_after_init: Option<&'static str>,
    /// The user whose `~/.kube/config` gets admin.conf on the first control plane.
    pub login_user: String,
    /// Whether the first control plane installs Calico.
    pub calico: bool,
    /// Where Calico's manifest and resources are on the first control plane.
    pub calico_dir: &'static str,
    /// Calico's manifest source and how to apply it, as data (`cni::source_data`).
    pub calico_source: String,
    /// The sed program that rewrites Calico's images and the Tigera operator's to the
    /// spec's registry.
    pub calico_image_sed: Option<String>,
    /// In manifest mode, calico-node's setting that makes it take the Node's InternalIP as
    /// its address (`IP_AUTODETECTION_METHOD=kubernetes-internal-ip`, or IP6_ for IPv6).
    pub calico_autodetection: &'static str,
    /// kubebake's sysctl file, which first boot applies.
    pub sysctl_file: &'static str,
    /// Where a control plane's static pod manifests wait until preflight has passed.
    pub staged_manifests_dir: &'static str,
    /// Where a `packages: bundle` image carries the bundle.
    pub bundle_path: &'static str,
    /// Where first boot unpacks the bundle.
    pub bundle_dir: &'static str,
    /// The bundle's top directory once unpacked.
    pub bundle_unpacked: String,
    /// The sha256 of the very bundle the node may run (`bake --bundle`).
    pub bundle_sha256: Option<String>,
    /// The bundle's installer script, once unpacked.
    pub bundle_installer: String,
    /// The line of the bundle's `manifest.json` that names the Kubernetes version.
    pub bundle_version_line: String,
    /// Ignition nodes and sealed ones: the unpacker that places the node's files from its
    /// pack (`pack`), run by the unit before this script.
    pub unpacker: Option<&'static str>,
}

/// Whether the node's files travel in a pack (`pack`): with Ignition, whose data URLs cost
/// PEM a second base64, and wherever they travel sealed (`seal`), as sealed bytes do not
/// compress and the pack is compressed before it is sealed.
pub fn packs_files(cluster: &Cluster) -> bool {
    cluster.os.format == Format::Ignition || cluster.sealing.is_some()
}

/// Whether a large pack may be xz-compressed: Ignition's distributions have xz; a
/// cloud-init image need not (Debian's is `standard`, not `required`), and gzip is there.
pub fn packs_with_xz(cluster: &Cluster) -> bool {
    cluster.os.format == Format::Ignition
}

/// The ports a node of `role` serves, in the firewall's own syntax.
pub fn ports(role: Role, firewall: Firewall) -> Vec<String> {
    let own: &[(u16, u16, &str)] = match role {
        Role::ControlPlane => &[
            (6443, 6443, "tcp"),
            (2379, 2380, "tcp"),
            (10250, 10250, "tcp"),
            (10257, 10257, "tcp"),
            (10259, 10259, "tcp"),
        ],
        Role::Worker => &[(10250, 10250, "tcp"), (10256, 10256, "tcp"), (30000, 32767, "tcp")],
    };
    // Calico: BGP, VXLAN and Typha.
    let calico = [(179, 179, "tcp"), (4789, 4789, "udp"), (5473, 5473, "tcp")];
    let range = if firewall == Firewall::Ufw { ":" } else { "-" };
    own.iter()
        .chain(calico.iter())
        .map(
            |(from, to, proto)| {
                if from == to { format!("{from}/{proto}") } else { format!("{from}{range}{to}/{proto}") }
            },
        )
        .collect()
}

/// A named node's script: init on the first control plane, a join on every other node.
pub fn script_context(cluster: &Cluster, node: &Node) -> Result<ScriptContext> {
    let first = cluster.is_init_node(node);
    let mut ctx = context(cluster, node.name.clone(), None, Some(node.address.to_string()), node.role, first)?;
    ctx.replaces = node.replaces.clone();
    if node.role == Role::ControlPlane && !first {
        ctx.upgrade_from = node.upgrade_from.map(|v| v.to_string());
    }
    Ok(ctx)
}

/// A worker pool's script: a worker's, for a machine named by its hostname.
pub fn pool_script_context(cluster: &Cluster, pool: &WorkerPool) -> Result<ScriptContext> {
    context(cluster, pool.dir(), Some(pool.name.clone()), None, Role::Worker, false)
}

/// apt's pins of kubelet, kubeadm and kubectl to `package_version` (`kubelet=1.36.3-*`).
pub fn apt_pins(package_version: &str) -> Vec<String> {
    ["kubelet", "kubeadm", "kubectl"].map(|p| format!("{p}={package_version}-*")).to_vec()
}

/// The Kubernetes apt repository's line in sources.list, signed by the key first boot
/// and the image's provisioner place.
pub fn apt_source(apt_repository: &str) -> String {
    format!("deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] {apt_repository} /")
}

/// The sed program that points a Calico manifest's images (and the Tigera operator's) at
/// `registry`, as [`CALICO_UPSTREAMS`] says: `#` delimits it, as image references hold
/// `/`, and the registry is escaped for sed's replacement text.
pub fn calico_image_sed(registry: &str) -> Result<String> {
    let replacement = crate::fmt::quote::sed_replacement(registry, '#')
        .map_err(|m| Error::Usage(format!("spec.cni.registry: {m}")))?;
    // The upstream is a pattern: its dots match only a dot.
    let commands: Vec<String> = CALICO_UPSTREAMS
        .iter()
        .map(|(upstream, path)| format!("s#image: {}#image: {replacement}/{path}#", upstream.replace('.', "[.]")))
        .collect();
    Ok(commands.join(";"))
}

fn context(
    cluster: &Cluster,
    node_name: String,
    pool: Option<String>,
    address: Option<String>,
    role: Role,
    first: bool,
) -> Result<ScriptContext> {
    let v = cluster.kubernetes_version;
    let os = &cluster.os;
    let package_version = format!("{}.{}.{}", v.major, v.minor, v.patch);
    let apt_repository = format!("https://pkgs.k8s.io/core:/stable:/v{}.{}/deb/", v.major, v.minor);
    let calico_registry = match &cluster.cni {
        Cni::Calico(c) => c.registry.clone(),
        _ => None,
    };
    let bundle_unpacked = format!("{BUNDLE_DIR}/kubebake-bundle");
    let endpoint = cluster.endpoint.host_port();
    Ok(ScriptContext {
        node_name,
        pool,
        address,
        replaces: None,
        upgrade_from: None,
        upgrade_dir: UPGRADE_DIR,
        role: match (role, first) {
            (Role::ControlPlane, true) => "init",
            (Role::ControlPlane, false) => "join-control-plane",
            (Role::Worker, _) => "join-worker",
        },
        kubernetes_version: v.to_string(),
        pinned_packages: apt_pins(&package_version),
        package_version,
        packages: os.packages.name(),
        containerd_package: os.profile.containerd_package.clone(),
        apt_release_key: format!("{apt_repository}Release.key"),
        apt_source: apt_source(&apt_repository),
        apt_repository,
        download_base: format!("https://dl.k8s.io/release/{v}/bin/linux"),
        bin_dir: os.profile.bin_dir.clone(),
        kubeadm_config: KUBEADM_CONFIG,
        cloud_init_cache: (os.format == Format::CloudInit).then_some(CLOUD_INIT_INSTANCES),
        join_timeout_seconds: cluster.join.timeout.as_secs(),
        readyz_url: format!("https://{endpoint}/readyz"),
        endpoint,
        firewall: os.profile.firewall.name(),
        ports: ports(role, os.profile.firewall),
        kube_vip_after_init: (first && cluster.vip.is_some()).then_some(KUBE_VIP_AFTER_INIT),
        login_user: cluster.login.user.clone(),
        calico: matches!(cluster.cni, Cni::Calico(_)),
        calico_dir: CALICO_DIR,
        calico_source: crate::node::cni::source_data_path(),
        calico_image_sed: calico_registry.as_deref().map(calico_image_sed).transpose()?,
        calico_autodetection: if cluster.networking.pod_subnet.addr().is_ipv6() {
            "IP6_AUTODETECTION_METHOD=kubernetes-internal-ip"
        } else {
            "IP_AUTODETECTION_METHOD=kubernetes-internal-ip"
        },
        sysctl_file: SYSCTL_FILE,
        staged_manifests_dir: STAGED_MANIFESTS_DIR,
        bundle_path: BUNDLE_PATH,
        bundle_dir: BUNDLE_DIR,
        bundle_installer: format!("{bundle_unpacked}/install.sh"),
        bundle_sha256: os.bundle_sha256.clone(),
        bundle_unpacked,
        bundle_version_line: crate::node::bundle_layout::manifest_version_line(&v.to_string()),
        unpacker: packs_files(cluster).then_some(crate::node::pack_format::UNPACKER),
    })
}

#[derive(Serialize)]
struct UnitContext<'a> {
    role: &'static str,
    node_name: &'a str,
    script: &'static str,
    unpacker: Option<&'static str>,
}

#[derive(Serialize)]
struct MirrorContext<'a> {
    registry: &'a str,
    server: String,
    mirrors: &'a [String],
}

/// Adds the first-boot script, its unit and the node configuration to `p`.
pub fn add(p: &mut NodePlan, cluster: &Cluster, node: &Node, templates: &Templates) -> Result<()> {
    add_common(p, cluster, &script_context(cluster, node)?, templates)?;
    p.add("/etc/hostname".into(), 0o644, format!("{}\n", node.name));
    if let (Format::Ignition, Some(net)) = (cluster.os.format, &cluster.node_network) {
        // cloud-init nodes get network-config instead; Ignition has no network section.
        let interface = interface_name(&net.interface)?;
        let v6 = node.address.is_ipv6();
        let ctx = serde_json::json!({
            "node_name": node.name,
            "interface": net.interface,
            "address": node.address.to_string(),
            "prefix_length": net.prefix_length,
            "gateway": net.gateway.to_string(),
            "nameservers": net.nameservers.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            "family": if v6 { "ipv6" } else { "ipv4" },
            "other_family": if v6 { "ipv4" } else { "ipv6" },
        });
        match cluster.os.profile.network_config {
            Some(NetworkConfig::Networkd) => p.add(
                format!("/etc/systemd/network/10-kubebake-{interface}.network"),
                0o644,
                templates.render("networkd.network.tera", &ctx)?,
            ),
            // NetworkManager ignores keyfiles others can read.
            Some(NetworkConfig::NetworkManager) => p.add(
                format!("/etc/NetworkManager/system-connections/kubebake-{interface}.nmconnection"),
                0o600,
                templates.render("networkmanager.nmconnection.tera", &ctx)?,
            ),
            None => unreachable!("validation requires networkConfig for Ignition with nodeNetwork"),
        }
    }
    Ok(())
}

/// `name` as the interface of the static network files, which also name those files: a
/// Linux interface name (at most 15 bytes) of letters, digits, `_`, `.` and `-`, not `.` or
/// `..`. Anything else is refused, whatever the spec's checks let through: such a name
/// would need escaping in a networkd `Name=` (a list of globs), in a key file and in a
/// file name, and no real interface needs it.
pub fn interface_name(name: &str) -> Result<&str> {
    let ok = (1..=15).contains(&name.len())
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(name)
    } else {
        Err(Error::Usage(format!(
            "spec.nodeNetwork.interface: {name:?} cannot name the static network files (an interface name is 1 to \
             15 letters, digits, '_', '.' and '-')"
        )))
    }
}

/// Adds a worker pool's first-boot script, unit and node configuration to `p`: a worker's,
/// without what names or addresses one machine (`/etc/hostname`, static network files):
/// the platform gives each machine its hostname and address.
pub fn add_pool(p: &mut NodePlan, cluster: &Cluster, pool: &WorkerPool, templates: &Templates) -> Result<()> {
    add_common(p, cluster, &pool_script_context(cluster, pool)?, templates)
}

/// The sysctl file's inputs: IPv6 forwarding only on an IPv6 cluster, so that an IPv4 node
/// whose kernel has IPv6 disabled (no `/proc/sys/net/ipv6`) still gets through `prepare`.
pub fn sysctl_context(cluster: &Cluster) -> serde_json::Value {
    serde_json::json!({ "ipv6": cluster.networking.pod_subnet.addr().is_ipv6() })
}

/// What every node and pool gets: the script and its unit, kernel modules, sysctls,
/// containerd and its mirrors, and the kubelet's unit where no package provides it.
fn add_common(p: &mut NodePlan, cluster: &Cluster, ctx: &ScriptContext, templates: &Templates) -> Result<()> {
    let unit = templates.render(
        "kubebake-firstboot.service.tera",
        &UnitContext { role: ctx.role, node_name: &ctx.node_name, script: FIRSTBOOT_SCRIPT, unpacker: ctx.unpacker },
    )?;
    p.add(FIRSTBOOT_SCRIPT.into(), 0o755, templates.render(SCRIPT_TEMPLATE, ctx)?);
    p.units.push(PlannedUnit { name: FIRSTBOOT_UNIT.into(), contents: unit, enabled: true });
    if let Some(unpacker) = ctx.unpacker {
        use crate::node::pack_format as pack;
        // A sealed node's unpacker looks for the sealed pack only: one in clear would be one
        // that was not baked for it.
        let suffix = if cluster.sealing.is_some() { pack::SEALED_SUFFIX } else { "" };
        let names = serde_json::json!({
            "pack_xz": format!("{}{suffix}", pack::PACK_XZ),
            "pack_gz": format!("{}{suffix}", pack::PACK_GZ),
            "magic": pack::MAGIC,
            "data_line": pack::DATA_LINE,
            "age_identity": cluster.sealing.as_ref().map(|s| &s.identity),
            "age_recipient": cluster.sealing.as_ref().map(|s| s.recipient.to_string()),
        });
        p.add(unpacker.into(), 0o755, templates.render("unpack.sh.tera", &names)?);
    }

    let none = serde_json::json!({});
    p.add("/etc/modules-load.d/kubebake.conf".into(), 0o644, templates.render("modules-load.conf.tera", &none)?);
    p.add(SYSCTL_FILE.into(), 0o644, templates.render("sysctl.conf.tera", &sysctl_context(cluster))?);
    let pause = image(&cluster.image_repository, "pause", cluster.kubernetes_version.kubeadm().pause);
    p.add(
        "/etc/containerd/config.toml".into(),
        0o644,
        templates.render("containerd-config.toml.tera", &serde_json::json!({ "pause_image": pause }))?,
    );
    if cluster.os.profile.containerd_config_drop_in {
        p.add(
            format!("{SYSTEMD_DIR}/containerd.service.d/10-kubebake.conf"),
            0o644,
            templates.render("containerd-dropin.conf.tera", &none)?,
        );
    }
    for (registry, mirrors) in &cluster.registry_mirrors {
        // The registry names a directory of containerd's (certs.d/<host>/hosts.toml).
        let dir = crate::fmt::quote::path_component(registry)
            .map_err(|m| Error::Usage(format!("spec.registryMirrors: {m} (containerd's certs.d/<registry>)")))?;
        // Docker Hub's API lives on another host than its name.
        let server = if registry == "docker.io" {
            "https://registry-1.docker.io".to_string()
        } else {
            format!("https://{registry}")
        };
        let ctx = MirrorContext { registry, server, mirrors };
        p.add(format!("/etc/containerd/certs.d/{dir}/hosts.toml"), 0o644, templates.render("hosts.toml.tera", &ctx)?);
    }
    // A bundle carries the kubelet's unit itself (kubebake bundle).
    if cluster.os.packages == Packages::Download {
        let bin = crate::node::templates::kubelet_unit_context(&cluster.os.profile.bin_dir);
        p.add(format!("{SYSTEMD_DIR}/kubelet.service"), 0o644, templates.render("kubelet.service.tera", &bin)?);
        p.add(
            format!("{SYSTEMD_DIR}/kubelet.service.d/10-kubeadm.conf"),
            0o644,
            templates.render("10-kubeadm.conf.tera", &bin)?,
        );
    }
    Ok(())
}
