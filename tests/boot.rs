//! The boot tier: every node of the HA example boots its user-data for real, as a systemd
//! container (systemd-nspawn, systemd 252 as PID 1) from a Debian 12 root with real
//! cloud-init 22.4, its NoCloud seed in place, in a network namespace of its own on a
//! bridge with no uplink (tests/boot/boot.sh lists the workarounds this host needs, all
//! on the container or the image). Only the debian-12 profile's cloud-init path: Ubuntu and
//! the Ignition distributions have no root that can be built here.
//!
//! kubeadm and the kubelet cannot run in these containers (their cgroup controllers are
//! read-only); the end-to-end tier (tests/e2e.rs) runs them. Here the first boot must get
//! through `prepare` and, with the e2e kit's binaries in the image, `packages: prebaked`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

const BOOT_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boot/boot.sh");
const MKROOT_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boot/mkroot.sh");
const LAB_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/lab.sh");
const HA_EXAMPLE: &str = include_str!("../examples/ha.yaml");
const LAB_ROOT: &str = "/var/tmp/kubebake-lab";
const LAB: &str = "kbboot";
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKbM6n0xVf1cOwq8t4x2s7m1g9pJ6c8m3Hq0B6VqgD3e boot-tier@kubebake";

fn sh(script: &str, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script)
        .args(args)
        .env("KUBEBAKE_LAB_ROOT", LAB_ROOT)
        .env("KUBEBAKE_E2E_DIR", kits::default_kit_dir())
        .output()
        .unwrap()
}

#[track_caller]
fn sh_ok(script: &str, args: &[&str]) -> String {
    run_ok(
        Command::new("bash")
            .arg(script)
            .args(args)
            .env("KUBEBAKE_LAB_ROOT", LAB_ROOT)
            .env("KUBEBAKE_E2E_DIR", kits::default_kit_dir()),
    )
}

/// The tools and the cached root every boot test needs; false when one is missing here.
fn prerequisites() -> bool {
    let (Some(_), Some(_), Some(_)) =
        (tool("mmdebstrap", "mmdebstrap"), tool("systemd-nspawn", "systemd-container"), tool("ip", "iproute2"))
    else {
        return false;
    };
    if !root_or_skip() {
        return false;
    }
    sh_ok(MKROOT_SH, &[&boot_root()]);
    true
}

fn kit_present() -> bool {
    kits::default_kit().is_some()
}

/// The HA example as an image builder would bake it for these containers: the example's
/// nodes and addresses, static addressing, a login key, and binaries in the image.
fn spec() -> String {
    let mut s = HA_EXAMPLE.to_string();
    let extra = format!(
        "  os: debian-12\n  packages: prebaked\n  cni: {{plugin: none}}\n  login:\n    sshAuthorizedKeys: [\"{KEY}\"]\n  \
         nodeNetwork: {{interface: eth0, prefixLength: 24, gateway: 10.0.0.1, nameservers: [10.0.0.1]}}\n"
    );
    let at = s.find("  nodes:").expect("the example lists its nodes");
    s.insert_str(at, &extra);
    s
}

/// A lab's running containers, stopped and removed on drop.
struct Containers(&'static str);

impl Drop for Containers {
    fn drop(&mut self) {
        if std::env::var_os("KUBEBAKE_E2E_KEEP").is_none() {
            let _ = sh(BOOT_SH, &["down", self.0]);
        }
    }
}

fn node_dir(node: &str) -> PathBuf {
    Path::new(LAB_ROOT).join(LAB).join(node)
}

fn exec(node: &str, cmd: &[&str]) -> String {
    let mut args = vec!["exec", LAB, node];
    args.extend_from_slice(cmd);
    sh_ok(BOOT_SH, &args)
}

fn state_file(node: &str, name: &str) -> PathBuf {
    node_dir(node).join("merged/var/lib/kubebake").join(name)
}

fn wait_until(what: &str, node: &str, timeout: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            let console = fs::read_to_string(node_dir(node).join("console.log")).unwrap_or_default();
            let tail: Vec<&str> = console.lines().rev().take(60).collect();
            panic!(
                "{node}: {what} not within {timeout:?}; console:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_ha_example_boots_under_systemd_and_cloud_init_and_first_boot_resumes_after_a_restart() {
    if !prerequisites() {
        return;
    }

    let b = Bake::new(&spec());
    b.bake(&[]).assert_ok();
    let model = yaml_value(&spec());
    let nodes: Vec<(String, String)> = model["spec"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap().to_string(), n["address"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(nodes.len(), 6);

    let _ = sh(BOOT_SH, &["down", LAB]);
    let _containers = Containers(LAB);
    let mut net = vec!["net-up", "--bare", LAB, "10.0.0.1/24"];
    let pairs: Vec<String> = nodes.iter().map(|(n, a)| format!("{n}={a}")).collect();
    net.extend(pairs.iter().map(String::as_str));
    sh_ok(LAB_SH, &net);

    // All six at once; boot-to-first-boot is the time until the unit wrote its status.
    let out = b.out();
    let started: BTreeMap<&str, Instant> = nodes
        .iter()
        .map(|(node, _)| {
            sh_ok(BOOT_SH, &["start", LAB, node, out.to_str().unwrap(), &boot_root()]);
            (node.as_str(), Instant::now())
        })
        .collect();
    let mut first_boot = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    while first_boot.len() < nodes.len() {
        for (node, _) in &nodes {
            if !first_boot.contains_key(node.as_str()) && state_file(node, "status").exists() {
                first_boot.insert(node.as_str(), started[node.as_str()].elapsed().as_secs_f64());
            }
        }
        assert!(Instant::now() < deadline, "first boot did not start on every node: {first_boot:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    for (node, secs) in &first_boot {
        figure("boot tier", &format!("{node}: {secs:.1} s from power-on to the first-boot unit running"));
    }

    let packages_expected = kit_present();
    for (node, address) in &nodes {
        // First boot gets through prepare (and, with the kit's binaries, the packages check).
        let last = if packages_expected { "packages.done" } else { "prepare.done" };
        wait_until(last, node, Duration::from_secs(120), || state_file(node, last).exists());

        // cloud-init: all stages done, no errors, from the NoCloud seed.
        let status = exec(node, &["cloud-init", "status", "--long"]);
        assert!(status.contains("status: done"), "{node}: {status}");
        assert!(status.contains("DataSourceNoCloud"), "{node}: {status}");
        // /run is the container's own tmpfs: read it from inside.
        let result: serde_json::Value =
            serde_json::from_str(&exec(node, &["cat", "/run/cloud-init/result.json"])).unwrap();
        assert_eq!(result["v1"]["errors"], serde_json::json!([]), "{node}: {result}");

        // Every baked file landed byte for byte, with its mode, owned by root.
        let merged = node_dir(node).join("merged");
        let baked = snapshot(&out.join(node).join("rootfs"));
        assert!(baked.len() > 5, "{node}: {} files", baked.len());
        for (rel, (bytes, mode)) in &baked {
            let path = merged.join(rel);
            let landed = fs::read(&path).unwrap_or_else(|e| panic!("{node}: /{rel}: {e}"));
            assert!(landed == *bytes, "{node}: /{rel} differs from the baked file");
            let meta = fs::metadata(&path).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, *mode, "{node}: /{rel} mode");
            assert_eq!((meta.uid(), meta.gid()), (0, 0), "{node}: /{rel} owner");
        }

        // Hostname, static address and the login key as the spec says.
        assert_eq!(exec(node, &["hostname"]).trim(), node);
        let addr = exec(node, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
        assert!(addr.contains(&format!("inet {address}/24 ")), "{node}: {addr}");
        let keys = exec(node, &["cat", "/home/debian/.ssh/authorized_keys"]);
        assert!(keys.contains(KEY), "{node}: {keys}");

        // systemd started the first-boot unit, and only once cloud-init had laid the files.
        let unit =
            exec(node, &["systemctl", "show", "kubebake-firstboot.service", "-p", "ExecMainStartTimestampMonotonic"]);
        let config = exec(node, &["systemctl", "show", "cloud-config.service", "-p", "ActiveEnterTimestampMonotonic"]);
        let number = |s: &str| s.trim().split('=').nth(1).unwrap().parse::<u64>().unwrap();
        assert!(number(&unit) > 0, "{node}: the unit never started");
        assert!(number(&unit) >= number(&config), "{node}: first boot started before cloud-config finished");
        let log = exec(node, &["journalctl", "-b", "-u", "kubebake-firstboot.service", "--no-pager", "-o", "cat"]);
        assert!(log.contains("kubebake: prepare: done"), "{node}:\n{log}");
    }

    // A restart resumes first boot, on a control plane and a worker: finished steps are
    // not run again, and the boot itself finishes, cloud-init's final stage included, while
    // first boot goes on (the worker waits for an endpoint that never answers here).
    for node in ["cp-1", "worker-1"] {
        sh_ok(BOOT_SH, &["stop", LAB, node]);
        let console = || fs::read_to_string(node_dir(node).join("console.log")).unwrap_or_default();
        let before = console().len();
        let restarted = Instant::now();
        sh_ok(BOOT_SH, &["start", LAB, node, out.to_str().unwrap(), &boot_root()]);
        wait_until("a resumed first boot", node, Duration::from_secs(120), || {
            console()[before..].contains("kubebake: prepare: finished on an earlier boot")
        });
        figure(
            "boot tier",
            &format!("{node}: restarted, first boot resumed {:.1} s after power-on", restarted.elapsed().as_secs_f64()),
        );
        let again = console()[before..].to_string();
        assert!(!again.contains("kubebake: prepare: starting"), "{node}: prepare ran again:\n{again}");
        if packages_expected {
            wait_until("packages resumed", node, Duration::from_secs(60), || {
                console()[before..].contains("kubebake: packages: finished on an earlier boot")
            });
        }
        let status = exec(node, &["cloud-init", "status", "--wait"]);
        assert!(status.contains("status: done"), "{node}: {status}");
    }

    // Once a node is set up, first boot's last step removes the join token's file and
    // cloud-init's copies of the user-data it ran (kubeadm cannot finish here, so cp-2 runs
    // that step alone, from its own script); a restart then runs none of cloud-init's
    // per-instance modules again: the removed file is not written back.
    let node = "cp-2";
    let script = fs::read_to_string(out.join(node).join("rootfs/opt/kubebake/firstboot.sh")).unwrap();
    let start = script.find("\nscrub() {\n").expect("the script has a scrub step") + 1;
    let scrub = &script[start..start + script[start..].find("\n}\n").unwrap() + 3];
    let cached = "ls /var/lib/cloud/instances/*/user-data.txt /var/lib/cloud/instances/*/obj.pkl";
    assert!(exec(node, &["bash", "-c", cached]).contains("user-data.txt"), "cloud-init keeps no copy to remove");
    exec(node, &["bash", "-c", &format!("CONFIG=/etc/kubebake/kubeadm-config.yaml\n{scrub}scrub")]);
    let left = exec(node, &["bash", "-c", &format!("{cached} 2>/dev/null; ls /etc/kubebake; true")]);
    assert!(!left.contains("user-data.txt") && !left.contains("obj.pkl"), "{node}: {left}");
    assert!(!left.contains("kubeadm-config.yaml"), "{node}: {left}");
    sh_ok(BOOT_SH, &["stop", LAB, node]);
    sh_ok(BOOT_SH, &["start", LAB, node, out.to_str().unwrap(), &boot_root()]);
    wait_until("cloud-init after a restart", node, Duration::from_secs(120), || {
        sh(BOOT_SH, &["exec", LAB, node, "cloud-init", "status"]).status.success()
    });
    let status = exec(node, &["cloud-init", "status", "--wait", "--long"]);
    assert!(status.contains("status: done"), "{node}: {status}");
    let result: serde_json::Value = serde_json::from_str(&exec(node, &["cat", "/run/cloud-init/result.json"])).unwrap();
    assert_eq!(result["v1"]["errors"], serde_json::json!([]), "{node}: {result}");
    let after = exec(node, &["ls", "/etc/kubebake"]);
    assert!(!after.contains("kubeadm-config.yaml"), "cloud-init wrote the files again after the restart: {after}");
}

/// On a container host that keeps /proc/sys read-only, first boot stops in `prepare` and
/// names the key it needed, rather than going on with a node that cannot route pods.
#[test]
fn a_node_that_cannot_set_a_needed_sysctl_fails_naming_it() {
    if !prerequisites() {
        return;
    }
    let lab = "kbboot-ro";
    let b = Bake::new(&spec());
    b.bake(&[]).assert_ok();
    let _ = sh(BOOT_SH, &["down", lab]);
    let _containers = Containers(lab);
    sh_ok(LAB_SH, &["net-up", "--bare", lab, "10.0.0.1/24", "worker-1=10.0.0.21"]);
    let out = Command::new("bash")
        .args([BOOT_SH, "start", lab, "worker-1", b.out().to_str().unwrap(), &boot_root()])
        .env("KUBEBAKE_LAB_ROOT", LAB_ROOT)
        .env("KUBEBAKE_E2E_DIR", kits::default_kit_dir())
        .env("KBBOOT_SYSCTL_READONLY", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status = Path::new(LAB_ROOT).join(lab).join("worker-1/merged/var/lib/kubebake/status");
    let deadline = Instant::now() + Duration::from_secs(120);
    let text = loop {
        let text = fs::read_to_string(&status).unwrap_or_default();
        if text.starts_with("failed") {
            break text;
        }
        assert!(Instant::now() < deadline, "first boot did not fail: {text:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(text.trim(), "failed: prepare: cannot set sysctl net.ipv4.ip_forward to 1 (this node needs it)");
}

/// The boot tier's scripts are checked like the first-boot script.
#[test]
fn the_boot_tier_scripts_pass_shellcheck() {
    let Some(shellcheck) = tool("shellcheck", "shellcheck") else { return };
    let out = Command::new(shellcheck).args([BOOT_SH, MKROOT_SH]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

/// `secrets.encryptTo`: cloud-init lays the node's sealed pack and its unpacker, and the
/// first-boot unit's unpacker opens the pack with the image's identity before anything
/// else runs: every baked file, secrets included, lands as baked. A node whose image has
/// no identity stops at once, saying so.
#[test]
fn sealed_secrets_are_opened_by_the_images_identity_and_refused_without_it() {
    let Some(keygen) = tool("age-keygen", "age") else { return };
    if !prerequisites() {
        return;
    }
    let lab = "kbboot-seal";
    let keys = tempfile::tempdir().unwrap();
    let identity = keys.path().join("age.key");
    run_ok(Command::new(&keygen).arg("-o").arg(&identity));
    let recipient = run_ok(Command::new(&keygen).arg("-y").arg(&identity));
    let b = Bake::new(&format!("{}  secrets:\n    encryptTo: {}\n", spec(), recipient.trim()));
    b.bake(&[]).assert_ok();
    let out = b.out();
    let _ = sh(BOOT_SH, &["down", lab]);
    let _containers = Containers(lab);
    sh_ok(LAB_SH, &["net-up", "--bare", lab, "10.0.0.1/24", "cp-1=10.0.0.11", "worker-1=10.0.0.21"]);
    let start = |node: &str, identity: Option<&Path>| {
        let mut cmd = Command::new("bash");
        cmd.args([BOOT_SH, "start", lab, node, out.to_str().unwrap(), &boot_root()])
            .env("KUBEBAKE_LAB_ROOT", LAB_ROOT)
            .env("KUBEBAKE_E2E_DIR", kits::default_kit_dir());
        if let Some(i) = identity {
            cmd.env("KBBOOT_AGE_IDENTITY", i);
        }
        run_ok(&mut cmd);
    };
    start("cp-1", Some(&identity));
    start("worker-1", None);
    let dir = |node: &str| Path::new(LAB_ROOT).join(lab).join(node).join("merged");

    let status = dir("worker-1").join("var/lib/kubebake/status");
    let deadline = Instant::now() + Duration::from_secs(120);
    let text = loop {
        let text = fs::read_to_string(&status).unwrap_or_default();
        if text.starts_with("failed") {
            break text;
        }
        assert!(Instant::now() < deadline, "worker-1: first boot did not fail: {text:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(text.contains("unseal: this node's secrets are sealed to age1"), "{text}");
    assert!(text.contains("no identity at /etc/kubebake/age.key"), "{text}");
    assert!(!dir("worker-1").join("etc/kubebake/kubeadm-config.yaml").exists(), "worker-1 got its token in clear");

    let done = dir("cp-1").join("var/lib/kubebake/prepare.done");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut retried = false;
    while !done.exists() {
        let text = fs::read_to_string(dir("cp-1").join("var/lib/kubebake/status")).unwrap_or_default();
        // systemd in a container on the host's cgroup v1 hierarchies sometimes prunes the unit's
        // cgroup between ExecStartPre (the unpacker) and ExecStart, and fails the start with
        // 219/CGROUP before the script runs. That is the rig, not the node: start it once more.
        if !retried && text.is_empty() {
            let show =
                sh(BOOT_SH, &["exec", lab, "cp-1", "systemctl", "show", "-p", "ExecMainStatus", "kubebake-firstboot"]);
            if String::from_utf8_lossy(&show.stdout).trim() == "ExecMainStatus=219" {
                retried = true;
                eprintln!("cp-1: first-boot unit failed with 219/CGROUP (container cgroup race); starting it again");
                sh_ok(BOOT_SH, &["exec", lab, "cp-1", "systemctl", "restart", "--no-block", "kubebake-firstboot"]);
            }
        }
        if text.starts_with("failed") || Instant::now() > deadline {
            let journal =
                sh(BOOT_SH, &["exec", lab, "cp-1", "journalctl", "-b", "--no-pager", "-o", "cat", "-n", "80"]);
            panic!("cp-1: {text:?}; its journal:\n{}", String::from_utf8_lossy(&journal.stdout));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let baked = snapshot(&out.join("cp-1").join("rootfs"));
    assert!(baked.keys().any(|rel| rel == "etc/kubernetes/pki/ca.key"));
    for (rel, (bytes, mode)) in &baked {
        let path = dir("cp-1").join(rel);
        let landed = fs::read(&path).unwrap_or_else(|e| panic!("cp-1: /{rel}: {e}"));
        assert!(landed == *bytes, "cp-1: /{rel} differs from the baked file");
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, *mode, "cp-1: /{rel} mode");
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "cp-1: /{rel} owner");
    }
    // Neither the sealed pack nor what was opened from it is left lying about.
    let kubebake_dir: Vec<String> = fs::read_dir(dir("cp-1").join("etc/kubebake"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!kubebake_dir.iter().any(|n| n.starts_with("node.pack") || n.starts_with(".unpack.")), "{kubebake_dir:?}");
}

/// NoCloud from a seed medium instead of a seed directory: cp-1 gets its `seed.iso`,
/// worker-1 its `seed.img` (src/deliver/seed), each on a read-only loop device bound into
/// its container and nothing in /var/lib/cloud/seed. cloud-init's NoCloud finds the device
/// by its label with blkid and mounts it (tests/boot/boot.sh: through FUSE on a kernel
/// without the filesystem), and the node comes up from it as from the directory.
#[test]
fn a_node_is_seeded_from_its_nocloud_medium_iso_or_vfat() {
    use kubebake::deliver::seed::{self, MediaKind};
    if !prerequisites() {
        return;
    }
    let lab = "kbboot-medium";
    let b = Bake::new(&spec());
    b.bake(&[]).assert_ok();
    let out = b.out();
    let _ = sh(BOOT_SH, &["down", lab]);
    let _containers = Containers(lab);
    sh_ok(LAB_SH, &["net-up", "--bare", lab, "10.0.0.1/24", "cp-1=10.0.0.11", "worker-1=10.0.0.21"]);
    let nodes = [("cp-1", MediaKind::Iso), ("worker-1", MediaKind::Vfat)];
    for (node, kind) in nodes {
        let medium = seed::write(&out.join(node), kind).unwrap();
        run_ok(
            Command::new("bash")
                .args([BOOT_SH, "start", lab, node, out.to_str().unwrap(), &boot_root()])
                .env("KUBEBAKE_LAB_ROOT", LAB_ROOT)
                .env("KUBEBAKE_E2E_DIR", kits::default_kit_dir())
                .env("KBBOOT_SEED_MEDIUM", &medium),
        );
    }
    for (node, kind) in nodes {
        let dir = Path::new(LAB_ROOT).join(lab).join(node);
        let loop_device = fs::read_to_string(dir.join("loop")).unwrap().trim().to_string();
        let done = dir.join("merged/var/lib/kubebake/prepare.done");
        let deadline = Instant::now() + Duration::from_secs(180);
        while !done.exists() {
            let status = fs::read_to_string(dir.join("merged/var/lib/kubebake/status")).unwrap_or_default();
            if status.starts_with("failed") || Instant::now() > deadline {
                let console = fs::read_to_string(dir.join("console.log")).unwrap_or_default();
                let tail: Vec<&str> = console.lines().rev().take(60).collect();
                panic!("{node}: {status:?}; console:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let exec = |cmd: &[&str]| {
            let mut args = vec!["exec", lab, node];
            args.extend_from_slice(cmd);
            sh_ok(BOOT_SH, &args)
        };
        // cloud-init: done, no errors, its data from the medium's device.
        let status = exec(&["cloud-init", "status", "--wait", "--long"]);
        assert!(status.contains("status: done"), "{node}: {status}");
        assert!(status.contains(&format!("DataSourceNoCloud [seed={loop_device}]")), "{node} ({kind:?}): {status}");
        let result: serde_json::Value = serde_json::from_str(&exec(&["cat", "/run/cloud-init/result.json"])).unwrap();
        assert_eq!(result["v1"]["errors"], serde_json::json!([]), "{node}: {result}");
        assert!(!dir.join("merged/var/lib/cloud/seed/nocloud").exists(), "{node}: a seed directory");
        let log = exec(&["grep", "-E", "Using data from|Attempting to use data from", "/var/log/cloud-init.log"]);
        assert!(log.contains(&format!("Using data from {loop_device}")), "{node}: {log}");
        figure("boot tier", &format!("{node}: seeded from {} on {loop_device}", kind.file_name()));

        // Every baked file landed byte for byte, with its mode; the hostname and address too.
        let baked = snapshot(&out.join(node).join("rootfs"));
        assert!(baked.len() > 5, "{node}: {} files", baked.len());
        for (rel, (bytes, mode)) in &baked {
            let path = dir.join("merged").join(rel);
            let landed = fs::read(&path).unwrap_or_else(|e| panic!("{node}: /{rel}: {e}"));
            assert!(landed == *bytes, "{node}: /{rel} differs from the baked file");
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o7777, *mode, "{node}: /{rel} mode");
        }
        assert_eq!(exec(&["hostname"]).trim(), node);
        let address = if node == "cp-1" { "10.0.0.11" } else { "10.0.0.21" };
        let addr = exec(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
        assert!(addr.contains(&format!("inet {address}/24 ")), "{node}: {addr}");
    }
}
