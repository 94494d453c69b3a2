//! `secrets.encryptTo`: what the user-data carries, opened with the real age tool (Debian's
//! `age`), for both formats; nothing secret left in clear; the same bytes on a re-bake.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::*;

const SEALED: &str = "/etc/kubebake/secrets.age";

fn has(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

struct Identity {
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
    recipient: String,
}

fn identity() -> Option<Identity> {
    let keygen = tool("age-keygen", "age")?;
    tool("age", "age")?;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("age.key");
    run_ok(Command::new(&keygen).arg("-o").arg(&file));
    let recipient = run_ok(Command::new(&keygen).arg("-y").arg(&file)).trim().to_string();
    Some(Identity { _dir: dir, file, recipient })
}

/// Opens `sealed` with the age tool and unpacks the tar into a map.
fn open(sealed: &[u8], identity: &Path) -> Result<BTreeMap<String, (Vec<u8>, u32)>, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.age");
    fs::write(&file, sealed).unwrap();
    let out = Command::new("age").arg("--decrypt").arg("--identity").arg(identity).arg(&file).output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&out.stdout[..]));
    let mut files = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = format!("/{}", entry.path().unwrap().display());
        let mode = entry.header().mode().unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.insert(path, (bytes, mode));
    }
    Ok(files)
}

fn sealed_spec(base: &str, recipient: &str) -> String {
    format!("{base}  secrets:\n    encryptTo: {recipient}\n")
}

/// Checks every node of a sealed bake: the user-data's files plus what the seal holds are
/// exactly the rootfs, and nothing secret is readable without the identity.
fn check(b: &Bake, id: &Identity, files_of: impl Fn(&str) -> BTreeMap<String, Vec<u8>>) -> usize {
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
        let mut delivered = files_of(node);
        let sealed = delivered.remove(SEALED).unwrap_or_else(|| panic!("{node}: no {SEALED}"));
        assert!(sealed.starts_with(b"age-encryption.org/v1\n-> X25519 "), "{node}");
        for (path, bytes) in &delivered {
            for secret in [&b"PRIVATE KEY"[..], b"client-key-data", token.as_bytes()] {
                assert!(!has(bytes, secret), "{node}: {path} carries {} in clear", String::from_utf8_lossy(secret));
            }
        }
        let opened = open(&sealed, &id.file).unwrap();
        assert!(opened.keys().any(|p| p == "/etc/kubebake/kubeadm-config.yaml"), "{node}: {:?}", opened.keys());
        let rootfs = snapshot(&b.out().join(node).join("rootfs"));
        for (rel, (bytes, mode)) in &rootfs {
            let path = format!("/{rel}");
            if let Some((inside, inside_mode)) = opened.get(&path) {
                assert!(inside == bytes, "{node}: {path} in the seal differs from the rootfs");
                assert_eq!(*inside_mode, *mode, "{node}: {path} mode in the seal");
                assert!(!delivered.contains_key(&path), "{node}: {path} is both sealed and in clear");
            } else if !path.starts_with("/etc/systemd/system/") {
                // Units go through the format's own section; every other file is a file.
                assert!(delivered.get(&path) == Some(bytes), "{node}: {path} is neither sealed nor delivered as baked");
            }
        }
        assert!(
            opened.keys().all(|p| rootfs.contains_key(p.trim_start_matches('/'))),
            "{node}: the seal holds extra files"
        );
    }
    nodes.len()
}

#[test]
fn cloud_init_user_data_carries_secrets_only_sealed_and_age_opens_them() {
    let Some(id) = identity() else { return };
    let b = Bake::new(&sealed_spec(&ha_spec(2, "ECDSA-P256"), &id.recipient));
    b.bake(&[]).assert_ok();
    let n = check(&b, &id, |node| cloud_init_files(&fs::read_to_string(b.out().join(node).join("user-data")).unwrap()));
    assert_eq!(n, 5);
    // The first control plane's seal holds the CA keys and super-admin.conf.
    let sealed = cloud_init_files(&fs::read_to_string(b.out().join("cp-1/user-data")).unwrap()).remove(SEALED).unwrap();
    let opened = open(&sealed, &id.file).unwrap();
    for p in ["/etc/kubernetes/pki/ca.key", "/etc/kubernetes/pki/etcd/ca.key", "/etc/kubernetes/super-admin.conf"] {
        assert!(opened.contains_key(p), "{p} not sealed");
    }

    // Deterministic: a re-bake from the same spec and state gives the same bytes.
    let first = fs::read(b.out().join("cp-1/user-data")).unwrap();
    b.bake(&[]).assert_ok();
    assert_eq!(first, fs::read(b.out().join("cp-1/user-data")).unwrap());

    // Another identity opens nothing.
    let other = identity().unwrap();
    let err = open(&sealed, &other.file).unwrap_err();
    assert!(err.contains("no identity matched"), "{err}");
}

#[test]
fn ignition_configs_carry_secrets_only_sealed_and_age_opens_them() {
    let Some(id) = identity() else { return };
    let spec = ha_spec(1, "ECDSA-P256").replace("spec:\n", "spec:\n  os: flatcar\n");
    let b = Bake::new(&sealed_spec(&spec, &id.recipient));
    b.bake(&[]).assert_ok();
    assert_eq!(check(&b, &id, |node| ignition_files(&b.out().join(node).join("config.ign"))), 4);
    // The first-boot script opens the seal before any other step.
    let script = fs::read_to_string(b.out().join("worker-1/rootfs/opt/kubebake/firstboot.sh")).unwrap();
    let unseal = script.find("\nstep unseal").expect("an unseal step");
    assert!(unseal < script.find("\nstep prepare").unwrap());
    if let Some(shellcheck) = tool("shellcheck", "shellcheck") {
        for node in ["cp-1", "cp-2", "worker-1"] {
            let script = b.out().join(node).join("rootfs/opt/kubebake/firstboot.sh");
            let out = Command::new(&shellcheck).arg(&script).output().unwrap();
            assert!(out.status.success(), "{node}: {}", String::from_utf8_lossy(&out.stdout));
        }
    }
}

#[test]
fn without_encrypt_to_nothing_is_sealed() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let files = cloud_init_files(&fs::read_to_string(b.out().join("cp-1/user-data")).unwrap());
    assert!(!files.contains_key(SEALED));
    assert!(files.contains_key("/etc/kubernetes/pki/ca.key"));
    let script = fs::read_to_string(b.out().join("cp-1/rootfs/opt/kubebake/firstboot.sh")).unwrap();
    assert!(!script.contains("unseal"));
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
