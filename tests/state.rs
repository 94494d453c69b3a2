//! The state directory: reuse gives identical bytes, changes reissue only what depends on
//! them, damage is refused without touching anything, and secrets stay secret.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

/// Paths whose bytes differ between two snapshots, plus paths only in one of them.
fn changed(
    a: &std::collections::BTreeMap<String, (Vec<u8>, u32)>,
    b: &std::collections::BTreeMap<String, (Vec<u8>, u32)>,
) -> BTreeSet<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).cloned().collect()
}

#[test]
fn baking_twice_gives_byte_identical_output() {
    let b = Bake::new(&ha_spec(3, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let (out1, state1) = (snapshot(&b.out()), snapshot(&b.state()));
    let second = b.bake(&[]);
    second.assert_ok();
    assert!(second.stdout().contains("reused as it was"), "{}", second.stdout());
    assert_eq!(changed(&out1, &snapshot(&b.out())), BTreeSet::new());
    assert_eq!(changed(&state1, &snapshot(&b.state())), BTreeSet::new());
    // Different output directory, same bytes.
    b.run(&["bake", "cluster.yaml", "-o", "out2"]).assert_ok();
    assert_eq!(changed(&out1, &snapshot(&b.path("out2"))), BTreeSet::new());
}

#[test]
fn adding_a_worker_changes_only_its_files_and_the_sums() {
    let b = Bake::new(&ha_spec(2, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let before = snapshot(&b.out());
    b.set_spec(&ha_spec(3, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let diff = changed(&before, &snapshot(&b.out()));
    assert!(diff.contains("SHA256SUMS"));
    assert!(diff.contains("worker-3/rootfs/etc/kubernetes/pki/ca.crt"));
    for path in &diff {
        assert!(path == "SHA256SUMS" || path.starts_with("worker-3/"), "{path} changed");
    }
}

#[test]
fn a_changed_address_reissues_only_that_nodes_certificates() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let before = snapshot(&b.out());
    b.set_spec(&ha_spec(1, "ECDSA-P256").replace("address: 10.0.0.12", "address: 10.0.0.42"));
    let run = b.bake(&[]);
    run.assert_ok();
    let diff = changed(&before, &snapshot(&b.out()));
    // cp-2's address-bearing certificates, the kubeconfigs that name its own API server,
    // its API server's manifest, its kubeadm configuration, its kubelet's --node-ip and
    // the address its first boot waits for; nothing on another node (a joining member's
    // etcd manifest is kubeadm's to write).
    let expected: BTreeSet<String> = [
        "SHA256SUMS",
        "cp-2/rootfs/etc/kubebake/manifests/kube-apiserver.yaml",
        "cp-2/rootfs/etc/kubebake/kubeadm-config.yaml",
        "cp-2/rootfs/etc/kubernetes/pki/apiserver.crt",
        "cp-2/rootfs/etc/kubernetes/pki/apiserver.key",
        "cp-2/rootfs/etc/kubernetes/pki/etcd/server.crt",
        "cp-2/rootfs/etc/kubernetes/pki/etcd/server.key",
        "cp-2/rootfs/etc/kubernetes/pki/etcd/peer.crt",
        "cp-2/rootfs/etc/kubernetes/pki/etcd/peer.key",
        "cp-2/rootfs/etc/kubernetes/controller-manager.conf",
        "cp-2/rootfs/etc/kubernetes/scheduler.conf",
        "cp-2/rootfs/etc/kubernetes/kubelet.conf",
        "cp-2/rootfs/var/lib/kubelet/kubeadm-flags.env",
        "cp-2/rootfs/opt/kubebake/firstboot.sh",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(diff, with_user_data(expected));
    assert!(run.stdout().contains("reissued nodes/cp-2/pki/apiserver (SANs changed)"), "{}", run.stdout());
}

#[test]
fn new_sans_reissue_only_the_apiserver_certificates() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let before = snapshot(&b.out());
    let state_before = snapshot(&b.state());
    b.set_spec(&ha_spec(1, "ECDSA-P256").replace(
        "encryptionAlgorithm: ECDSA-P256",
        "encryptionAlgorithm: ECDSA-P256\n    apiServerCertSANs: [api.example.com]",
    ));
    b.bake(&[]).assert_ok();
    let diff = changed(&before, &snapshot(&b.out()));
    // The SANs are also in the ClusterConfiguration the first control plane inits with.
    let mut expected: BTreeSet<String> =
        ["SHA256SUMS".to_string(), "cp-1/rootfs/etc/kubebake/kubeadm-config.yaml".to_string()].into();
    for node in ["cp-1", "cp-2", "cp-3"] {
        expected.insert(format!("{node}/rootfs/etc/kubernetes/pki/apiserver.crt"));
        expected.insert(format!("{node}/rootfs/etc/kubernetes/pki/apiserver.key"));
    }
    assert_eq!(diff, with_user_data(expected));
    // The CAs, SA key and token are untouched.
    let state_after = snapshot(&b.state());
    for shared in ["ca.crt", "ca.key", "etcd/ca.key", "front-proxy-ca.key", "sa.key", "sa.pub", "token"] {
        assert_eq!(state_before[shared], state_after[shared], "{shared}");
    }
}

#[test]
fn a_removed_node_leaves_the_state() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let spec = ha_spec(1, "ECDSA-P256").replace("    - {name: cp-3, role: control-plane, address: 10.0.0.13}\n", "");
    b.set_spec(&spec);
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(!b.state().join("nodes/cp-3").exists());
    assert!(!b.out().join("cp-3").exists());
    assert!(run.stdout().contains("dropped nodes/cp-3/pki/apiserver"), "{}", run.stdout());
}

/// Each damage leaves the state and output exactly as they were and says why.
#[test]
fn a_damaged_state_is_refused_and_left_alone() {
    type Damage = fn(&std::path::Path);
    let cases: &[(&str, Damage, &str)] = &[
        (
            "key swapped",
            |s| {
                let other = fs::read(s.join("front-proxy-ca.key")).unwrap();
                fs::write(s.join("ca.key"), other).unwrap();
            },
            "ca.key does not belong to ca.crt",
        ),
        (
            "leaf key missing",
            |s| fs::remove_file(s.join("nodes/cp-2/pki/apiserver.key")).unwrap(),
            "has nodes/cp-2/pki/apiserver.crt but not nodes/cp-2/pki/apiserver.key; the state is half-written",
        ),
        (
            "leaf key of another node",
            |s| {
                fs::copy(s.join("nodes/cp-1/pki/etcd/peer.key"), s.join("nodes/cp-2/pki/etcd/peer.key")).unwrap();
            },
            "nodes/cp-2/pki/etcd/peer.key does not belong to nodes/cp-2/pki/etcd/peer.crt",
        ),
        (
            "truncated certificate",
            |s| {
                let crt = fs::read(s.join("nodes/cp-1/pki/apiserver.crt")).unwrap();
                fs::write(s.join("nodes/cp-1/pki/apiserver.crt"), &crt[..crt.len() / 2]).unwrap();
            },
            "nodes/cp-1/pki/apiserver.crt: not a PEM certificate",
        ),
        (
            "CA missing",
            |s| {
                fs::remove_file(s.join("etcd/ca.crt")).unwrap();
                fs::remove_file(s.join("etcd/ca.key")).unwrap();
            },
            "etcd/ca.crt and etcd/ca.key are missing from a state that was baked before",
        ),
        (
            "leaf signed by another CA",
            |s| {
                fs::copy(
                    s.join("nodes/cp-1/pki/front-proxy-client.crt"),
                    s.join("nodes/cp-1/pki/apiserver-kubelet-client.crt"),
                )
                .unwrap();
                fs::copy(
                    s.join("nodes/cp-1/pki/front-proxy-client.key"),
                    s.join("nodes/cp-1/pki/apiserver-kubelet-client.key"),
                )
                .unwrap();
            },
            "nodes/cp-1/pki/apiserver-kubelet-client.crt is not signed by ca.crt",
        ),
        ("record lost", |s| fs::remove_file(s.join("kubebake-state.json")).unwrap(), "no kubebake-state.json"),
        ("token mangled", |s| fs::write(s.join("token"), "not-a-token\n").unwrap(), "token is not a bootstrap token"),
        (
            "sa.pub of another key",
            |s| {
                let k = run_ok(Command::new("openssl").args([
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                ]));
                let p = Command::new("openssl")
                    .args(["pkey", "-pubout"])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                use std::io::Write;
                p.stdin.as_ref().unwrap().write_all(k.as_bytes()).unwrap();
                fs::write(s.join("sa.pub"), p.wait_with_output().unwrap().stdout).unwrap();
            },
            "sa.pub is not the public half of sa.key",
        ),
        (
            "seal seed cut short",
            |s| fs::write(s.join("seal.seed"), [7u8; 16]).unwrap(),
            "seal.seed is 16 bytes long, not 32; the state is damaged",
        ),
    ];
    if tool("openssl", "openssl").is_none() {
        return;
    }
    for (name, damage, message) in cases {
        let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
        b.bake(&[]).assert_ok();
        damage(&b.state());
        let (state, out) = (snapshot(&b.state()), snapshot(&b.out()));
        let run = b.bake(&[]);
        assert!(!run.ok(), "{name}: a damaged state was accepted");
        assert!(run.stderr().contains(message), "{name}: expected {message:?} in:\n{}", run.stderr());
        assert_eq!(run.output.status.code(), Some(2));
        assert_eq!(changed(&state, &snapshot(&b.state())), BTreeSet::new(), "{name}: state was modified");
        assert_eq!(changed(&out, &snapshot(&b.out())), BTreeSet::new(), "{name}: output was modified");
        // The lock file stays beside the state (removing lock files races); nothing else may.
        let leftovers: Vec<_> = fs::read_dir(b.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.') && n != ".cluster.state.lock")
            .collect();
        assert!(leftovers.is_empty(), "{name}: left {leftovers:?}");
    }
}

#[test]
fn a_state_of_another_cluster_is_refused() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    b.set_spec(&ha_spec(1, "ECDSA-P256").replace("name: ha", "name: other"));
    let run = b.bake(&[]);
    assert!(!run.ok());
    assert!(run.stderr().contains("belongs to cluster \"ha\", but the spec is for \"other\""), "{}", run.stderr());
}

#[test]
fn a_ca_brought_by_the_user_is_used() {
    if tool("openssl", "openssl").is_none() {
        return;
    }
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    let state = b.state();
    fs::create_dir_all(state.join("etcd")).unwrap();
    // A corporate-style CA: RSA, a richer subject, made by openssl.
    run_ok(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "3650",
                "-subj",
                "/C=DE/O=Example Corp/CN=Example Kubernetes CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,digitalSignature",
                "-keyout",
            ])
            .arg(state.join("ca.key"))
            .arg("-out")
            .arg(state.join("ca.crt")),
    );
    run_ok(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-nodes",
                "-days",
                "3650",
                "-subj",
                "/CN=my-etcd-ca",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-keyout",
            ])
            .arg(state.join("etcd/ca.key"))
            .arg("-out")
            .arg(state.join("etcd/ca.crt")),
    );
    let ca = fs::read(state.join("ca.crt")).unwrap();
    let etcd_ca = fs::read(state.join("etcd/ca.crt")).unwrap();
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(run.stdout().contains("created CA front-proxy-ca"), "{}", run.stdout());
    assert!(
        !run.stdout().contains("created CA ca\n") && !run.stdout().contains("created CA etcd/ca"),
        "{}",
        run.stdout()
    );
    assert_eq!(fs::read(b.pki("cp-1", "ca.crt")).unwrap(), ca);
    assert_eq!(fs::read(b.pki("cp-2", "etcd/ca.crt")).unwrap(), etcd_ca);
    for (leaf, issuer) in
        [("apiserver.crt", "ca.crt"), ("etcd/peer.crt", "etcd/ca.crt"), ("apiserver-etcd-client.crt", "etcd/ca.crt")]
    {
        let out = run_ok(
            Command::new("openssl").args(["verify", "-CAfile"]).arg(b.pki("cp-2", issuer)).arg(b.pki("cp-2", leaf)),
        );
        assert!(out.trim_end().ends_with(": OK"), "{leaf}: {out}");
    }
    // The leaves name the user's CA exactly as its certificate does.
    let issuer =
        run_ok(Command::new("openssl").args(["x509", "-noout", "-issuer", "-in"]).arg(b.pki("cp-1", "apiserver.crt")));
    assert_eq!(issuer.trim(), "issuer=C = DE, O = Example Corp, CN = Example Kubernetes CA");
}

#[test]
fn a_half_provided_ca_is_refused() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    fs::create_dir_all(b.state()).unwrap();
    fs::write(b.state().join("ca.crt"), "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n").unwrap();
    let run = b.bake(&[]);
    assert!(!run.ok());
    assert!(run.stderr().contains("has ca.crt but not ca.key"), "{}", run.stderr());
    assert!(!b.out().exists());
    assert_eq!(snapshot(&b.state()).len(), 1);
}

#[test]
fn private_keys_are_0600_and_state_directories_0700() {
    let b = Bake::new(&ha_spec(2, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let token = fs::read_to_string(b.state().join("token")).unwrap().trim().to_string();
    let mut keys = 0;
    for root in [b.out(), b.state()] {
        for (path, (bytes, mode)) in snapshot(&root) {
            let text = String::from_utf8_lossy(&bytes);
            let secret = text.contains("PRIVATE KEY") || text.contains("client-key-data") || text.contains(&token);
            if secret {
                keys += 1;
                assert_eq!(mode, 0o600, "{} is {mode:o}", root.join(&path).display());
            }
        }
    }
    // 3 control planes × (3 CA keys + sa + 7 leaves + 5 kubeconfigs) in the output, the
    // operator's kubeconfig, and the state's own copies plus its token.
    assert!(keys > 3 * 16, "only {keys} secret files seen");
    for (dir, mode) in dir_modes(&b.state()) {
        assert_eq!(mode, 0o700, "{} is {mode:o}", dir.display());
    }
    assert_eq!(fs::metadata(b.out()).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
fn workers_get_the_ca_certificate_and_no_key() {
    let b = Bake::new(&ha_spec(3, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    for worker in ["worker-1", "worker-2", "worker-3"] {
        let all = snapshot(&b.out().join(worker));
        for (name, (bytes, mode)) in all.iter().filter(|(p, _)| !p.starts_with("rootfs/")) {
            assert!(["meta-data", "user-data", "user-data.gz"].contains(&name.as_str()), "{name}");
            assert!(!String::from_utf8_lossy(bytes).contains("PRIVATE KEY"), "{name}");
            assert_eq!(*mode, 0o600, "{name}");
        }
        let files: std::collections::BTreeMap<_, _> =
            all.into_iter().filter(|(p, _)| p.starts_with("rootfs/")).collect();
        let paths: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            vec![
                "rootfs/etc/containerd/config.toml",
                "rootfs/etc/hostname",
                "rootfs/etc/kubebake/kubeadm-config.yaml",
                "rootfs/etc/kubernetes/pki/ca.crt",
                "rootfs/etc/modules-load.d/kubebake.conf",
                "rootfs/etc/sysctl.d/99-kubebake.conf",
                "rootfs/etc/systemd/system/kubebake-firstboot.service",
                "rootfs/opt/kubebake/firstboot.sh",
                "rootfs/var/lib/kubelet/config.yaml",
                // The node's CRI socket, as kubeadm of 1.34 and later writes it.
                "rootfs/var/lib/kubelet/instance-config.yaml",
                "rootfs/var/lib/kubelet/kubeadm-flags.env",
            ]
        );
        for (path, (bytes, mode)) in &files {
            assert!(!String::from_utf8_lossy(bytes).contains("PRIVATE KEY"), "{path}");
            // The join configuration carries the bootstrap token; the script runs.
            let expected = if path.ends_with("kubeadm-config.yaml") {
                0o600
            } else if path.ends_with(".sh") {
                0o755
            } else {
                0o644
            };
            assert_eq!(*mode, expected, "{path}");
        }
        assert_eq!(fs::read(b.pki(worker, "ca.crt")).unwrap(), fs::read(b.state().join("ca.crt")).unwrap());
    }
}

#[test]
fn no_key_or_token_is_printed() {
    let b = Bake::new(&ha_spec(2, "ECDSA-P256"));
    let first = b.bake(&[]);
    first.assert_ok();
    let token = fs::read_to_string(b.state().join("token")).unwrap().trim().to_string();
    let secret = token.split_once('.').unwrap().1.to_string();
    let outputs = [first, b.bake(&[]), b.run(&["validate", "cluster.yaml"])];
    for run in &outputs {
        let all = format!("{}{}", run.stdout(), run.stderr());
        assert!(!all.contains(&secret), "token secret printed:\n{all}");
        assert!(!all.contains("PRIVATE KEY") && !all.contains("client-key-data"), "key material printed:\n{all}");
        for (_, (bytes, _)) in snapshot(&b.state()).iter().filter(|(p, _)| p.ends_with(".key")) {
            let body: String = String::from_utf8_lossy(bytes).lines().nth(1).unwrap().to_string();
            assert!(!all.contains(&body), "key material printed");
        }
    }
    assert!(
        outputs[0].stdout().contains(&format!("--token {}.****************", &token[..6])),
        "{}",
        outputs[0].stdout()
    );
    // Asked for, the token is shown: the check above would catch a leak.
    let shown = b.bake(&["--show-token"]);
    assert!(shown.stdout().contains(&format!("--token {token} ")), "{}", shown.stdout());
}

#[test]
fn the_state_defaults_beside_the_spec_and_is_printed() {
    let b = Bake::new(&ha_spec(0, "ECDSA-P256"));
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(run.stdout().starts_with("state  cluster.state\n"), "{}", run.stdout());
    assert!(b.state().join("kubebake-state.json").is_file());
    let custom = b.bake(&["--state", "elsewhere"]);
    custom.assert_ok();
    assert!(custom.stdout().starts_with("state  elsewhere\n"));
    assert!(b.path("elsewhere/ca.key").is_file());
}

#[test]
fn state_and_output_must_not_nest() {
    let b = Bake::new(&ha_spec(0, "ECDSA-P256"));
    for (state, out) in [("out/state", "out"), ("st", "st/out"), ("x", "x")] {
        let run = b.run(&["bake", "cluster.yaml", "-o", out, "--state", state]);
        assert!(!run.ok());
        assert!(run.stderr().contains("must not contain each other"), "{}", run.stderr());
        assert!(!b.path(out).exists() && !b.path(state).exists());
    }
}

#[test]
fn a_foreign_output_directory_is_not_replaced() {
    let b = Bake::new(&ha_spec(0, "ECDSA-P256"));
    fs::create_dir_all(b.out()).unwrap();
    fs::write(b.out().join("precious.txt"), "keep me").unwrap();
    let run = b.bake(&[]);
    assert!(!run.ok());
    assert!(run.stderr().contains("was not written by kubebake"), "{}", run.stderr());
    assert_eq!(fs::read_to_string(b.out().join("precious.txt")).unwrap(), "keep me");
    assert!(!b.state().exists(), "the state was created although the bake could not finish");
}

#[test]
fn sums_cover_every_output_file() {
    let Some(sha256sum) = tool("sha256sum", "coreutils") else { return };
    let b = Bake::new(&ha_spec(2, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let out = run_ok(Command::new(sha256sum).args(["--strict", "-c", "SHA256SUMS"]).current_dir(b.out()));
    let listed = out.lines().count();
    assert_eq!(listed, snapshot(&b.out()).len() - 1, "{out}");
    assert!(out.lines().all(|l| l.ends_with(": OK")));
}

#[test]
fn a_state_in_use_by_another_bake_is_refused() {
    let b = Bake::new(&ha_spec(0, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let state_before = snapshot(&b.state());
    // Another bake holds the lock (flock, as kubebake takes it).
    let holder = fs::OpenOptions::new().write(true).open(b.path(".cluster.state.lock")).unwrap();
    rustix::fs::flock(&holder, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let run = b.bake(&[]);
    drop(holder);
    assert!(!run.ok());
    assert!(run.stderr().contains("another kubebake is baking with this state right now"), "{}", run.stderr());
    assert_eq!(changed(&state_before, &snapshot(&b.state())), BTreeSet::new());
    // Released, it bakes.
    b.bake(&[]).assert_ok();
}

/// A symbolic link in a state would be read through and written back as a copy (a link
/// to nodes/ became a second directory of private keys): it is refused, nothing changes.
#[test]
fn a_symbolic_link_in_the_state_is_refused_and_nothing_is_copied() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    std::os::unix::fs::symlink("nodes", b.state().join("x")).unwrap();
    let before = snapshot(&b.state());
    let run = b.bake(&[]);
    assert!(!run.ok());
    assert!(run.stderr().contains("x is a symbolic link"), "{}", run.stderr());
    assert_eq!(before, snapshot(&b.state()));
    assert!(b.state().join("x").is_symlink());
}

const RECIPIENT: &str = "age1pce3h48yq6wxkgfcdhyefu4my9lycys3jyun7rexs0e9h05j0alqzx27te";

/// The sealed pack of a node's cloud-init user-data.
fn sealed_pack(b: &Bake, node: &str) -> Vec<u8> {
    let files = cloud_init_files(&fs::read_to_string(b.out().join(node).join("user-data")).unwrap());
    files["/etc/kubebake/node.pack.gz.age"].clone()
}

/// `secrets.encryptTo`'s seals derive from a secret of their own, `seal.seed`: made by the
/// first bake that seals (which says so), 32 bytes, 0600, then kept and reused, so a
/// re-bake seals the same bytes; a state from before it (whose seals derived from the CA
/// key) gets one at its next bake, and nothing else of it changes.
#[test]
fn a_sealing_state_gets_a_seal_seed_of_its_own_once_and_keeps_it() {
    let plain = ha_spec(1, "ECDSA-P256");
    let sealed = sealed_spec(&plain, RECIPIENT);
    let b = Bake::new(&plain);
    b.bake(&[]).assert_ok();
    let seed_file = b.state().join("seal.seed");
    assert!(!seed_file.exists(), "a cluster that seals nothing has no seed");

    b.set_spec(&sealed);
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(run.stdout().contains("created seal seed"), "{}", run.stdout());
    let seed = fs::read(&seed_file).unwrap();
    assert_eq!(seed.len(), 32);
    assert_eq!(fs::metadata(&seed_file).unwrap().permissions().mode() & 0o7777, 0o600);
    let pack = sealed_pack(&b, "cp-1");

    let state = snapshot(&b.state());
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(!run.stdout().contains("created seal seed"), "{}", run.stdout());
    assert_eq!(changed(&state, &snapshot(&b.state())), BTreeSet::new(), "a re-bake changed the state");
    assert!(sealed_pack(&b, "cp-1") == pack, "a re-bake sealed other bytes");

    // Not sealing for a while keeps the seed: sealing again gives the same seals.
    b.set_spec(&plain);
    b.bake(&[]).assert_ok();
    assert_eq!(fs::read(&seed_file).unwrap(), seed);
    b.set_spec(&sealed);
    b.bake(&[]).assert_ok();
    assert!(sealed_pack(&b, "cp-1") == pack);

    // A state from before seeds: one is made at the next bake, which says so; only the
    // seals change with it.
    fs::remove_file(&seed_file).unwrap();
    let (state, out) = (snapshot(&b.state()), snapshot(&b.out()));
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(run.stdout().contains("created seal seed"), "{}", run.stdout());
    assert_ne!(fs::read(&seed_file).unwrap(), seed);
    assert_eq!(changed(&state, &snapshot(&b.state())), BTreeSet::from(["seal.seed".to_string()]));
    let user_data: BTreeSet<String> =
        changed(&out, &snapshot(&b.out())).into_iter().filter(|p| p != "SHA256SUMS").collect();
    let expected: BTreeSet<String> = ["cp-1", "cp-2", "cp-3", "worker-1"]
        .iter()
        .flat_map(|n| [format!("{n}/user-data"), format!("{n}/user-data.gz")])
        .collect();
    assert_eq!(user_data, expected, "only the sealed user-data changes");
}

/// Two states that share every CA key, certificate and token (one copied from the other)
/// but not their seed seal the very same files apart: nothing of a seal comes from the CA
/// key, so a leaked CA key opens none.
#[test]
fn seals_derive_from_the_seed_and_not_from_the_ca_key() {
    let spec = sealed_spec(&ha_spec(1, "ECDSA-P256"), RECIPIENT);
    let a = Bake::new(&spec);
    a.bake(&[]).assert_ok();
    let b = Bake::new(&spec);
    for (rel, (bytes, mode)) in snapshot(&a.state()) {
        if rel == "seal.seed" {
            continue;
        }
        let at = b.state().join(&rel);
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        fs::write(&at, bytes).unwrap();
        fs::set_permissions(&at, fs::Permissions::from_mode(mode)).unwrap();
    }
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(run.stdout().contains("created seal seed"), "{}", run.stdout());
    assert_eq!(fs::read(a.state().join("ca.key")).unwrap(), fs::read(b.state().join("ca.key")).unwrap());
    for node in ["cp-1", "worker-1"] {
        assert_eq!(
            snapshot(&a.out().join(node).join("rootfs")),
            snapshot(&b.out().join(node).join("rootfs")),
            "{node}"
        );
        let (x, y) = (sealed_pack(&a, node), sealed_pack(&b, node));
        // The stanza's ephemeral share is the second line: another ephemeral key.
        let share = |s: &[u8]| String::from_utf8_lossy(s).lines().nth(1).unwrap().to_string();
        assert_ne!(share(&x), share(&y), "{node}: the same ephemeral key from the same CA");
        assert_ne!(x[x.len() - 32..], y[y.len() - 32..], "{node}");
    }
}
