//! Per-node user-data, checked by the ecosystem's own tools: cloud-init's schema and its
//! write_files module, ignition-validate and Ignition's files stage, PyYAML (YAML 1.1, as
//! cloud-init reads it), shellcheck; and the size limits of the platforms.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use sha2::Digest;

const IGNITION: &str = "/usr/lib/dracut/modules.d/30ignition/ignition";

/// A cluster with the awkward bits: YAML 1.1 look-alike names and values, a created login
/// user with keys, mirrors, static addressing, a VIP.
fn cloud_init_spec(os: &str) -> String {
    format!(
        "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata: {{name: awkward}}
spec:
  os: {os}
  vip: {{address: 10.0.0.10, interface: ens18}}
  apiServer:
    extraArgs: {{audit-log-maxage: '0600', event-ttl: '1:20'}}
  login:
    user: ops
    sshAuthorizedKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDq0bPbBsOTVJbnS9PzWSk9IeJrn0RjxwMmfQjvbSlQe ops@example']
  registryMirrors:
    docker.io: [https://mirror.example.internal]
  nodeNetwork: {{interface: ens18, prefixLength: 24, gateway: 10.0.0.1, nameservers: [10.0.0.1]}}
  nodes:
    - {{name: cp-1, role: control-plane, address: 10.0.0.11}}
    - {{name: cp-2, role: control-plane, address: 10.0.0.12}}
    - {{name: 'yes', role: worker, address: 10.0.0.21}}
    - {{name: 'on', role: worker, address: 10.0.0.22}}
"
    )
}

fn ignition_spec(os: &str, version: &str, login: bool) -> String {
    let login = if login {
        "  login: {sshAuthorizedKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDq0bPbBsOTVJbnS9PzWSk9IeJrn0RjxwMmfQjvbSlQe core@example']}\n"
    } else {
        ""
    };
    format!(
        "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata: {{name: ign}}
spec:
  os: {os}
  ignitionVersion: {version}
{login}  nodes:
    - {{name: cp-1, role: control-plane, address: 10.0.0.11}}
    - {{name: cp-2, role: control-plane, address: 10.0.0.12}}
    - {{name: cp-3, role: control-plane, address: 10.0.0.13}}
    - {{name: worker-1, role: worker, address: 10.0.0.21}}
"
    )
}

const NODES: [&str; 4] = ["cp-1", "cp-2", "yes", "on"];
const IGNITION_NODES: [&str; 4] = ["cp-1", "cp-2", "cp-3", "worker-1"];

/// (mode, sha256) of every file under a node's rootfs, by absolute path.
fn rootfs(b: &Bake, node: &str) -> BTreeMap<String, (u32, String)> {
    snapshot(&b.out().join(node).join("rootfs"))
        .into_iter()
        .map(|(path, (bytes, mode))| (format!("/{path}"), (mode, kubebake::fmt::hex(&sha2::Sha256::digest(&bytes)))))
        .collect()
}

#[test]
fn cloud_init_accepts_every_user_data() {
    let Some(cloud_init) = tool("cloud-init", "cloud-init") else { return };
    for os in ["ubuntu-24.04", "debian-12"] {
        let b = Bake::new(&cloud_init_spec(os));
        b.bake(&[]).assert_ok();
        for node in NODES {
            let out = run_ok(
                Command::new(&cloud_init).args(["schema", "--config-file"]).arg(b.out().join(node).join("user-data")),
            );
            assert!(out.contains("Valid cloud-config"), "{os} {node}: {out}");
            let user_data = fs::read_to_string(b.out().join(node).join("user-data")).unwrap();
            assert!(user_data.starts_with("#cloud-config\n"));
            // NoCloud meta-data and the static address.
            let meta = yaml_value(&fs::read_to_string(b.out().join(node).join("meta-data")).unwrap());
            assert_eq!(meta["local-hostname"].as_str(), Some(node));
            let net = yaml_value(&fs::read_to_string(b.out().join(node).join("network-config")).unwrap());
            assert_eq!(net["version"], 2);
            assert_eq!(net["ethernets"]["ens18"]["routes"][0]["via"], "10.0.0.1");
            // The gzip'd copy is the same document.
            let gz = fs::read(b.out().join(node).join("user-data.gz")).unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
            assert_eq!(text, user_data);
        }
    }
    // Without static addressing there is no network-config: the node uses DHCP.
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    assert!(!b.out().join("cp-1/network-config").exists());
}

#[test]
fn pyyaml_reads_every_user_data_as_written() {
    // cloud-init parses with PyYAML (YAML 1.1): `yes`, `on`, `0600`, `1:20` must stay strings.
    let Some(python) = tool("python3", "python3-yaml") else { return };
    let python =
        if Path::new("/usr/bin/python3").exists() { Path::new("/usr/bin/python3").to_path_buf() } else { python };
    let b = Bake::new(&cloud_init_spec("ubuntu-24.04"));
    b.bake(&[]).assert_ok();
    for node in NODES {
        let path = b.out().join(node).join("user-data");
        let out = run_ok(
            Command::new(&python)
                .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
                .arg(&path),
        );
        let pyyaml: serde_json::Value = serde_json::from_str(&out).unwrap();
        // What kubebake meant: the same document read as YAML 1.2.
        let ours = yaml_value(&fs::read_to_string(&path).unwrap());
        assert_eq!(pyyaml, ours, "{node}: PyYAML reads the user-data differently");
        assert_eq!(pyyaml["hostname"], serde_json::json!(node));
        // Every text file reads back byte for byte, and every mode is a string.
        let tree = snapshot(&b.out().join(node).join("rootfs"));
        for f in pyyaml["write_files"].as_array().unwrap() {
            assert!(f["permissions"].is_string(), "{f}");
            if f.get("encoding").is_none() {
                let path = f["path"].as_str().unwrap().trim_start_matches('/');
                assert_eq!(f["content"].as_str().unwrap().as_bytes(), &tree[path].0[..], "{node} {path}");
            }
        }
    }
    let manifest = fs::read_to_string(b.node_file("cp-1", "/etc/kubebake/manifests/kube-apiserver.yaml")).unwrap();
    assert!(manifest.contains("- --event-ttl=1:20") && manifest.contains("- --audit-log-maxage=0600"));
}

#[test]
fn cloud_init_write_files_lays_down_the_rootfs() {
    if tool("cloud-init", "cloud-init").is_none() || tool("unshare", "util-linux").is_none() || !root_or_skip() {
        return;
    }
    let b = Bake::new(&cloud_init_spec("ubuntu-24.04"));
    b.bake(&[]).assert_ok();
    for node in NODES {
        let written = write_files(&b, node, None);
        assert_eq!(written, rootfs(&b, node), "{node}: write_files laid down another tree");
    }
}

/// A sealed node: cloud-init lays the unit, the unpacker and the sealed pack; the node's
/// unpacker opens the pack with the real age and the image's identity and places the rest.
#[test]
fn cloud_init_and_the_nodes_unpacker_lay_down_a_sealed_nodes_rootfs() {
    if tool("cloud-init", "cloud-init").is_none() || tool("unshare", "util-linux").is_none() || !root_or_skip() {
        return;
    }
    let Some(id) = age_identity() else { return };
    let b = Bake::new(&sealed_spec(&cloud_init_spec("ubuntu-24.04"), &id.recipient));
    b.bake(&[]).assert_ok();
    for node in NODES {
        let mut written = write_files(&b, node, Some(&id.file));
        assert_eq!(written.remove("/etc/kubebake/age.key").map(|(mode, _)| mode), Some(0o600));
        assert_eq!(written, rootfs(&b, node), "{node}: write_files and the unpacker laid down another tree");
    }
}

/// Runs cloud-init's own write_files module on a node's user-data, into an overlay of /
/// inside a private mount namespace (only the overlay's upper layer sees the files, and it
/// vanishes after); with `identity`, then places it where the image keeps it and runs the
/// node's unpacker there, as its first-boot unit would. What the upper layer holds then:
/// (mode, sha256) by absolute path.
fn write_files(b: &Bake, node: &str, identity: Option<&Path>) -> BTreeMap<String, (u32, String)> {
    let script = r#"set -eu
T=$1
mount -t tmpfs tmpfs "$T"
mkdir -p "$T/upper" "$T/work" "$T/merged"
mount -t overlay overlay -o lowerdir=/,upperdir="$T/upper",workdir="$T/work" "$T/merged"
for d in proc sys dev; do mount --rbind "/$d" "$T/merged/$d"; done
chroot "$T/merged" /usr/bin/python3 -B -c '
import logging, sys, yaml
from cloudinit.config import cc_write_files
class Distro:
    default_owner = "root:root"
class Cloud:
    distro = Distro()
cfg = yaml.safe_load(sys.stdin)
cc_write_files.handle("write_files", cfg, Cloud(), logging.getLogger("kubebake-test"), [])
'
if [ -n "${2:-}" ]; then
  install -D -m 0600 "$2" "$T/merged/etc/kubebake/age.key"
  bash "$T/merged/opt/kubebake/unpack.sh" "$T/merged" >&2
fi
cd "$T/upper"
find . -type f ! -name '*.pyc' -printf '%m %p\n' | while read -r mode path; do
  echo "$mode $(sha256sum "$path" | cut -d' ' -f1) ${path#.}"
done
"#;
    let mount_point = b.path(&format!("mnt-{node}"));
    fs::create_dir_all(&mount_point).unwrap();
    let user_data = fs::File::open(b.out().join(node).join("user-data")).unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script, "write-files"])
        .arg(&mount_point)
        .args(identity)
        .stdin(Stdio::from(user_data))
        .output()
        .unwrap();
    assert!(out.status.success(), "{node}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let mode = u32::from_str_radix(parts.next().unwrap(), 8).unwrap();
            let sum = parts.next().unwrap().to_string();
            (parts.next().unwrap().to_string(), (mode, sum))
        })
        .collect()
}

#[test]
fn ignition_validate_accepts_every_config() {
    let Some(validate) = tool("ignition-validate", "ignition") else { return };
    for (os, version) in [("flatcar", "3.3.0"), ("fedora-coreos", "3.3.0")] {
        let b = Bake::new(&ignition_spec(os, version, true));
        b.bake(&[]).assert_ok();
        for node in IGNITION_NODES {
            let config = b.out().join(node).join("config.ign");
            run_ok(Command::new(&validate).arg(&config));
            let outer: serde_json::Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
            assert_eq!(outer["ignition"]["version"], version);
            // The inner config is validated too: ignition-validate does not follow references.
            let json = ignition_inner(&config);
            let inner = b.path(&format!("{os}-{node}-inner.ign"));
            fs::write(&inner, serde_json::to_vec(&json).unwrap()).unwrap();
            run_ok(Command::new(&validate).arg(&inner));
            assert_eq!(json["ignition"]["version"], version);
            assert_eq!(json["passwd"]["users"][0]["name"], "core");
            let unit = &json["systemd"]["units"][0];
            assert_eq!(
                (unit["name"].as_str(), unit["enabled"].as_bool()),
                (Some("kubebake-firstboot.service"), Some(true))
            );
        }
    }
}

#[test]
fn spec_3_4_0_differs_only_in_its_version() {
    // Debian's Ignition (2.14) predates spec 3.4.0, so it cannot validate it; kubebake uses
    // nothing 3.4.0 changed, and the configs are the same but for the version.
    let old = Bake::new(&ignition_spec("flatcar", "3.3.0", true));
    old.bake(&[]).assert_ok();
    let new = Bake::new(&ignition_spec("flatcar", "3.4.0", true));
    fs::create_dir_all(new.state()).unwrap();
    for (path, (bytes, _)) in snapshot(&old.state()) {
        let target = new.state().join(&path);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(target, bytes).unwrap();
    }
    new.bake(&[]).assert_ok();
    for node in IGNITION_NODES {
        let inner = |b: &Bake| serde_json::to_string(&ignition_inner(&b.out().join(node).join("config.ign"))).unwrap();
        assert_eq!(inner(&old).replace("\"version\":\"3.3.0\"", "\"version\":\"3.4.0\""), inner(&new));
    }
}

/// Runs real Ignition's fetch-offline and files stages for `config` into `root`; gives
/// back the systemd presets it wrote (and removes them, with its own other files).
fn run_ignition(b: &Bake, config: &Path, root: &Path, run: &Path) -> String {
    // Debian builds Ignition to relabel what it writes for SELinux, which needs setfiles and
    // a policy inside the target; neither matters to which files land where, so relabeling
    // is a no-op here.
    let stubs = b.path("stubs");
    fs::create_dir_all(&stubs).unwrap();
    fs::write(stubs.join("setfiles"), "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(stubs.join("setfiles"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", stubs.display(), std::env::var("PATH").unwrap_or_default());
    // Ignition relabels for SELinux unless the target says SELinux is off.
    fs::create_dir_all(root.join("etc/selinux")).unwrap();
    fs::write(root.join("etc/selinux/config"), "SELINUX=disabled\nSELINUXTYPE=targeted\n").unwrap();
    fs::create_dir_all(run).unwrap();
    for stage in ["fetch-offline", "files"] {
        let out = Command::new(IGNITION)
            .args(["-platform", "file", "-stage", stage, "-log-to-stdout", "-root"])
            .arg(root)
            .arg("-config-cache")
            .arg(run.join("config.json"))
            .arg("-state-file")
            .arg(run.join("state"))
            .arg("-neednet")
            .arg(run.join("neednet"))
            .env("IGNITION_CONFIG_FILE", config)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{} {stage}: {}", config.display(), String::from_utf8_lossy(&out.stdout));
    }
    let preset = root.join("etc/systemd/system-preset/20-ignition.preset");
    let presets = fs::read_to_string(&preset).unwrap();
    for own in [preset, root.join("etc/selinux/config"), root.join("etc/.ignition-result.json")] {
        fs::remove_file(own).unwrap();
    }
    presets
}

fn tree(root: &Path) -> BTreeMap<String, (u32, String)> {
    snapshot(root)
        .into_iter()
        .map(|(path, (bytes, mode))| (format!("/{path}"), (mode, kubebake::fmt::hex(&sha2::Sha256::digest(&bytes)))))
        .collect()
}

#[test]
fn ignition_and_the_nodes_unpacker_lay_down_the_rootfs_and_enable_the_first_boot_unit() {
    // The node's unpacker opens a control plane's pack with xz.
    if tool("ignition-validate", "ignition").is_none() || tool("xz", "xz-utils").is_none() || !root_or_skip() {
        return;
    }
    assert!(Path::new(IGNITION).exists(), "Debian's ignition package puts the binary at {IGNITION}");
    // A worker pool's machines too: its user-data names no machine (no /etc/hostname).
    let b = Bake::new(&format!("{}  workerPools: [{{name: gpu}}]\n", ignition_spec("flatcar", "3.3.0", false)));
    b.bake(&[]).assert_ok();
    for node in IGNITION_NODES.into_iter().chain(["pool-gpu"]) {
        let root = b.path(&format!("ign-root-{node}"));
        let presets =
            run_ignition(&b, &b.out().join(node).join("config.ign"), &root, &b.path(&format!("ign-run-{node}")));
        assert!(presets.lines().any(|l| l == "enable kubebake-firstboot.service"), "{presets}");
        // Ignition places what boot reads, the unpacker and the pack; the unit runs the
        // unpacker before the first-boot script, which comes out of the pack.
        let pack = if node.starts_with("cp") { "/etc/kubebake/node.pack.xz" } else { "/etc/kubebake/node.pack.gz" };
        let laid: Vec<String> = tree(&root).into_keys().collect();
        let mut expected = vec![
            pack.to_string(),
            "/etc/systemd/system/kubebake-firstboot.service".to_string(),
            "/opt/kubebake/unpack.sh".to_string(),
        ];
        if !node.starts_with("pool-") {
            expected.push("/etc/hostname".to_string());
        }
        expected.sort();
        assert_eq!(laid, expected, "{node}");
        let unit = fs::read_to_string(root.join("etc/systemd/system/kubebake-firstboot.service")).unwrap();
        assert!(
            unit.contains("ExecStartPre=/opt/kubebake/unpack.sh\nExecStart=/opt/kubebake/firstboot.sh\n"),
            "{unit}"
        );
        let out = unpack(&root);
        assert!(out.status.success(), "{node}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(tree(&root), rootfs(&b, node), "{node}: Ignition and the unpacker laid down another tree");
        // Once placed, a later boot's run has nothing to do and changes nothing.
        let again = unpack(&root);
        assert!(again.status.success() && String::from_utf8_lossy(&again.stdout).contains("no pack"));
        assert_eq!(tree(&root), rootfs(&b, node), "{node}");
    }
}

#[test]
fn a_sealed_config_is_laid_down_by_ignition_and_opened_by_the_nodes_unpacker() {
    if tool("ignition-validate", "ignition").is_none() || tool("xz", "xz-utils").is_none() || !root_or_skip() {
        return;
    }
    let Some(id) = age_identity() else { return };
    // A worker pool's machines too: they open their seal like any node.
    let spec = format!("{}  workerPools: [{{name: gpu}}]\n", ignition_spec("flatcar", "3.3.0", false));
    let b = Bake::new(&sealed_spec(&spec, &id.recipient));
    b.bake(&[]).assert_ok();
    for node in IGNITION_NODES.into_iter().chain(["pool-gpu"]) {
        let config = b.out().join(node).join("config.ign");
        run_ok(Command::new("ignition-validate").arg(&config));
        let root = b.path(&format!("ign-root-{node}"));
        let presets = run_ignition(&b, &config, &root, &b.path(&format!("ign-run-{node}")));
        assert!(presets.lines().any(|l| l == "enable kubebake-firstboot.service"), "{presets}");
        // Ignition lays what boot reads, the unit, the unpacker and the sealed pack, no more.
        let pack =
            if node.starts_with("cp") { "/etc/kubebake/node.pack.xz.age" } else { "/etc/kubebake/node.pack.gz.age" };
        let mut expected = vec![pack, "/etc/systemd/system/kubebake-firstboot.service", "/opt/kubebake/unpack.sh"];
        if !node.starts_with("pool-") {
            expected.push("/etc/hostname");
        }
        expected.sort();
        assert_eq!(tree(&root).keys().collect::<Vec<_>>(), expected, "{node}");
        // The image's identity, as `kubebake image --age-identity` places it.
        give_identity(&root, &id.file);
        let out = unpack(&root);
        assert!(out.status.success(), "{node}: {}", String::from_utf8_lossy(&out.stderr));
        let mut laid = tree(&root);
        assert_eq!(laid.remove("/etc/kubebake/age.key").map(|(mode, _)| mode), Some(0o600));
        assert_eq!(laid, rootfs(&b, node), "{node}: Ignition, age and the unpacker laid down another tree");
    }
}

#[test]
fn a_damaged_or_altered_pack_places_nothing_and_says_so() {
    // The node's unpacker opens a control plane's pack with xz.
    if tool("ignition-validate", "ignition").is_none() || tool("xz", "xz-utils").is_none() || !root_or_skip() {
        return;
    }
    let b = Bake::new(&ignition_spec("flatcar", "3.3.0", false));
    b.bake(&[]).assert_ok();
    let root = b.path("ign-root");
    run_ignition(&b, &b.out().join("cp-2").join("config.ign"), &root, &b.path("ign-run"));
    let pack = root.join("etc/kubebake/node.pack.xz");
    let good = fs::read(&pack).unwrap();
    let before = tree(&root);
    let status = root.join("var/lib/kubebake/status");
    // Bytes flipped in transit: xz's own check refuses it.
    let mut damaged = good.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x40;
    // A pack that opens but whose contents are not what was baked (one byte of the data
    // changed, recompressed): the digest refuses it.
    let payload = {
        let out = Command::new("xz").args(["-dc"]).arg(&pack).output().unwrap();
        assert!(out.status.success());
        let mut p = out.stdout;
        let last = p.len() - 1;
        p[last] ^= 1;
        p
    };
    let mut xz = Command::new("xz").args(["-c"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    {
        use std::io::Write;
        xz.stdin.take().unwrap().write_all(&payload).unwrap();
    }
    let altered = xz.wait_with_output().unwrap().stdout;
    for (bytes, says) in [(damaged, "cannot open"), (altered, "do not match the bake's digest; nothing placed")] {
        fs::write(&pack, &bytes).unwrap();
        let out = unpack(&root);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(says), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(fs::read_to_string(&status).unwrap().starts_with("failed: unpack: "), "first boot's status says why");
        fs::remove_file(&status).unwrap();
        fs::remove_dir(status.parent().unwrap()).unwrap();
        fs::remove_dir(root.join("var/lib")).unwrap();
        fs::remove_dir(root.join("var")).unwrap();
        let mut now = tree(&root);
        now.remove("/etc/kubebake/node.pack.xz");
        let mut was = before.clone();
        was.remove("/etc/kubebake/node.pack.xz");
        assert_eq!(now, was, "nothing placed, nothing left behind");
    }
    fs::write(&pack, &good).unwrap();
    assert!(unpack(&root).status.success());
    assert_eq!(tree(&root), rootfs(&b, "cp-2"));
}

#[test]
fn shellcheck_passes_every_first_boot_script() {
    let Some(shellcheck) = tool("shellcheck", "shellcheck") else { return };
    let mut checked = 0;
    for os in ["ubuntu-24.04", "debian-12", "flatcar", "fedora-coreos"] {
        for packages in ["", "  packages: prebaked\n", "  packages: bundle\n"] {
            let spec = ignition_spec(os, "3.3.0", false)
                .replace(
                    "  ignitionVersion: 3.3.0\n",
                    &format!("  vip: {{address: 10.0.0.10, interface: eth0}}\n{packages}"),
                )
                .replace("  nodes:\n", "  cni: {mode: manifest, registry: registry.internal}\n  nodes:\n");
            let b = Bake::new(&spec);
            fs::write(b.path("bundle.tar"), "a bundle").unwrap();
            b.bake(if packages.contains("bundle") { &["--bundle", "bundle.tar"] } else { &[] }).assert_ok();
            for node in IGNITION_NODES {
                for script in ["/opt/kubebake/firstboot.sh", "/opt/kubebake/unpack.sh"] {
                    let script = b.node_file(node, script);
                    if !script.exists() {
                        continue;
                    }
                    let out = Command::new(&shellcheck).arg(&script).output().unwrap();
                    assert!(out.status.success(), "{os} {node}:\n{}", String::from_utf8_lossy(&out.stdout));
                    checked += 1;
                }
            }
        }
    }
    // Both scripts on Ignition's two distributions, the first-boot script on the others.
    assert_eq!(checked, 2 * 3 * 4 * 2 + 2 * 3 * 4);
}

#[test]
fn the_first_boot_script_follows_the_profile_and_role() {
    let b = Bake::new(&cloud_init_spec("ubuntu-24.04"));
    b.bake(&[]).assert_ok();
    let script = |node: &str| fs::read_to_string(b.node_file(node, "/opt/kubebake/firstboot.sh")).unwrap();
    let init = script("cp-1");
    assert!(init.contains("kubeadm init --config \"$CONFIG\""));
    let version = kubebake::model::versions::DEFAULT_VERSION;
    let v = version.to_string();
    let v = v.trim_start_matches('v');
    assert!(init.contains(&format!("'kubelet={v}-*' 'kubeadm={v}-*' 'kubectl={v}-*'")));
    assert!(init.contains(&format!("https://pkgs.k8s.io/core:/stable:/v{}/deb/", version.minor_name())));
    assert!(init.contains("ufw allow"));
    // Every value is one single-quoted word (the templates' `sh` filter).
    assert!(init.contains(
        "for port in '6443/tcp' '2379:2380/tcp' '10250/tcp' '10257/tcp' '10259/tcp' '179/tcp' '4789/udp' '5473/tcp';"
    ));
    assert!(
        init.contains(
            "install -m 0600 '/etc/kubebake/kube-vip-after-init.yaml' /etc/kubernetes/manifests/kube-vip.yaml"
        )
    );
    assert!(init.contains("step cni"));
    let join = script("cp-2");
    assert!(join.contains("kubeadm join --config \"$CONFIG\"") && !join.contains("kubeadm init"));
    let worker = script("yes");
    assert!(worker.contains("for port in '10250/tcp' '10256/tcp' '30000:32767/tcp' '179/tcp' '4789/udp' '5473/tcp';"));
    assert!(!worker.contains("step cni"));
    // containerd: systemd cgroups and the kubelet's pause image; mirrors where given.
    let containerd = fs::read_to_string(b.node_file("yes", "/etc/containerd/config.toml")).unwrap();
    let pause = kubebake::model::versions::DEFAULT_VERSION.kubeadm().pause;
    assert!(
        containerd.contains("SystemdCgroup = true")
            && containerd.contains(&format!("sandbox_image = \"registry.k8s.io/pause:{pause}\"")),
        "{containerd}"
    );
    let hosts = fs::read_to_string(b.node_file("yes", "/etc/containerd/certs.d/docker.io/hosts.toml")).unwrap();
    assert!(hosts.contains("[host.\"https://mirror.example.internal\"]"));
    // Debian: no firewall to open; a baked image: versions checked, nothing installed.
    let b = Bake::new(
        &cloud_init_spec("debian-12").replace("  os: debian-12\n", "  os: debian-12\n  packages: prebaked\n"),
    );
    b.bake(&[]).assert_ok();
    let s = fs::read_to_string(b.node_file("cp-1", "/opt/kubebake/firstboot.sh")).unwrap();
    assert!(s.contains("firewall: none; leaving the firewall alone"));
    let v = default_version();
    assert!(s.contains(&format!("[ \"$found\" = '{v}' ] || fail \"kubeadm is $found, not \"'{v}'\n")));
    assert!(!s.contains("apt-get") && !s.contains("curl -fsSL -o \"$BIN"));
    // Flatcar: binaries downloaded into /opt/bin and checked against their sha256.
    let b = Bake::new(&ignition_spec("flatcar", "3.3.0", false));
    b.bake(&[]).assert_ok();
    let s = fs::read_to_string(b.node_file("worker-1", "/opt/kubebake/firstboot.sh")).unwrap();
    assert!(
        s.contains("readonly BIN='/opt/bin'")
            && s.contains(&format!(
                "'https://dl.k8s.io/release/{}/bin/linux'\"/$arch/$name.sha256\"",
                default_version()
            ))
    );
    let kubelet = fs::read_to_string(b.node_file("worker-1", "/etc/systemd/system/kubelet.service")).unwrap();
    assert!(kubelet.contains("ExecStart=/opt/bin/kubelet"));
    let kubelet_config = fs::read_to_string(b.node_file("worker-1", "/var/lib/kubelet/config.yaml")).unwrap();
    assert!(kubelet_config.contains("volumePluginDir: /opt/libexec/kubernetes/kubelet-plugins/volume/exec"));
}

#[test]
fn a_bundle_node_installs_from_the_bundle_and_the_user_data_does_not_grow() {
    let spec = cloud_init_spec("debian-12");
    let b = Bake::new(&spec.replace("  os: debian-12\n", "  os: debian-12\n  packages: bundle\n"));
    // Which bundle the nodes may run is the bake's to say, and nothing is written without it.
    let run = b.bake(&[]);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    assert!(run.stderr().contains("spec.packages is bundle: give the bundle the nodes' image carries (--bundle FILE)"));
    assert!(!b.out().exists() && !b.state().exists());
    fs::write(b.path("bundle.tar"), "the bundle the image carries").unwrap();
    let run = b.bake(&["--bundle", "bundle.tar"]);
    run.assert_ok();
    let sha = common::servers::sha256(b"the bundle the image carries");
    assert!(run.stdout().contains(&format!("recorded the bundle's sha256 {}", &sha[..16])), "{}", run.stdout());
    let s = fs::read_to_string(b.node_file("yes", "/opt/kubebake/firstboot.sh")).unwrap();
    // First boot checks that very bundle before it reads a byte of it, then its SHA256SUMS.
    let pinned = s.find(&format!("[ \"${{sum%% *}}\" = '{sha}' ]")).expect("the bundle's sha256 is checked");
    assert!(pinned < s.find("tar -xf").unwrap(), "the bundle is unpacked before it is checked");
    // The state keeps it: a later bake needs no --bundle, and changes nothing.
    let again = b.bake(&[]);
    again.assert_ok();
    assert!(again.stdout().contains("reused as it was"), "{}", again.stdout());
    assert!(s.contains("tar -xf '/opt/kubebake/bundle.tar' -C '/var/lib/kubebake/bundle'"));
    assert!(s.contains("sha256sum --check --quiet SHA256SUMS"));
    assert!(s.contains("'/var/lib/kubebake/bundle/kubebake-bundle/install.sh'"));
    assert!(!s.contains("apt-get") && !s.contains("curl -fsSL -o"), "a bundle node needs no network");
    // The kubelet's unit comes from the bundle, not the user-data.
    assert!(!b.node_file("yes", "/etc/systemd/system/kubelet.service").exists());
    // The user-data grows by the few install lines only. Same state for all three bakes, so
    // only the first-boot script differs.
    let size = |node: &str| fs::metadata(b.out().join(node).join("user-data.gz")).unwrap().len();
    let bundle: Vec<u64> = ["cp-1", "yes"].iter().map(|n| size(n)).collect();
    b.set_spec(&spec.replace("  os: debian-12\n", "  os: debian-12\n  packages: prebaked\n"));
    b.bake(&[]).assert_ok();
    let prebaked: Vec<u64> = ["cp-1", "yes"].iter().map(|n| size(n)).collect();
    b.set_spec(&spec);
    b.bake(&[]).assert_ok();
    let apt: Vec<u64> = ["cp-1", "yes"].iter().map(|n| size(n)).collect();
    for (i, node) in ["cp-1", "yes"].iter().enumerate() {
        println!("{node}: user-data.gz bundle {} B, prebaked {} B, apt {} B", bundle[i], prebaked[i], apt[i]);
        // The bundle's sha256 (64 hex digits, which gzip cannot shrink much) aside.
        assert!(
            bundle[i] <= apt[i] + 64,
            "{node}: bundle {} B is larger than today's default (apt) {} B and a sha256",
            bundle[i],
            apt[i]
        );
        // Beside prebaked: the bundle's install lines and its sha256 check.
        assert!(bundle[i] <= prebaked[i] + 200, "{node}: bundle {} B vs prebaked {} B", bundle[i], prebaked[i]);
    }
}

#[test]
fn templates_can_be_overridden() {
    let b = Bake::new(&ha_spec(0, "ECDSA-P256"));
    fs::create_dir_all(b.path("my-templates")).unwrap();
    fs::write(
        b.path("my-templates/sysctl.conf.tera"),
        "# ours for {{ nothing | default(value='all') }}\nvm.swappiness = 0\n",
    )
    .unwrap();
    b.bake(&["--templates", "my-templates"]).assert_ok();
    assert_eq!(
        fs::read_to_string(b.node_file("cp-2", "/etc/sysctl.d/99-kubebake.conf")).unwrap(),
        "# ours for all\nvm.swappiness = 0\n"
    );
    fs::write(b.path("my-templates/firstboot.tera"), "").unwrap();
    let run = b.bake(&["--templates", "my-templates"]);
    assert!(!run.ok());
    assert!(run.stderr().contains("firstboot.tera overrides no template"), "{}", run.stderr());
}

#[test]
fn sizes_are_reported_and_platform_limits_enforced() {
    // The sizes of user-data in clear (secrets at rest are another test's).
    let quickstart = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart.yaml")).unwrap();
    let b = Bake::new(&quickstart);
    let run = b.bake(&["--platform", "aws", "--allow-clear-secrets"]);
    run.assert_ok();
    let line = run.stdout().lines().find(|l| l.trim_start().starts_with("cp-1")).unwrap().to_string();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[4], "cloud-init", "{line}");
    let delivered: usize = cols[6].parse().unwrap();
    assert!(delivered <= 16_384, "quickstart's control plane does not fit EC2: {line}");
    assert_eq!(delivered, fs::read(b.out().join("cp-1/user-data.gz")).unwrap().len());
    // RSA-4096 and a shipped Calico manifest make the control plane too big for EC2: refused,
    // with the node, the size and advice; and nothing is written.
    let big = quickstart.replace("encryptionAlgorithm: ECDSA-P256", "encryptionAlgorithm: RSA-4096");
    let b = Bake::new(&big);
    let run = b.bake(&["--platform", "aws", "--allow-clear-secrets"]);
    assert!(!run.ok());
    assert!(run.stderr().contains("user-data over aws's limit of 16384 bytes: cp-1 ("), "{}", run.stderr());
    assert!(run.stderr().contains("RSA-4096 keys are random bytes"), "{}", run.stderr());
    assert!(run.stderr().contains("encryptionAlgorithm: ECDSA-P256"), "{}", run.stderr());
    assert!(!run.stderr().contains("worker"), "workers fit: {}", run.stderr());
    assert!(!b.out().exists());
    // The advice holds: RSA-2048 control planes are over in both formats, workers are not.
    let ha = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ha.yaml")).unwrap();
    for os in ["debian-12", "flatcar"] {
        let spec = ha.replacen("\nspec:\n", &format!("\nspec:\n  os: {os}\n"), 1);
        let rsa = spec.replace("  pki:\n", "  pki:\n    encryptionAlgorithm: RSA-2048\n");
        let b = Bake::new(&rsa);
        let run = b.bake(&["--platform", "aws", "--allow-clear-secrets"]);
        assert!(!run.ok() && run.stderr().contains("RSA-2048 keys are random bytes"), "{os}: {}", run.stderr());
        assert!(run.stderr().contains("cp-3 (") && !run.stderr().contains("worker-1 ("), "{os}: {}", run.stderr());
        // With the default ECDSA-P256, every node fits, in both formats (Ignition: the pack).
        Bake::new(&spec).bake(&["--platform", "aws", "--allow-clear-secrets"]).assert_ok();
    }
    // GCE takes it.
    b.bake(&["--platform", "gce", "--allow-clear-secrets"]).assert_ok();
}

#[test]
fn a_cloud_with_a_metadata_service_gets_no_control_plane_keys_in_clear_unless_asked() {
    let quickstart = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart.yaml")).unwrap();
    for platform in ["aws", "azure", "gce", "openstack", "hetzner"] {
        let b = Bake::new(&quickstart);
        let run = b.bake(&["--platform", platform]);
        assert_eq!(run.output.status.code(), Some(2), "{platform}: {}", run.stderr());
        let e = run.stderr();
        assert!(
            e.contains(&format!(
                "--platform {platform}: the user-data of cp-1 would hold the cluster's CA keys in clear"
            )),
            "{e}"
        );
        assert!(e.contains("spec.secrets.encryptTo") && e.contains("--allow-clear-secrets"), "{e}");
        assert!(!b.out().exists() && !b.state().exists(), "{platform}: written before refusing");
        b.bake(&["--platform", platform, "--allow-clear-secrets"]).assert_ok();
    }
    // Where nothing serves the user-data over the network, or nothing secret is in clear.
    Bake::new(&quickstart).bake(&["--platform", "vsphere"]).assert_ok();
    Bake::new(&quickstart).bake(&["--platform", "none"]).assert_ok();
    let sealed = quickstart.replacen(
        "\nspec:\n",
        "\nspec:\n  secrets: {encryptTo: age1pce3h48yq6wxkgfcdhyefu4my9lycys3jyun7rexs0e9h05j0alqzx27te}\n",
        1,
    );
    Bake::new(&sealed).bake(&["--platform", "aws"]).assert_ok();
}

#[test]
fn ignition_nodes_get_static_addressing_in_their_own_network_files() {
    let Some(validate) = tool("ignition-validate", "ignition") else { return };
    let net = "  nodeNetwork: {interface: ens3, prefixLength: 24, gateway: 10.0.0.1, nameservers: [10.0.0.1, 1.1.1.1]}\n  nodes:\n";
    let flatcar = Bake::new(&ignition_spec("flatcar", "3.3.0", false).replace("  nodes:\n", net));
    flatcar.bake(&[]).assert_ok();
    let networkd =
        fs::read_to_string(flatcar.node_file("cp-2", "/etc/systemd/network/10-kubebake-ens3.network")).unwrap();
    assert!(networkd.contains("Name=ens3\n") && networkd.contains("Address=10.0.0.12/24\n"), "{networkd}");
    assert!(networkd.contains("Gateway=10.0.0.1\n") && networkd.contains("DNS=1.1.1.1\n"), "{networkd}");
    let fcos = Bake::new(&ignition_spec("fedora-coreos", "3.3.0", false).replace("  nodes:\n", net));
    fcos.bake(&[]).assert_ok();
    let path = "/etc/NetworkManager/system-connections/kubebake-ens3.nmconnection";
    let keyfile = fs::read_to_string(fcos.node_file("worker-1", path)).unwrap();
    assert!(
        keyfile.contains("address1=10.0.0.21/24,10.0.0.1\n") && keyfile.contains("dns=10.0.0.1;1.1.1.1;\n"),
        "{keyfile}"
    );
    // NetworkManager ignores keyfiles that others can read.
    assert_eq!(snapshot(&fcos.out().join("worker-1/rootfs"))[path.trim_start_matches('/')].1, 0o600);
    for b in [&flatcar, &fcos] {
        for node in IGNITION_NODES {
            let config = b.out().join(node).join("config.ign");
            run_ok(Command::new(&validate).arg(&config));
            let inner = b.path(&format!("{node}-inner.ign"));
            fs::write(&inner, serde_json::to_vec(&ignition_inner(&config)).unwrap()).unwrap();
            run_ok(Command::new(&validate).arg(&inner));
            // cloud-init's network-config is for cloud-init nodes only.
            assert!(!b.out().join(node).join("network-config").exists());
        }
    }
}
