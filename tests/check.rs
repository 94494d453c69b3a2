//! `kubebake inspect STATE` and `kubebake check SPEC OUT`, run as a user would.

mod common;

use std::fs;

use common::*;

fn baked() -> Bake {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    b
}

fn check(b: &Bake, extra: &[&str]) -> (bool, serde_json::Value) {
    let mut args = vec!["check", "cluster.yaml", "out", "--json"];
    args.extend_from_slice(extra);
    let run = b.run(&args);
    (run.ok(), serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.stderr())))
}

fn messages(report: &serde_json::Value, severity: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == severity)
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn inspect_lists_every_certificate_the_tokens_and_the_pin_but_no_secret() {
    let b = baked();
    let run = b.run(&["inspect", "cluster.state", "--json"]);
    run.assert_ok();
    let i: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(i["cluster"], "ha");
    let bake = b.bake(&[]);
    assert!(bake.stdout().contains(i["caCertHash"].as_str().unwrap()), "the pin differs from bake's");
    let certs = i["certificates"].as_array().unwrap();
    let crt_files = snapshot(&b.state()).keys().filter(|k| k.ends_with(".crt")).count();
    assert_eq!(certs.len(), crt_files);
    let apiserver = certs.iter().find(|c| c["name"] == "nodes/cp-2/pki/apiserver").unwrap();
    assert_eq!(apiserver["subject"], "CN=kube-apiserver");
    assert_eq!(apiserver["issuer"], "CN=kubernetes");
    assert_eq!(apiserver["algorithm"], "ECDSA-P256");
    assert!(apiserver["sans"].as_array().unwrap().iter().any(|s| s == "IP:10.0.0.12"));
    assert!((364..=365).contains(&apiserver["daysLeft"].as_i64().unwrap()));
    let ca = certs.iter().find(|c| c["name"] == "etcd/ca").unwrap();
    assert_eq!(ca["isCA"], serde_json::Value::Null, "camelCase keys: isCa");
    assert_eq!(ca["isCa"], true);
    let token = fs::read_to_string(b.state().join("token")).unwrap();
    assert_eq!(i["tokens"][0]["id"].as_str().unwrap(), token.split('.').next().unwrap());
    let (_, secret) = token.trim().split_once('.').unwrap();
    let table = b.run(&["inspect", "cluster.state"]);
    table.assert_ok();
    for out in [run.stdout(), table.stdout()] {
        assert!(!out.contains(secret) && !out.contains("PRIVATE KEY"), "inspect shows a secret");
    }
    assert!(table.stdout().contains("nodes/cp-1/kubeconfig/super-admin"));
    let rsa = Bake::new(&ha_spec(1, "RSA-2048"));
    rsa.bake(&[]).assert_ok();
    let run = rsa.run(&["inspect", "cluster.state", "--json"]);
    assert!(run.stdout().contains("\"algorithm\": \"RSA-2048\""));
    let run = b.run(&["inspect", "out"]);
    assert!(!run.ok() && run.stderr().contains("not a state a bake made"), "{}", run.stderr());
}

#[test]
fn a_fresh_bake_checks_clean() {
    let b = baked();
    let (ok, report) = check(&b, &[]);
    assert!(ok, "{report}");
    assert_eq!(report["findings"], serde_json::json!([]));
    assert!(report["certificatesChecked"].as_u64().unwrap() > 40, "{report}");
    let run = b.run(&["check", "cluster.yaml", "out"]);
    run.assert_ok();
    assert!(run.stdout().contains("0 problem(s), 0 warning(s)"), "{}", run.stdout());
}

#[test]
fn every_kind_of_damage_is_named() {
    let b = baked();
    let other = baked();
    let out = b.out();
    // A file changed after the bake.
    fs::write(out.join("worker-1/rootfs/etc/hostname"), "intruder\n").unwrap();
    // A certificate from another cluster, with its own key (so only the chain is wrong).
    for ext in ["crt", "key"] {
        let rel = format!("cp-2/rootfs/etc/kubernetes/pki/apiserver.{ext}");
        fs::copy(other.out().join(&rel), out.join(&rel)).unwrap();
    }
    // A key that is not the certificate's.
    fs::copy(
        out.join("cp-3/rootfs/etc/kubernetes/pki/front-proxy-client.key"),
        out.join("cp-3/rootfs/etc/kubernetes/pki/apiserver.key"),
    )
    .unwrap();
    // A file nobody baked.
    fs::write(out.join("cp-1/rootfs/etc/extra"), "x").unwrap();
    let (ok, report) = check(&b, &[]);
    assert!(!ok);
    let problems = messages(&report, "problem").join("\n");
    for says in [
        "worker-1/rootfs/etc/hostname: does not match its SHA256SUMS entry",
        "cp-2/rootfs/etc/kubernetes/pki/apiserver.crt: not signed by any of the state's CAs",
        "cp-3/rootfs/etc/kubernetes/pki/apiserver.crt: its key does not belong to it",
        "cp-1/rootfs/etc/extra: not listed in SHA256SUMS",
        "worker-1/rootfs/etc/hostname differs from what cluster.yaml and its state give now",
    ] {
        assert!(problems.contains(says), "missing {says:?} in:\n{problems}");
    }
}

#[test]
fn a_spec_changed_since_the_bake_and_what_expires_soon_are_reported() {
    let b = baked();
    b.set_spec(&ha_spec(2, "ECDSA-P256"));
    let (ok, report) = check(&b, &[]);
    assert!(!ok);
    let problems = messages(&report, "problem").join("\n");
    assert!(problems.contains("worker-2/rootfs/etc/hostname is missing from what cluster.yaml"), "{problems}");
    assert!(problems.contains("the state would change: issued") || problems.contains("is missing"), "{problems}");

    let b = baked();
    let (ok, report) = check(&b, &["--warn", "400d"]);
    assert!(ok, "warnings alone are no failure: {report}");
    let warnings = messages(&report, "warning");
    assert!(warnings.iter().any(|w| w.starts_with("nodes/cp-1/pki/apiserver (state) expires in 36")), "{warnings:?}");
    assert!(!warnings.iter().any(|w| w.starts_with("ca ")), "the CA lasts 10 years: {warnings:?}");

    let run = b.run(&["check", "cluster.yaml", "out", "--warn", "soon"]);
    assert!(!run.ok() && run.stderr().contains("--warn soon"), "{}", run.stderr());
    let run = b.run(&["check", "cluster.yaml", "cluster.state"]);
    assert!(!run.ok() && run.stderr().contains("not an output directory"), "{}", run.stderr());
}

#[test]
fn check_writes_nothing_and_removes_the_state_copies_earlier_versions_left_in_tmpdir() {
    use std::os::unix::fs::PermissionsExt;
    let b = baked();
    let tmp = b.path("tmp");
    fs::create_dir(&tmp).unwrap();
    // What `check` left in $TMPDIR when interrupted, before it compared in memory: a
    // world-readable directory with a copy of the state.
    let old = tmp.join(".kubebake-check-Ab12Cd");
    fs::create_dir_all(old.join("state/etcd")).unwrap();
    fs::set_permissions(&old, fs::Permissions::from_mode(0o755)).unwrap();
    fs::copy(b.state().join("etcd/ca.key"), old.join("state/etcd/ca.key")).unwrap();
    // Not such a directory: other names, a file, and a link to a directory of the user's.
    let others =
        [".kubebake-check-notours", ".kubebake-check-Ab12C", "kubebake-check-Ab12Cd", ".kubebake-check-File01"];
    for name in &others[..3] {
        fs::create_dir(tmp.join(name)).unwrap();
    }
    fs::write(tmp.join(others[3]), "x").unwrap();
    let linked = b.path("linked");
    fs::create_dir(&linked).unwrap();
    fs::write(linked.join("kept"), "x").unwrap();
    std::os::unix::fs::symlink(&linked, tmp.join(".kubebake-check-Link01")).unwrap();

    let before = fs::read_dir(b.path("")).unwrap().count();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_kubebake"))
        .args(["check", "cluster.yaml", "out"])
        .current_dir(b.dir.path())
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(!old.exists(), "the old copy of the state is still in $TMPDIR");
    let mut left: Vec<String> =
        fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    let mut want: Vec<String> = others.iter().map(|s| s.to_string()).collect();
    want.push(".kubebake-check-Link01".into());
    want.sort();
    assert_eq!(left, want, "check made or removed something else in $TMPDIR");
    assert!(linked.join("kept").exists(), "a link was followed");
    assert_eq!(fs::read_dir(b.path("")).unwrap().count(), before, "check wrote beside OUT or the state");
}

/// The seal seed is a state secret like the CA keys: `check` bakes a copy of it and finds
/// a sealed output sound, neither `check` nor `inspect` prints it, and a state that lost
/// it is reported (the seals would change) without `check` making one in the real state.
#[test]
fn a_sealed_output_checks_clean_and_the_seal_seed_is_never_shown() {
    let recipient = "age1pce3h48yq6wxkgfcdhyefu4my9lycys3jyun7rexs0e9h05j0alqzx27te";
    let b = Bake::new(&sealed_spec(&ha_spec(1, "ECDSA-P256"), recipient));
    b.bake(&[]).assert_ok();
    let (ok, report) = check(&b, &[]);
    assert!(ok, "{report}");
    assert_eq!(report["findings"], serde_json::json!([]));
    let seed = fs::read(b.state().join("seal.seed")).unwrap();
    let shown = [kubebake::fmt::hex(&seed), {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&seed)
    }];
    let runs = [
        b.run(&["inspect", "cluster.state"]),
        b.run(&["inspect", "cluster.state", "--json"]),
        b.run(&["check", "cluster.yaml", "out"]),
        b.run(&["check", "cluster.yaml", "out", "--json"]),
    ];
    for run in &runs {
        run.assert_ok();
        let all = format!("{}{}", run.stdout(), run.stderr());
        for form in &shown {
            assert!(!all.contains(&form[..24]), "the seal seed is shown:\n{all}");
        }
    }

    fs::remove_file(b.state().join("seal.seed")).unwrap();
    let (ok, report) = check(&b, &[]);
    assert!(!ok);
    let problems = messages(&report, "problem");
    assert!(
        problems.iter().any(|m| m.contains("cp-1/user-data differs") && m.contains("created seal seed")),
        "{problems:?}"
    );
    assert!(!b.state().join("seal.seed").exists(), "check changed the state");
}
