//! The examples under examples/ as their READMEs have users run them. The Vagrant playground
//! (examples/vagrant-playground): its spec validates with no warning and bakes a user-data
//! for each of its four nodes, on networks that overlap nothing VirtualBox uses; Debian's
//! own `vagrant` validates its Vagrantfile beside that bake (and refuses it without one);
//! and the bake command its files print is the one that feeds that Vagrantfile. VirtualBox
//! is not needed: nothing boots here.

mod common;

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

const PLAYGROUND: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/vagrant-playground");

/// The spec's path and the bake's OUT, as the README has them, from the repository's root.
const SPEC_PATH: &str = "examples/vagrant-playground/cluster.yaml";
const OUT_PATH: &str = "examples/vagrant-playground/out";

/// VirtualBox's host-only network that the playground's nodes are on, and the NAT network
/// every VirtualBox VM's first NIC is on (10.0.2.15 in each of them).
const HOST_ONLY: &str = "192.168.56.0/24";
const VIRTUALBOX_NAT: &str = "10.0.2.0/24";

fn spec() -> serde_json::Value {
    yaml_value(&fs::read_to_string(format!("{PLAYGROUND}/cluster.yaml")).unwrap())
}

/// The spec's nodes: (name, role, address).
fn nodes() -> Vec<(String, String, Ipv4Addr)> {
    spec()["spec"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let s = |k: &str| n[k].as_str().unwrap().to_string();
            (s("name"), s("role"), s("address").parse().unwrap())
        })
        .collect()
}

/// An IPv4 CIDR as (first address, last address).
fn range(cidr: &str) -> (u32, u32) {
    let (addr, len) = cidr.split_once('/').unwrap_or_else(|| panic!("{cidr} is not a CIDR"));
    let addr = u32::from(addr.parse::<Ipv4Addr>().unwrap());
    let len: u32 = len.parse().unwrap();
    let host = if len == 0 { u32::MAX } else { (1u32 << (32 - len)) - 1 };
    (addr & !host, addr | host)
}

fn contains(cidr: &str, addr: Ipv4Addr) -> bool {
    let (first, last) = range(cidr);
    (first..=last).contains(&u32::from(addr))
}

/// The playground directory as a user has it after the README's bake: the spec and the
/// Vagrantfile, with `extra` passed to the bake (None: not baked at all).
fn playground(extra: Option<&[&str]>) -> Bake {
    let bake = Bake::new(&fs::read_to_string(format!("{PLAYGROUND}/cluster.yaml")).unwrap());
    fs::copy(format!("{PLAYGROUND}/Vagrantfile"), bake.path("Vagrantfile")).unwrap();
    if let Some(extra) = extra {
        bake.bake(extra).assert_ok();
    }
    bake
}

#[test]
fn the_vagrant_playground_validates_and_bakes_a_user_data_per_node() {
    let bake = playground(None);
    let validated = bake.run(&["validate", "--json", "cluster.yaml"]);
    validated.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&validated.stdout()).unwrap();
    assert_eq!(report["warnings"], serde_json::json!([]), "{}", validated.stdout());

    let spec = spec();
    assert!(spec["spec"]["kubernetesVersion"].is_null() || spec["spec"]["kubernetesVersion"] == default_version());
    let net = &spec["spec"]["networking"];
    let ranges = [
        ("spec.networking.podSubnet", net["podSubnet"].as_str().unwrap()),
        ("spec.networking.serviceSubnet", net["serviceSubnet"].as_str().unwrap()),
        ("VirtualBox's host-only network", HOST_ONLY),
        ("VirtualBox's NAT network", VIRTUALBOX_NAT),
    ];
    for (i, (a, cidr_a)) in ranges.iter().enumerate() {
        for (b, cidr_b) in &ranges[i + 1..] {
            let ((a0, a1), (b0, b1)) = (range(cidr_a), range(cidr_b));
            assert!(a1 < b0 || b1 < a0, "{a} {cidr_a} overlaps {b} {cidr_b}");
        }
    }

    let nodes = nodes();
    assert_eq!(nodes.iter().filter(|n| n.1 == "control-plane").count(), 1, "{nodes:?}");
    assert_eq!(nodes.iter().filter(|n| n.1 == "worker").count(), 3, "{nodes:?}");
    for (name, _, address) in &nodes {
        // VirtualBox gives the host .1 on a host-only network, and Vagrant refuses it to a VM.
        assert!(
            contains(HOST_ONLY, *address) && address.octets()[3] > 1,
            "{name}: {address} is not a VM's address in {HOST_ONLY}"
        );
    }
    let cp = nodes.iter().find(|n| n.1 == "control-plane").unwrap();
    assert_eq!(spec["spec"]["controlPlaneEndpoint"], format!("{}:6443", cp.2));
    assert_eq!(spec["spec"]["login"]["user"], "vagrant", "`vagrant ssh` logs in as vagrant");

    bake.bake(&[]).assert_ok();
    for (name, _, address) in &nodes {
        let user_data = fs::read_to_string(bake.out().join(name).join("user-data"))
            .unwrap_or_else(|e| panic!("{name} got no user-data: {e}"));
        assert!(user_data.starts_with("#cloud-config\n"), "{name}: {:.40}", user_data);
        let doc = yaml_value(&user_data);
        assert_eq!(doc["hostname"], name.as_str());
        // The box's own cloud-init file creates vagrant with Vagrant's insecure key; the
        // user-data's `users` replaces that list, so it must carry the key itself or
        // Vagrant cannot log in.
        let vagrant = doc["users"].as_array().unwrap().iter().find(|u| u["name"] == "vagrant");
        let keys =
            &vagrant.unwrap_or_else(|| panic!("{name}: no vagrant user in {}", doc["users"]))["ssh_authorized_keys"];
        assert_eq!(keys, &spec["spec"]["login"]["sshAuthorizedKeys"], "{name}");
        assert!(keys[0].as_str().unwrap().ends_with(" vagrant insecure public key"), "{name}: {keys}");
        // Every VirtualBox VM has 10.0.2.15 on its NAT NIC, the one with the default route:
        // a kubelet left to choose would register that.
        let flags = fs::read_to_string(bake.node_file(name, "/var/lib/kubelet/kubeadm-flags.env")).unwrap();
        assert!(flags.contains(&format!("--node-ip={address}")), "{name}: {flags}");
    }
}

/// Runs Debian's `vagrant` in `dir` with nothing from the user's environment that changes
/// what it reads, its home in a scratch directory, and no way out to the network: its
/// version check is off and any HTTP it tried would go to a closed local port.
fn vagrant(vagrant: &Path, dir: &Path, home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(vagrant);
    cmd.args(args).current_dir(dir);
    for var in ["VAGRANT_EXPERIMENTAL", "VAGRANT_CWD", "VAGRANT_VAGRANTFILE", "VAGRANT_DOTFILE_PATH", "PLAYGROUND_SEED"]
    {
        cmd.env_remove(var);
    }
    cmd.env("VAGRANT_HOME", home)
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .env("VAGRANT_BOX_UPDATE_CHECK_DISABLE", "1")
        .env("VAGRANT_DEFAULT_PROVIDER", "virtualbox")
        .env("NO_PROXY", "")
        .env("no_proxy", "");
    for proxy in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        cmd.env(proxy, "http://127.0.0.1:9");
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn vagrant_validates_the_playground_beside_its_bake_and_refuses_it_without_one() {
    let Some(bin) = tool("vagrant", "vagrant") else { return };
    let home = tempfile::tempdir().unwrap();
    // Before 2.4.0 Vagrant reads config.vm.cloud_init only with these; later it ignores them.
    let experimental = [("VAGRANT_EXPERIMENTAL", "cloud_init,disks")];
    // VirtualBox need not be here: --ignore-provider skips the provider's checks, though
    // Vagrant still evaluates the Vagrantfile's VirtualBox block.
    let validate = ["validate", "--ignore-provider"];

    let unbaked = playground(None);
    let o = vagrant(&bin, unbaked.dir.path(), home.path(), &experimental, &validate);
    assert!(!o.status.success(), "validated with no bake:\n{}", text(&o));
    let expected = format!("cargo run --release -- bake {SPEC_PATH} -o {OUT_PATH}\n");
    assert!(text(&o).contains("No baked user-data") && text(&o).contains(&expected), "{}", text(&o));

    let baked = playground(Some(&[]));
    let o = vagrant(&bin, baked.dir.path(), home.path(), &experimental, &validate);
    assert!(o.status.success(), "vagrant validate failed:\n{}", text(&o));
    assert!(text(&o).contains("Vagrantfile validated successfully"), "{}", text(&o));

    let version = run_ok(Command::new(&bin).arg("--version").env("VAGRANT_CHECKPOINT_DISABLE", "1"));
    let version: Vec<u32> =
        version.trim().trim_start_matches("Vagrant ").split('.').map(|p| p.parse().unwrap_or(0)).collect();
    let o = vagrant(&bin, baked.dir.path(), home.path(), &[], &validate);
    if version < vec![2, 4, 0] {
        assert!(!o.status.success(), "validated with cloud_init ignored:\n{}", text(&o));
        assert!(text(&o).contains("VAGRANT_EXPERIMENTAL=cloud_init,disks"), "{}", text(&o));
    } else {
        assert!(o.status.success(), "{}", text(&o));
    }

    // The seed ISO route: the bake's own seed.iso per node, attached by VirtualBox.
    let seeded = playground(Some(&["--media", "iso"]));
    let o = vagrant(&bin, seeded.dir.path(), home.path(), &[("PLAYGROUND_SEED", "iso")], &validate);
    assert!(o.status.success(), "vagrant validate (PLAYGROUND_SEED=iso) failed:\n{}", text(&o));
}

#[test]
fn the_playground_bake_commands_feed_its_vagrantfile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(root.join(SPEC_PATH).is_file());
    let vagrantfile = fs::read_to_string(format!("{PLAYGROUND}/Vagrantfile")).unwrap();
    // OUT_PATH is the Vagrantfile's out/, beside it.
    assert_eq!(root.join(OUT_PATH), Path::new(PLAYGROUND).join("out"));
    assert!(vagrantfile.contains(r#"OUT = File.join(HERE, "out")"#), "the Vagrantfile reads another OUT");

    let mut commands = 0;
    for file in ["README.md", "Vagrantfile", "cluster.yaml"] {
        let text = fs::read_to_string(format!("{PLAYGROUND}/{file}")).unwrap();
        for line in text.lines().filter(|l| l.contains(" bake ")) {
            let Some((_, args)) = line.split_once("cargo run --release -- bake ") else { continue };
            // The Vagrantfile keeps the command in a Ruby string.
            let words: Vec<&str> = args.split_whitespace().map(|w| w.trim_end_matches('"')).collect();
            assert!(
                words.len() >= 3 && words[0] == SPEC_PATH && words[1] == "-o" && words[2] == OUT_PATH,
                "{file}: {line:?} does not bake {SPEC_PATH} into {OUT_PATH}"
            );
            assert!(matches!(&words[3..], [] | ["--media", "iso"]), "{file}: {line:?}");
            commands += 1;
        }
    }
    assert!(commands >= 3, "the README, the Vagrantfile and the spec each say how to bake ({commands} commands)");

    let readme = fs::read_to_string(format!("{PLAYGROUND}/README.md")).unwrap();
    let cp = nodes().into_iter().find(|n| n.1 == "control-plane").unwrap().0;
    assert!(readme.contains(&format!("vagrant ssh {cp} -c 'kubectl get nodes")), "README: no kubectl on {cp}");
    assert!(readme.contains("/var/lib/kubebake/status") && readme.contains("vagrant destroy"));

    // The box is an image of the spec's OS.
    let os = spec()["spec"]["os"].as_str().unwrap().to_string();
    let box_line = vagrantfile.lines().find(|l| l.starts_with("BOX = ")).unwrap();
    assert!(box_line.trim_end_matches('"').ends_with(&format!("/{os}")), "{box_line} is not an image of {os}");
}
