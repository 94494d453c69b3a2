//! `kubebake renew`: reissues what expires (or what is named), keeps keys unless asked,
//! and a re-bake changes exactly the renewed certificates' files.

mod common;

use std::process::Command;

use common::*;

fn baked() -> Bake {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    b
}

fn changed(
    before: &std::collections::BTreeMap<String, (Vec<u8>, u32)>,
    after: &std::collections::BTreeMap<String, (Vec<u8>, u32)>,
) -> Vec<String> {
    let mut c: Vec<String> = after.keys().filter(|k| before.get(*k) != after.get(*k)).cloned().collect();
    c.sort();
    c
}

#[test]
fn nothing_expires_within_30_days_of_a_fresh_state() {
    let b = baked();
    let before = snapshot(&b.state());
    let run = b.run(&["renew", "cluster.state"]);
    run.assert_ok();
    assert!(run.stdout().contains("nothing to renew"), "{}", run.stdout());
    assert_eq!(before, snapshot(&b.state()));
}

#[test]
fn a_named_certificate_is_renewed_on_every_node_with_its_key_and_only_its_files_change() {
    let b = baked();
    let (state0, out0) = (snapshot(&b.state()), snapshot(&b.out()));
    let run = b.run(&["renew", "cluster.state", "apiserver", "--json"]);
    run.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let names: Vec<&str> = report["renewed"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["nodes/cp-1/pki/apiserver", "nodes/cp-2/pki/apiserver", "nodes/cp-3/pki/apiserver"]);
    assert_eq!(
        changed(&state0, &snapshot(&b.state())),
        ["nodes/cp-1/pki/apiserver.crt", "nodes/cp-2/pki/apiserver.crt", "nodes/cp-3/pki/apiserver.crt"],
        "keys are kept"
    );
    b.bake(&[]).assert_ok();
    let out1 = snapshot(&b.out());
    let files: Vec<String> = changed(&out0, &out1).into_iter().filter(|p| p.contains("/rootfs/")).collect();
    assert_eq!(
        files,
        [
            "cp-1/rootfs/etc/kubernetes/pki/apiserver.crt",
            "cp-2/rootfs/etc/kubernetes/pki/apiserver.crt",
            "cp-3/rootfs/etc/kubernetes/pki/apiserver.crt",
        ]
    );
    if tool("openssl", "openssl").is_some() {
        let ca = b.state().join("ca.crt");
        let crt = b.state().join("nodes/cp-2/pki/apiserver.crt");
        let out = run_ok(Command::new("openssl").arg("verify").arg("-CAfile").arg(&ca).arg(&crt));
        assert!(out.contains(": OK"));
    }
    b.run(&["check", "cluster.yaml", "out"]).assert_ok();
}

#[test]
fn a_window_renews_every_leaf_but_no_ca_and_new_keys_change_keys() {
    let b = baked();
    let state0 = snapshot(&b.state());
    let run = b.run(&["renew", "cluster.state", "--within", "400d", "--new-keys"]);
    run.assert_ok();
    let changed = changed(&state0, &snapshot(&b.state()));
    assert!(changed.iter().all(|p| p.starts_with("nodes/") || p.starts_with("operator/")), "{changed:?}");
    let leaves = state0
        .keys()
        .filter(|k| (k.starts_with("nodes/") || k.starts_with("operator/")) && k.ends_with(".crt"))
        .count();
    assert_eq!(changed.len(), 2 * leaves, "every leaf's certificate and key: {changed:?}");
    // Workers hold no certificate of the state (their kubelet gets one through a CSR).
    assert!(!run.stdout().contains("worker-1:"), "{}", run.stdout());
    assert!(run.stdout().contains("operator: OUT/admin.conf"), "{}", run.stdout());
    b.bake(&[]).assert_ok();
    b.run(&["check", "cluster.yaml", "out"]).assert_ok();
}

#[test]
fn an_unknown_name_or_window_changes_nothing() {
    let b = baked();
    let before = snapshot(&b.state());
    for (args, says) in [
        (&["renew", "cluster.state", "apiserver", "no-such-cert"][..], "is called \"no-such-cert\""),
        (&["renew", "cluster.state", "--within", "a while"][..], "--within a while"),
        (&["renew", "missing.state"][..], "no such state directory"),
    ] {
        let run = b.run(args);
        assert!(!run.ok(), "{args:?}");
        assert!(run.stderr().contains(says), "{args:?}: {}", run.stderr());
    }
    assert_eq!(before, snapshot(&b.state()));
}
