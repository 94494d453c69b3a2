//! `secrets.encryptTo`: what the user-data carries in both formats, opened as a node opens
//! it (its own unpacker, with the real age tool and the image's identity) and by the age
//! library; nothing secret in clear; the same bytes on a re-bake; what is refused (another
//! identity, none, an altered seal, a low-order recipient); and the sizes, within EC2's
//! 16 KB.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr;

use common::*;

const UNPACKER: &str = "/opt/kubebake/unpack.sh";
const UNIT: &str = "/etc/systemd/system/kubebake-firstboot.service";
const IDENTITY: &str = "etc/kubebake/age.key";
const STATUS: &str = "var/lib/kubebake/status";

fn has(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The one sealed pack among a user-data's files.
fn sealed_pack(files: &BTreeMap<String, Vec<u8>>) -> (String, Vec<u8>) {
    let sealed: Vec<(&String, &Vec<u8>)> = files.iter().filter(|(p, _)| p.ends_with(".age")).collect();
    assert_eq!(sealed.len(), 1, "not one sealed pack: {:?}", files.keys());
    (sealed[0].0.clone(), sealed[0].1.clone())
}

/// Opens a seal with the age tool.
fn age_tool_opens(sealed: &[u8], identity: &Path) -> Result<Vec<u8>, String> {
    let mut age = Command::new("age")
        .arg("--decrypt")
        .arg("--identity")
        .arg(identity)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    age.stdin.take().unwrap().write_all(sealed).unwrap();
    let out = age.wait_with_output().unwrap();
    if out.status.success() { Ok(out.stdout) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// Opens a seal with the age library (crates.io's `age`).
fn age_library_opens(sealed: &[u8], identity: &Path) -> Result<Vec<u8>, String> {
    let text = fs::read_to_string(identity).unwrap();
    let key = text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-1")).unwrap();
    age::decrypt(&age::x25519::Identity::from_str(key).unwrap(), sealed).map_err(|e| e.to_string())
}

/// The pack inside an opened seal, decompressed as its name says.
fn decompress(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if name.ends_with(".xz.age") {
        liblzma::read::XzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    } else {
        assert!(name.ends_with(".gz.age"), "{name}");
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    }
    out
}

/// Checks every node of a sealed bake: in clear only what the machine needs before first
/// boot, nothing secret among it; one sealed pack, which the age tool and the age library
/// open alike; and the node's own unpacker, given the image's identity, places exactly the
/// rootfs (bytes and modes) and removes the pack. Returns how many nodes it checked.
fn check(b: &Bake, id: &AgeIdentity, files_of: impl Fn(&str) -> BTreeMap<String, Vec<u8>>) -> usize {
    let token = fs::read_to_string(b.state().join("token")).unwrap();
    let token = token.trim();
    let nodes: Vec<String> = fs::read_dir(b.out())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("rootfs").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(nodes.len() >= 2);
    for node in &nodes {
        let delivered = files_of(node);
        let (sealed_path, sealed) = sealed_pack(&delivered);
        assert!(sealed.starts_with(b"age-encryption.org/v1\n-> X25519 "), "{node}");
        for (path, bytes) in &delivered {
            for secret in [&b"PRIVATE KEY"[..], b"client-key-data", token.as_bytes()] {
                assert!(!has(bytes, secret), "{node}: {path} carries {} in clear", String::from_utf8_lossy(secret));
            }
            assert!(
                *path == sealed_path || ["/etc/hostname", UNPACKER, UNIT].contains(&path.as_str()),
                "{node}: {path} travels in clear"
            );
        }
        let opened = age_tool_opens(&sealed, &id.file).unwrap();
        assert!(opened == age_library_opens(&sealed, &id.file).unwrap(), "{node}: the age library opens another pack");
        assert!(decompress(&sealed_path, &opened).starts_with(b"kubebake-pack-1 "), "{node}");

        let root = b.path(&format!("root-{node}"));
        lay(&root, &delivered);
        give_identity(&root, &id.file);
        let out = unpack(&root);
        assert!(out.status.success(), "{node}: {}", String::from_utf8_lossy(&out.stderr));
        let laid = snapshot(&root);
        let rootfs = snapshot(&b.out().join(node).join("rootfs"));
        for (rel, (bytes, mode)) in &rootfs {
            let path = format!("/{rel}");
            if let Some(clear) = delivered.get(&path) {
                // Its mode is the format's to set: tests/user_data.rs runs cloud-init and Ignition.
                assert!(clear == bytes, "{node}: {path} differs from the rootfs");
            } else if path != UNIT {
                // (Ignition's systemd section carries the unit.)
                let (placed, placed_mode) = laid.get(rel).unwrap_or_else(|| panic!("{node}: {path} not placed"));
                assert!(placed == bytes, "{node}: {path} placed with other bytes");
                assert_eq!(*placed_mode, *mode, "{node}: {path} mode");
            }
        }
        let extra: Vec<&String> = laid.keys().filter(|k| !rootfs.contains_key(*k) && *k != IDENTITY).collect();
        assert!(extra.is_empty(), "{node}: left behind: {extra:?}");
    }
    nodes.len()
}

fn cloud_init_of(b: &Bake) -> impl Fn(&str) -> BTreeMap<String, Vec<u8>> {
    let out = b.out();
    move |node| cloud_init_files(&fs::read_to_string(out.join(node).join("user-data")).unwrap())
}

fn ignition_of(b: &Bake) -> impl Fn(&str) -> BTreeMap<String, Vec<u8>> {
    let out = b.out();
    move |node| ignition_files(&out.join(node).join("config.ign"))
}

#[test]
fn cloud_init_user_data_carries_one_sealed_pack_that_the_nodes_own_unpacker_opens() {
    let Some(id) = age_identity() else { return };
    let b = Bake::new(&sealed_spec(&ha_spec(2, "ECDSA-P256"), &id.recipient));
    b.bake(&[]).assert_ok();
    assert_eq!(check(&b, &id, cloud_init_of(&b)), 5);
    for node in ["cp-1", "cp-2", "worker-1"] {
        let files = cloud_init_of(&b)(node);
        // A cloud-init image need not have xz: its pack is gzip'd, however large.
        assert_eq!(sealed_pack(&files).0, "/etc/kubebake/node.pack.gz.age", "{node}");
        // The unit runs the unpacker before the first-boot script, which is in the pack.
        let unit = String::from_utf8(files[UNIT].clone()).unwrap();
        assert!(
            unit.contains("ExecStartPre=/opt/kubebake/unpack.sh\nExecStart=/opt/kubebake/firstboot.sh\n"),
            "{unit}"
        );
        let script = fs::read_to_string(b.node_file(node, "/opt/kubebake/firstboot.sh")).unwrap();
        assert!(!script.contains("unseal"), "{node}: the script no longer opens anything");
    }
    // The first control plane's CA keys and super-admin.conf came out of the seal (check()
    // placed every rootfs file not in clear from it).
    for p in ["etc/kubernetes/pki/ca.key", "etc/kubernetes/pki/etcd/ca.key", "etc/kubernetes/super-admin.conf"] {
        assert!(b.path("root-cp-1").join(p).is_file(), "{p}");
    }

    // Deterministic: a re-bake from the same spec and state gives the same bytes.
    let first = fs::read(b.out().join("cp-1/user-data")).unwrap();
    b.bake(&[]).assert_ok();
    assert_eq!(first, fs::read(b.out().join("cp-1/user-data")).unwrap());

    // Another identity opens nothing.
    let other = age_identity().unwrap();
    let (_, sealed) = sealed_pack(&cloud_init_of(&b)("cp-1"));
    let err = age_tool_opens(&sealed, &other.file).unwrap_err();
    assert!(err.contains("no identity matched"), "{err}");
    assert!(age_library_opens(&sealed, &other.file).is_err());
}

#[test]
fn ignition_configs_carry_one_sealed_pack_that_the_nodes_own_unpacker_opens() {
    let Some(id) = age_identity() else { return };
    let spec = ha_spec(1, "ECDSA-P256").replace("spec:\n", "spec:\n  os: flatcar\n");
    let b = Bake::new(&sealed_spec(&spec, &id.recipient));
    b.bake(&[]).assert_ok();
    assert_eq!(check(&b, &id, ignition_of(&b)), 4);
    // Flatcar has xz: a control plane's pack is xz'd, a worker's (small) gzip'd.
    assert_eq!(sealed_pack(&ignition_of(&b)("cp-1")).0, "/etc/kubebake/node.pack.xz.age");
    assert_eq!(sealed_pack(&ignition_of(&b)("worker-1")).0, "/etc/kubebake/node.pack.gz.age");
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(b.out().join("cp-1/config.ign")).unwrap()).unwrap();
    let unit = config["systemd"]["units"][0]["contents"].as_str().unwrap();
    assert!(unit.contains("ExecStartPre=/opt/kubebake/unpack.sh\n"), "{unit}");
    if let Some(shellcheck) = tool("shellcheck", "shellcheck") {
        for node in ["cp-1", "cp-2", "worker-1"] {
            for script in ["/opt/kubebake/firstboot.sh", UNPACKER] {
                let out = Command::new(&shellcheck).arg(b.node_file(node, script)).output().unwrap();
                assert!(out.status.success(), "{node} {script}: {}", String::from_utf8_lossy(&out.stdout));
            }
        }
    }
}

/// A node whose image lacks the identity, holds another, or whose seal was altered on its
/// way stops before placing anything, and says why where first boot's result is read.
#[test]
fn a_node_that_cannot_open_its_seal_places_nothing_and_says_why() {
    let (Some(id), Some(other)) = (age_identity(), age_identity()) else { return };
    let b = Bake::new(&sealed_spec(&ha_spec(1, "ECDSA-P256"), &id.recipient));
    b.bake(&[]).assert_ok();
    let delivered = cloud_init_of(&b)("worker-1");
    let (sealed_path, _) = sealed_pack(&delivered);
    let mut altered = delivered.clone();
    let bytes = altered.get_mut(&sealed_path).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 1;
    let no_identity = format!(
        "failed: unseal: this node's secrets are sealed to {}, and the image has no identity at /etc/kubebake/age.key",
        id.recipient
    );
    let not_opened = format!(
        "failed: unseal: the identity at /etc/kubebake/age.key does not open {}",
        b.path("root-x").join(sealed_path.trim_start_matches('/')).display()
    );
    for (case, files, identity, says) in [
        ("no identity", &delivered, None, &no_identity),
        ("another identity", &delivered, Some(&other.file), &not_opened),
        ("an altered seal", &altered, Some(&id.file), &not_opened),
    ] {
        let root = b.path("root-x");
        let _ = fs::remove_dir_all(&root);
        lay(&root, files);
        if let Some(identity) = identity {
            give_identity(&root, identity);
        }
        let before = snapshot(&root);
        let out = unpack(&root);
        assert!(!out.status.success(), "{case}: unpacked");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says.as_str()), "{case}: {stderr}");
        let status = fs::read_to_string(root.join(STATUS)).unwrap();
        assert!(status.starts_with(says.as_str()), "{case}: status {status:?}");
        let mut after = snapshot(&root);
        after.remove(STATUS);
        assert_eq!(after, before, "{case}: something placed or removed");
    }
    // The same root, given its identity, unpacks.
    let root = b.path("root-x");
    fs::remove_dir_all(&root).unwrap();
    lay(&root, &delivered);
    give_identity(&root, &id.file);
    assert!(unpack(&root).status.success());
    assert!(root.join("etc/kubebake/kubeadm-config.yaml").is_file());
}

/// The seals of a real bake, in both formats, open with the age tool and the age library
/// to the same bytes; any change to them (the share, the wrapped file key, the MAC, the
/// nonce, the payload, a byte less or more) is refused by both.
#[test]
fn baked_seals_open_with_age_and_the_age_library_and_any_change_is_refused() {
    let Some(id) = age_identity() else { return };
    for os in ["debian-12", "flatcar"] {
        let spec = ha_spec(1, "ECDSA-P256").replace("spec:\n", &format!("spec:\n  os: {os}\n"));
        let b = Bake::new(&sealed_spec(&spec, &id.recipient));
        b.bake(&[]).assert_ok();
        for node in ["cp-1", "worker-1"] {
            let files = if os == "flatcar" { ignition_of(&b)(node) } else { cloud_init_of(&b)(node) };
            let (_, sealed) = sealed_pack(&files);
            let opened = age_tool_opens(&sealed, &id.file).unwrap();
            assert!(opened == age_library_opens(&sealed, &id.file).unwrap(), "{os} {node}");
            let mac = sealed.windows(4).position(|w| w == b"--- ").unwrap();
            let mut changes = Vec::new();
            for at in [40, 90, mac + 10, mac + 50, mac + 64 + 7, sealed.len() - 1] {
                let mut s = sealed.clone();
                s[at] ^= 0x04;
                changes.push((format!("byte {at}"), s));
            }
            changes.push(("a byte less".into(), sealed[..sealed.len() - 1].to_vec()));
            changes.push(("a byte more".into(), [&sealed[..], b"\0"].concat()));
            for (what, s) in changes {
                assert!(age_tool_opens(&s, &id.file).is_err(), "{os} {node}: age opens it with {what} changed");
                assert!(age_library_opens(&s, &id.file).is_err(), "{os} {node}: the library opens it, {what}");
            }
        }
    }
}

#[test]
fn without_encrypt_to_nothing_is_sealed() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let files = cloud_init_files(&fs::read_to_string(b.out().join("cp-1/user-data")).unwrap());
    assert!(!files.keys().any(|p| p.ends_with(".age") || p.contains("node.pack")));
    assert!(files.contains_key("/etc/kubernetes/pki/ca.key"));
    let script = fs::read_to_string(b.node_file("cp-1", "/opt/kubebake/firstboot.sh")).unwrap();
    assert!(!script.contains("unseal") && !files.contains_key(UNPACKER));
    assert!(!fs::read_to_string(b.node_file("cp-1", UNIT)).unwrap().contains("ExecStartPre"));
    // Nor does the state get a seal seed.
    assert!(!b.state().join("seal.seed").exists());
    // An Ignition node's pack is not sealed, and its unpacker opens no seal.
    let b = Bake::new(&ha_spec(1, "ECDSA-P256").replace("spec:\n", "spec:\n  os: flatcar\n"));
    b.bake(&[]).assert_ok();
    let files = ignition_of(&b)("cp-1");
    assert!(files.contains_key("/etc/kubebake/node.pack.xz") && !files.keys().any(|p| p.ends_with(".age")));
    assert!(!String::from_utf8_lossy(&files[UNPACKER]).contains("age --decrypt"));
}

#[test]
fn a_bad_recipient_is_refused_naming_the_field_and_nothing_is_written() {
    for (bad, says) in [
        ("age1qqqqqqqqqqqq", "checksum"),
        ("age1pce3h48yq6wxkgfcdhyefu4my9lycys3jyun7rexs0e9h05j0alqzx27tf", "checksum"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA", "not an age X25519 recipient"),
        ("AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX", "is an age identity"),
    ] {
        let b = Bake::new(&sealed_spec(&ha_spec(1, "ECDSA-P256"), bad));
        let run = b.bake(&[]);
        assert!(!run.ok(), "{bad} accepted");
        let err = run.stderr();
        assert!(err.contains("spec.secrets.encryptTo"), "{err}");
        assert!(err.contains(says), "{bad}: {err}");
        assert!(!b.out().exists() && !b.state().exists(), "{bad}: something was written");
    }
    let b = Bake::new(&format!(
        "{}  secrets:\n    encryptTo: age1pce3h48yq6wxkgfcdhyefu4my9lycys3jyun7rexs0e9h05j0alqzx27te\n    identity: relative/key\n",
        ha_spec(1, "ECDSA-P256")
    ));
    let run = b.bake(&[]);
    assert!(!run.ok() && run.stderr().contains("spec.secrets.identity"), "{}", run.stderr());
}

/// Curve25519's low-order points as age recipients (0, 1, the two of order 8, p - 1, p,
/// p + 1, and 0 with bit 255 set): whatever is sealed to one opens with a shared secret of
/// zero, by anyone. The real age refuses each ("low order point"); kubebake refuses the
/// spec, naming the field and its place, exits 2 (not a panic's 134) and writes nothing:
/// no state, no half-written state beside it.
#[test]
fn low_order_recipients_are_refused_in_the_spec_as_age_refuses_them() {
    if tool("age", "age").is_none() {
        return;
    }
    let low_order = [
        "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5cu47z",
        "age1qyqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqj7vrya",
        "age1ur4h5lpmgxu2u9jku0a0r87ydtdqnr0tnsetrlvxvgz3vh6fhqqqzyt4v9",
        "age1t7wft09r2zxzfvwsk92eeql0tvzyghxytqwgapkcyf8dm5ylz9ts6wm9s8",
        "age1anlllllllllllllllllllllllllllllllllllllllllllllllals4n2t7m",
        "age1ahlllllllllllllllllllllllllllllllllllllllllllllllalsn46ayy",
        "age1amlllllllllllllllllllllllllllllllllllllllllllllllalselrwrv",
        "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqzqqsuwj9m",
    ];
    for r in low_order {
        let mut age = Command::new("age")
            .args(["--encrypt", "--recipient", r])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        age.stdin.take().unwrap().write_all(b"x").unwrap();
        let out = age.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("low order point"), "age takes {r}: {err}");

        let spec = sealed_spec(&ha_spec(1, "ECDSA-P256"), r);
        let line = spec.lines().position(|l| l.contains("encryptTo:")).unwrap() + 1;
        let b = Bake::new(&spec);
        let run = b.bake(&[]);
        assert_eq!(run.output.status.code(), Some(2), "{r}: {}", run.stderr());
        let want = format!("line {line} column 16: spec.secrets.encryptTo: {r:?} is a low-order X25519 point");
        assert!(run.stderr().contains(&want), "{r}: {}", run.stderr());
        let entries: Vec<_> = fs::read_dir(b.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(entries, vec![std::ffi::OsString::from("cluster.yaml")], "{r}: written");
    }
    // A recipient of a real key still is taken by both.
    let Some(id) = age_identity() else { return };
    Bake::new(&sealed_spec(&ha_spec(1, "ECDSA-P256"), &id.recipient)).bake(&[]).assert_ok();
}

/// The sizes: a sealed first control plane, of the quickstart and of the HA
/// example (ECDSA-P256), fits EC2's 16,384 bytes as delivered, in both formats (cloud-init:
/// user-data.gz; Ignition: config.ign), and `--platform aws` takes it.
#[test]
fn a_sealed_first_control_plane_fits_ec2_in_both_formats() {
    let Some(id) = age_identity() else { return };
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    for example in ["quickstart", "ha"] {
        let text = fs::read_to_string(format!("{examples}/{example}.yaml")).unwrap();
        for os in ["debian-12", "ubuntu-24.04", "flatcar", "fedora-coreos"] {
            let spec = sealed_spec(&text.replacen("\nspec:\n", &format!("\nspec:\n  os: {os}\n"), 1), &id.recipient);
            let b = Bake::new(&spec);
            let run = b.bake(&["--platform", "aws"]);
            run.assert_ok();
            let ignition = os == "flatcar" || os == "fedora-coreos";
            let delivered = b.out().join("cp-1").join(if ignition { "config.ign" } else { "user-data.gz" });
            let size = fs::metadata(&delivered).unwrap().len();
            figure("seal", &format!("{example} cp-1 sealed, {os}: {size} B delivered"));
            assert!(size <= 16_384, "{example} {os}: {size} B");
            let line = run.stdout().lines().find(|l| l.trim_start().starts_with("cp-1")).unwrap().to_string();
            assert_eq!(line.split_whitespace().nth(6), Some(size.to_string().as_str()), "{line}");
        }
    }
}
