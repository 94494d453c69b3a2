//! Node lifecycle from the same state: a control plane that `replaces` a lost one, and the
//! script `kubebake retire` prints for a node taken out of the spec. What the nodes do with
//! them runs on real Kubernetes in the end-to-end tier (scenarios m and n).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

use common::*;

const CP2: &str = "    - {name: cp-2, role: control-plane, address: 10.0.0.12}\n";

/// The HA spec (api.example.internal endpoint, cp-1..3, one worker) with cp-2 replaced by
/// cp-4 at `address`.
fn replaced(address: &str) -> String {
    ha_spec(1, "ECDSA-P256").replace(CP2, "")
        + &format!("    - {{name: cp-4, role: control-plane, address: {address}, replaces: cp-2}}\n")
}

#[test]
fn a_replacement_changes_no_other_nodes_files_and_the_state_forgets_the_replaced_one() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let before = snapshot(&b.out());
    b.set_spec(&replaced("10.0.0.14"));
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(run.stdout().contains("dropped nodes/cp-2/"), "{}", run.stdout());
    assert!(!b.state().join("nodes/cp-2").exists());
    let after = snapshot(&b.out());
    let changed: BTreeSet<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .filter(|k| !k.starts_with("cp-2/") && !k.starts_with("cp-4/"))
        .collect();
    assert_eq!(changed, BTreeSet::from([&"SHA256SUMS".to_string()]));
    assert!(!b.out().join("cp-2").exists());

    // cp-4 joins, whatever its place in the list; cp-1 still inits a new cluster.
    let config = |node: &str| fs::read_to_string(b.node_file(node, "/etc/kubebake/kubeadm-config.yaml")).unwrap();
    assert!(config("cp-4").contains("kind: JoinConfiguration"), "{}", config("cp-4"));
    assert!(config("cp-1").contains("kind: InitConfiguration"));
    let script = fs::read_to_string(b.node_file("cp-4", "/opt/kubebake/firstboot.sh")).unwrap();
    assert!(script.contains("readonly REPLACED='cp-2'") && script.contains("step replace"), "{script}");
    let others = fs::read_to_string(b.node_file("cp-3", "/opt/kubebake/firstboot.sh")).unwrap();
    assert!(!others.contains("REPLACED"));
    if let Some(shellcheck) = tool("shellcheck", "shellcheck") {
        run_ok(Command::new(shellcheck).arg(b.node_file("cp-4", "/opt/kubebake/firstboot.sh")));
    }
}

#[test]
fn once_every_control_plane_is_a_replacement_no_node_inits() {
    let spec = ha_spec(0, "ECDSA-P256")
        .replace(
            "{name: cp-1, role: control-plane, address: 10.0.0.11}",
            "{name: cp-5, role: control-plane, address: 10.0.0.15, replaces: cp-1}",
        )
        .replace(CP2, "    - {name: cp-4, role: control-plane, address: 10.0.0.12, replaces: cp-2}\n")
        .replace(
            "{name: cp-3, role: control-plane, address: 10.0.0.13}",
            "{name: cp-6, role: control-plane, address: 10.0.0.13, replaces: cp-3}",
        );
    let b = Bake::new(&spec);
    b.bake(&[]).assert_ok();
    for node in ["cp-4", "cp-5", "cp-6"] {
        let config = fs::read_to_string(b.node_file(node, "/etc/kubebake/kubeadm-config.yaml")).unwrap();
        assert!(config.contains("kind: JoinConfiguration") && !config.contains("InitConfiguration"), "{node}");
        // super-admin.conf is the init node's only.
        assert!(!b.node_file(node, "/etc/kubernetes/super-admin.conf").exists(), "{node}");
    }
}

#[test]
fn replacements_are_checked() {
    let refused = |spec: &str, expected: &str| {
        let b = Bake::new(spec);
        let run = b.run(&["validate", "cluster.yaml"]);
        assert!(!run.ok() && run.stderr().contains(expected), "{}", run.stderr());
    };
    // A replaced node leaves the spec.
    refused(
        &(ha_spec(0, "ECDSA-P256") + "    - {name: cp-4, role: control-plane, address: 10.0.0.14, replaces: cp-2}\n"),
        "spec.nodes[3].replaces: \"cp-2\" is spec.nodes[1]",
    );
    // One replacement per node.
    refused(
        &(replaced("10.0.0.14") + "    - {name: cp-5, role: control-plane, address: 10.0.0.15, replaces: cp-2}\n"),
        "spec.nodes[4].replaces: \"cp-2\" is already replaced by spec.nodes[3]",
    );
    refused(&replaced("10.0.0.14").replace("replaces: cp-2", "replaces: 'cp_2'"), "spec.nodes[3].replaces:");
    // Workers are retired, not replaced in place.
    refused(
        &(ha_spec(0, "ECDSA-P256") + "    - {name: worker-9, role: worker, address: 10.0.0.29, replaces: worker-1}\n"),
        "only a control plane replaces another in place",
    );
    // The default endpoint is the first control plane's address: it must not move.
    refused(
        &replaced("10.0.0.14").replace("  controlPlaneEndpoint: api.example.internal:6443\n", ""),
        "spec.controlPlaneEndpoint: is needed once a control plane replaces another",
    );
}

#[test]
fn retire_prints_a_script_for_a_node_gone_from_the_spec_and_refuses_any_other() {
    let b = Bake::new(&replaced("10.0.0.14"));
    let run = b.run(&["retire", "cluster.yaml", "worker-7", "--drain-timeout", "90s"]);
    run.assert_ok();
    let script = run.stdout();
    assert!(script.starts_with("#!/usr/bin/env bash\n"), "{script}");
    assert!(script.contains("readonly NODE='worker-7'") && script.contains("readonly DRAIN_TIMEOUT='1m30s'"));
    assert!(script.contains("kubectl delete node \"$NODE\" --ignore-not-found"));
    fs::write(b.path("retire.sh"), &script).unwrap();
    run_ok(Command::new("bash").arg("-n").arg(b.path("retire.sh")));
    if let Some(shellcheck) = tool("shellcheck", "shellcheck") {
        run_ok(Command::new(shellcheck).arg(b.path("retire.sh")));
    }
    // It wrote nothing: no state, no output.
    assert!(!b.state().exists() && !b.out().exists());

    for (node, expected) in [
        ("cp-1", "cp-1 is still in spec.nodes"),
        ("cp-2", "cp-2 is replaced by cp-4"),
        ("cp-1;reboot", "is not a DNS-1123 label"),
    ] {
        let run = b.run(&["retire", "cluster.yaml", node]);
        assert!(!run.ok() && run.stderr().contains(expected), "{node}: {}", run.stderr());
        assert!(run.stdout().is_empty());
    }
}
