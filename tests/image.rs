//! `kubebake image`: the Packer template passes Debian's `packer validate`, the provisioning
//! script passes shellcheck, and, run for real inside a Debian 12 systemd container (the
//! boot tier's root) with a bundle, it leaves an image whose nodes pass `packages: prebaked`
//! on their first boot.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::servers::*;
use common::*;

const BOOT_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boot/boot.sh");
const MKROOT_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boot/mkroot.sh");
const LAB_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/lab.sh");
const LAB_ROOT: &str = "/var/tmp/kubebake-lab";

fn validate(dir: &Path) {
    let Some(packer) = tool("packer", "packer") else { return };
    // As written, but for one thing: Packer fetches the vendor's checksum list while it
    // validates, and tests have no network, so a digest stands in for the list.
    let digest = format!("qemu_source_checksum=sha256:{}", "0".repeat(64));
    run_ok(Command::new(packer).args(["validate", "-var", &digest, "kubebake-node.pkr.hcl"]).current_dir(dir));
}

fn shellcheck(script: &Path) {
    if let Some(sc) = tool("shellcheck", "shellcheck") {
        run_ok(Command::new(sc).arg(script));
    }
}

#[test]
fn an_apt_image_pins_the_packages_and_pulls_every_image() {
    let b = Bake::new(include_str!("../examples/ha.yaml"));
    let run = b.run(&["image", "cluster.yaml", "-o", "image", "--json"]);
    run.assert_ok();
    let written: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(written["written"].as_array().unwrap().len(), 2, "{written}");
    let dir = b.path("image");
    validate(&dir);
    let script = dir.join("provision.sh");
    shellcheck(&script);
    let text = fs::read_to_string(&script).unwrap();
    let v = default_version();
    let v = v.trim_start_matches('v');
    assert!(text.contains(&format!("'kubelet={v}-*' 'kubeadm={v}-*' 'kubectl={v}-*'")));
    assert!(text.contains("apt-mark hold kubelet kubeadm kubectl"));
    let images = b.run(&["images", "cluster.yaml"]);
    for image in images.stdout().lines() {
        assert!(text.contains(&format!("'{image}'")), "{image} is not pre-pulled");
    }
    assert!(text.contains("cloud-init clean --logs"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(&script).unwrap().permissions().mode() & 0o777, 0o755);
}

#[test]
fn an_os_without_apt_needs_a_bundle() {
    let spec = include_str!("../examples/quickstart.yaml").replace("spec:\n", "spec:\n  os: flatcar\n");
    let b = Bake::new(&spec);
    let run = b.run(&["image", "cluster.yaml", "-o", "image"]);
    assert_eq!(run.output.status.code(), Some(2));
    assert!(run.stderr().contains("spec.os: flatcar installs no packages with apt"), "{}", run.stderr());
    assert!(!b.path("image").exists());
}

#[test]
fn a_profile_without_base_images_has_packer_ask_for_them_by_name() {
    let spec = include_str!("../examples/quickstart.yaml").replace("spec:\n", "spec:\n  os: flatcar\n");
    let b = Bake::new(&spec);
    fs::write(b.path("bundle.tar"), b"a stand-in: only its sha256 is read").unwrap();
    b.run(&["image", "cluster.yaml", "-o", "image", "--bundle", "bundle.tar"]).assert_ok();
    let Some(packer) = tool("packer", "packer") else { return };
    let dir = b.path("image");
    let out = Command::new(&packer).args(["validate", "kubebake-node.pkr.hcl"]).current_dir(&dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("The qemu_source_image variable is required"), "{text}");
    assert!(text.contains("The aws_source_ami variable is required"), "{text}");
    run_ok(
        Command::new(&packer)
            .args(["validate", "-var", "qemu_source_image=flatcar_production_qemu_image.img"])
            .args(["-var", "aws_source_ami=ami-0123456789abcdef0", "kubebake-node.pkr.hcl"])
            .current_dir(&dir),
    );
}

fn boot(lab: &str, node: &str, out: &Path, env: &[(&str, &str)]) {
    let mut cmd = Command::new("bash");
    cmd.args([BOOT_SH, "start", lab, node])
        .arg(out)
        .arg(boot_root())
        .env("KUBEBAKE_LAB_ROOT", LAB_ROOT)
        .env("KUBEBAKE_E2E_DIR", kits::default_kit_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_ok(&mut cmd);
}

struct Down(&'static str);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .args([BOOT_SH, "down", self.0])
            .env("KUBEBAKE_LAB_ROOT", LAB_ROOT)
            .env("KUBEBAKE_E2E_DIR", kits::default_kit_dir())
            .status();
    }
}

#[test]
fn the_provisioner_run_in_a_debian_root_with_a_bundle_makes_a_prebaked_image() {
    let (Some(_), Some(_), Some(_), Some(_)) = (
        tool("mmdebstrap", "mmdebstrap"),
        tool("systemd-nspawn", "systemd-container"),
        tool("docker-registry", "docker-registry"),
        tool("skopeo", "skopeo"),
    ) else {
        return;
    };
    if !root_or_skip() {
        return;
    }
    if kit().is_none() {
        println!("not run: the e2e kit's kubeadm and kubelet are what a prebaked check can accept");
        return;
    }
    run_ok(Command::new("bash").args([MKROOT_SH, &boot_root()]));

    // A bundle from local servers, then the image files for it.
    let b = Bake::new("");
    let servers = Servers::start(b.dir.path());
    publish_everything(&servers, b.dir.path());
    b.set_spec(&format!(
        "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata: {{name: image}}
spec:
  os: debian-12
  packages: prebaked
  cni: {{plugin: none}}
  registryMirrors:
    registry.k8s.io: [\"http://{}\"]
  nodeNetwork: {{interface: eth0, prefixLength: 24, gateway: 10.0.0.1, nameservers: [10.0.0.1]}}
  nodes:
    - {{name: worker-1, role: worker, address: 10.0.0.21}}
    - {{name: cp-1, role: control-plane, address: 10.0.0.11}}
",
        servers.registry
    ));
    servers.write_pins(&b.path("pins.json"));
    let mut args = vec!["bundle", "cluster.yaml", "-o", "bundle.tar", "--pins", "pins.json"];
    let rewrites = rewrites(&servers);
    args.extend(rewrites.iter().map(String::as_str));
    b.run(&args).assert_ok();
    drop(servers);
    b.run(&["image", "cluster.yaml", "-o", "image", "--bundle", "bundle.tar"]).assert_ok();
    // provision.sh installs from that very bundle and refuses any other.
    let script = fs::read_to_string(b.path("image/provision.sh")).unwrap();
    let sha = sha256(&fs::read(b.path("bundle.tar")).unwrap());
    assert!(script.contains(&format!("[ \"${{sum%% *}}\" = '{sha}' ]")), "{script}");
    let dir = b.path("image");
    validate(&dir);
    shellcheck(&dir.join("provision.sh"));
    b.bake(&[]).assert_ok();

    // The image build: the stock root booted with no user-data, provisioned as Packer would.
    let lab = "kbimage";
    let _ = Command::new("bash")
        .args([BOOT_SH, "down", lab])
        .env("KUBEBAKE_LAB_ROOT", LAB_ROOT)
        .env("KUBEBAKE_E2E_DIR", kits::default_kit_dir())
        .status();
    let _down = Down(lab);
    run_ok(
        Command::new("bash")
            .args([LAB_SH, "net-up", "--bare", lab, "10.0.0.1/24", "worker-1=10.0.0.21"])
            .env("KUBEBAKE_LAB_ROOT", LAB_ROOT)
            .env("KUBEBAKE_E2E_DIR", kits::default_kit_dir()),
    );
    let out = b.out();
    boot(lab, "worker-1", &out, &[("KBBOOT_NO_SEED", "1"), ("KBBOOT_NO_KIT", "1")]);
    let merged: PathBuf = Path::new(LAB_ROOT).join(lab).join("worker-1/merged");
    fs::copy(dir.join("provision.sh"), merged.join("var/tmp/kubebake-provision.sh")).unwrap();
    fs::copy(b.path("bundle.tar"), merged.join("var/tmp/kubebake-bundle.tar")).unwrap();
    let exec = |cmd: &[&str]| {
        let mut c = Command::new("bash");
        c.args([BOOT_SH, "exec", lab, "worker-1"])
            .args(cmd)
            .env("KUBEBAKE_LAB_ROOT", LAB_ROOT)
            .env("KUBEBAKE_E2E_DIR", kits::default_kit_dir());
        run_ok(&mut c)
    };
    // systemd must be up before the script runs: it restarts containerd, and /tmp is a
    // tmpfs that systemd mounts during start-up (a directory made before would vanish
    // under it). `--wait` alone returns at once while PID 1 does not answer yet.
    exec(&[
        "sh",
        "-c",
        "for i in $(seq 240); do case $(systemctl is-system-running 2>/dev/null) in running|degraded) exit 0;; esac; \
         sleep 0.5; done; echo 'systemd did not finish starting' >&2; exit 1",
    ]);
    let log = exec(&["bash", "/var/tmp/kubebake-provision.sh", "/var/tmp/kubebake-bundle.tar"]);
    assert!(log.contains("provision: done"), "{log}");
    let images = exec(&["ctr", "-n", "k8s.io", "images", "ls", "-q"]);
    for image in kubeadm_images() {
        assert!(images.contains(&format!("registry.k8s.io/{image}")), "{image} not in the image:\n{images}");
    }
    let crictl = exec(&["crictl"]);
    let cri = kubebake::model::versions::DEFAULT_VERSION.kubeadm().cri_tools;
    assert!(crictl.contains(&format!("crictl version {cri}")), "the bundle's crictl is not installed: {crictl}");
    run_ok(
        Command::new("bash")
            .args([BOOT_SH, "stop", lab, "worker-1"])
            .env("KUBEBAKE_LAB_ROOT", LAB_ROOT)
            .env("KUBEBAKE_E2E_DIR", kits::default_kit_dir()),
    );

    // A node booted from that image with its user-data: first boot's prebaked check passes.
    boot(lab, "worker-1", &out, &[("KBBOOT_NO_KIT", "1")]);
    let done = merged.join("var/lib/kubebake/packages.done");
    let deadline = Instant::now() + Duration::from_secs(180);
    while !done.exists() {
        let status = fs::read_to_string(merged.join("var/lib/kubebake/status")).unwrap_or_default();
        assert!(!status.starts_with("failed: packages"), "{status}");
        assert!(Instant::now() < deadline, "first boot did not pass packages: {status}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `secrets.encryptTo`: the image must carry the matching identity; the template uploads
/// it into a directory only the build user reads and the script keeps it 0600.
#[test]
fn a_sealing_spec_needs_the_matching_identity_in_the_image() {
    let Some(keygen) = tool("age-keygen", "age") else { return };
    let b = Bake::new("");
    let (mine, other) = (b.path("mine.key"), b.path("other.key"));
    run_ok(Command::new(&keygen).arg("-o").arg(&mine));
    run_ok(Command::new(&keygen).arg("-o").arg(&other));
    let recipient = run_ok(Command::new(&keygen).arg("-y").arg(&mine));
    let spec = include_str!("../examples/ha.yaml");
    b.set_spec(&format!("{spec}  secrets:\n    encryptTo: {}\n", recipient.trim()));

    let run = b.run(&["image", "cluster.yaml", "-o", "image"]);
    assert!(!run.ok() && run.stderr().contains("--age-identity FILE"), "{}", run.stderr());
    let run = b.run(&["image", "cluster.yaml", "-o", "image", "--age-identity", "other.key"]);
    assert!(!run.ok() && run.stderr().contains("not spec.secrets.encryptTo"), "{}", run.stderr());
    let secret = fs::read_to_string(&other).unwrap();
    let secret = secret.lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap();
    assert!(!run.stderr().contains(secret), "the identity was printed");
    assert!(!b.path("image").exists(), "a refused run wrote files");

    b.run(&["image", "cluster.yaml", "-o", "image", "--age-identity", "mine.key"]).assert_ok();
    let dir = b.path("image");
    validate(&dir);
    shellcheck(&dir.join("provision.sh"));
    let hcl = fs::read_to_string(dir.join("kubebake-node.pkr.hcl")).unwrap();
    assert!(hcl.contains("destination = \"/tmp/kubebake-secret/age.key\""), "{hcl}");
    assert!(hcl.contains("sensitive   = true"), "{hcl}");
    let script = fs::read_to_string(dir.join("provision.sh")).unwrap();
    assert!(script.contains("install -m 0600 -o root -g root \"$identity\" '/etc/kubebake/age.key'"), "{script}");
    // Neither file holds the identity itself: the template names the file, Packer uploads it.
    assert!(!hcl.contains(secret) && !script.contains(secret));

    b.set_spec(spec);
    let run = b.run(&["image", "cluster.yaml", "-o", "image2", "--age-identity", "mine.key"]);
    assert!(!run.ok() && run.stderr().contains("seals nothing"), "{}", run.stderr());
}
