//! Moving a cluster to the next minor by replacing its machines: after `kubernetesVersion`
//! moves up, a re-bake keeps every node the state knows at the release it was baked for (its
//! files do not change), bakes new machines at the new release, and refuses what breaks
//! Kubernetes' version skew rules. What the nodes do with it runs on real Kubernetes in the
//! end-to-end tier (scenario p).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

use common::*;

type Snapshot = std::collections::BTreeMap<String, (Vec<u8>, u32)>;

const OLD: &str = "v1.35.6";
const NEW: &str = "v1.36.3";

/// The HA spec (cp-1..3 behind api.example.internal, `workers` workers) at `version`.
fn at(version: &str, workers: usize) -> String {
    ha_spec(workers, "ECDSA-P256").replace("spec:\n", &format!("spec:\n  kubernetesVersion: {version}\n"))
}

fn cp(i: u32) -> String {
    format!("    - {{name: cp-{i}, role: control-plane, address: 10.0.0.{}}}\n", 10 + i)
}

/// `spec` with control plane cp-`old` replaced by cp-`new` (same address).
fn replace(spec: &str, old: u32, new: u32) -> String {
    spec.replace(
        &cp(old),
        &format!("    - {{name: cp-{new}, role: control-plane, address: 10.0.0.{}, replaces: cp-{old}}}\n", 10 + old),
    )
}

fn file(b: &Bake, node: &str, path: &str) -> String {
    fs::read_to_string(b.node_file(node, path)).unwrap_or_else(|e| panic!("{node}:{path}: {e}"))
}

/// Files under OUT that differ between two snapshots, outside the given nodes' folders.
fn changed_outside(before: &Snapshot, after: &Snapshot, nodes: &[&str]) -> BTreeSet<String> {
    before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .filter(|k| !nodes.iter().any(|n| k.starts_with(&format!("{n}/"))))
        .cloned()
        .collect()
}

#[test]
fn a_newer_release_bakes_only_the_replacement_and_keeps_every_running_node_as_it_was() {
    let b = Bake::new(&at(OLD, 1));
    b.bake(&[]).assert_ok();
    let before = snapshot(&b.out());
    let init = file(&b, "cp-1", "/etc/kubebake/kubeadm-config.yaml");

    // cp-1, which ran kubeadm init, is the first to go.
    b.set_spec(&replace(&at(NEW, 1), 1, 4));
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(run.stdout().contains(&format!("kept   {OLD} on cp-2, cp-3, worker-1 ")), "{}", run.stdout());
    let json = b.bake(&["--json"]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    let releases: Vec<(&str, &str)> = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap(), n["kubernetesVersion"].as_str().unwrap()))
        .collect();
    assert_eq!(releases, [("cp-4", NEW), ("cp-2", OLD), ("cp-3", OLD), ("worker-1", OLD)]);
    let after = snapshot(&b.out());
    assert_eq!(changed_outside(&before, &after, &["cp-1", "cp-4"]), BTreeSet::from(["SHA256SUMS".to_string()]));

    // No other node inits the cluster in cp-1's place: cp-2 stayed a joiner, at its release.
    assert!(file(&b, "cp-2", "/etc/kubebake/kubeadm-config.yaml").contains("kind: JoinConfiguration"));
    assert!(file(&b, "cp-2", "/opt/kubebake/firstboot.sh").contains(OLD));

    let script = file(&b, "cp-4", "/opt/kubebake/firstboot.sh");
    assert!(script.contains(NEW) && !script.contains(OLD), "{script}");
    for step in ["step upgrade_config\n", "step preflight\n", "step role\n", "step replace\n", "step addons\n"] {
        assert!(script.contains(step), "{step}: {script}");
    }
    let order: Vec<usize> = ["step upgrade_config", "step preflight", "step replace", "step addons"]
        .iter()
        .map(|s| script.find(s).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{script}");
    // The kubeadm-config and kubelet-config ConfigMaps at the new release, key by key.
    let cluster_config = file(&b, "cp-4", "/etc/kubebake/upgrade/kubeadm-config/ClusterConfiguration");
    assert!(cluster_config.starts_with("apiServer:"), "{cluster_config}");
    assert!(cluster_config.contains(&format!("kubernetesVersion: {NEW}")), "{cluster_config}");
    assert!(cluster_config.contains("controlPlaneEndpoint: api.example.internal:6443"), "{cluster_config}");
    let kubelet = file(&b, "cp-4", "/etc/kubebake/upgrade/kubelet-config/kubelet");
    assert!(kubelet.contains("kind: KubeletConfiguration"), "{kubelet}");
    // The ClusterConfiguration cp-1 uploaded at init, but for the release.
    let init_cluster = init.split("---\n").find(|d| d.contains("kind: ClusterConfiguration")).unwrap();
    assert_eq!(cluster_config, init_cluster.replace(OLD, NEW));
    let manifest = file(&b, "cp-4", "/etc/kubebake/manifests/kube-apiserver.yaml");
    assert!(manifest.contains(&format!("kube-apiserver:{NEW}")), "{manifest}");
    if let Some(shellcheck) = tool("shellcheck", "shellcheck") {
        run_ok(Command::new(shellcheck).arg(b.node_file("cp-4", "/opt/kubebake/firstboot.sh")));
    }
    // The real kubeadm of the new release reads the configuration cp-4 uploads.
    if let Some(kit) = common::kits::kit(36) {
        let both = b.path("uploaded.yaml");
        fs::write(&both, format!("{cluster_config}---\n{kubelet}")).unwrap();
        run_ok(Command::new(kit.dir.join("bin/kubeadm")).args(["config", "validate", "--config"]).arg(&both));
    }

    // The same spec again: the same bytes, nothing recorded anew.
    let run = b.bake(&[]);
    run.assert_ok();
    assert_eq!(snapshot(&b.out()), after);

    // The last older control plane replaced: the new one upgrades too (it finds no older
    // one left, and its add-ons step does the add-ons). Then a new worker may join.
    let all_new = replace(&replace(&replace(&at(NEW, 1), 1, 4), 2, 5), 3, 6);
    b.set_spec(&all_new);
    b.bake(&[]).assert_ok();
    for node in ["cp-5", "cp-6"] {
        assert!(file(&b, node, "/opt/kubebake/firstboot.sh").contains("step addons"), "{node}");
    }
    let with_worker = all_new.replace(
        "    - {name: worker-1, role: worker, address: 10.0.1.21}\n",
        "    - {name: worker-2, role: worker, address: 10.0.1.22}\n",
    );
    assert_ne!(with_worker, all_new);
    b.set_spec(&with_worker);
    b.bake(&[]).assert_ok();
    let flags = file(&b, "worker-2", "/opt/kubebake/firstboot.sh");
    assert!(flags.contains(NEW) && !flags.contains("step upgrade_config"), "{flags}");
}

#[test]
fn a_control_plane_added_later_at_the_same_release_is_no_upgrade() {
    let b = Bake::new(&at(NEW, 0));
    b.bake(&[]).assert_ok();
    b.set_spec(&format!("{}{}", at(NEW, 0), cp(4)));
    b.bake(&[]).assert_ok();
    let script = file(&b, "cp-4", "/opt/kubebake/firstboot.sh");
    assert!(!script.contains("upgrade_config") && !script.contains("step addons"), "{script}");
    assert!(!b.node_file("cp-4", "/etc/kubebake/upgrade").exists());
}

#[test]
fn the_version_skew_rules_are_enforced_against_what_the_cluster_runs() {
    let refused = |b: &Bake, spec: &str, expected: &[&str]| {
        let state_before = snapshot(&b.state());
        b.set_spec(spec);
        let run = b.bake(&[]);
        assert!(!run.ok(), "baked: {}", run.stdout());
        for e in expected {
            assert!(run.stderr().contains(e), "{e:?} not in: {}", run.stderr());
        }
        assert_eq!(snapshot(&b.state()), state_before, "a refused bake changed the state");
    };

    // Two minors at once.
    let b = Bake::new(&at("v1.34.9", 1));
    b.bake(&[]).assert_ok();
    refused(&b, &replace(&at(NEW, 1), 1, 4), &["spec.kubernetesVersion", "one minor at a time", "v1.34.9"]);

    // Back down.
    let b = Bake::new(&at(NEW, 1));
    b.bake(&[]).assert_ok();
    refused(&b, &at(OLD, 1), &["spec.kubernetesVersion", "does not downgrade"]);

    // A new worker while an older control plane is left.
    let b = Bake::new(&at(OLD, 1));
    b.bake(&[]).assert_ok();
    let spec = replace(&at(NEW, 1), 1, 4) + "    - {name: worker-9, role: worker, address: 10.0.1.99}\n";
    refused(&b, &spec, &["spec.nodes[4]", "worker-9", "replace the control planes first"]);
}

#[test]
fn a_state_from_before_the_history_was_kept_bakes_as_it_did() {
    // A record without a history (an older kubebake's): the spec's release for every node,
    // the first control plane inits; the next bake records both.
    let b = Bake::new(&at(NEW, 1));
    b.bake(&[]).assert_ok();
    let record = b.state().join("kubebake-state.json");
    let text = fs::read_to_string(&record).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["history"]["initNode"], "cp-1", "{text}");
    assert_eq!(json["history"]["nodes"]["worker-1"]["kubernetesVersion"], NEW, "{text}");
    let mut old = json.clone();
    old.as_object_mut().unwrap().remove("history");
    fs::write(&record, serde_json::to_vec_pretty(&old).unwrap()).unwrap();
    let before = snapshot(&b.out());
    b.bake(&[]).assert_ok();
    assert_eq!(snapshot(&b.out()), before);
    assert_eq!(fs::read_to_string(&record).unwrap(), text);
}

#[test]
fn a_worker_pool_keeps_its_release_and_a_new_pool_waits_for_the_control_planes() {
    let with_pools =
        |spec: String, pools: &str| spec.replace("  nodes:\n", &format!("  workerPools: [{pools}]\n  nodes:\n"));
    let b = Bake::new(&with_pools(at(OLD, 0), "{name: old}"));
    b.bake(&[]).assert_ok();
    let pool = |b: &Bake| snapshot(&b.out().join("pool-old"));
    let before = pool(&b);

    b.set_spec(&with_pools(replace(&at(NEW, 0), 1, 4), "{name: old}"));
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(run.stdout().contains(&format!("kept   {OLD} on cp-2, cp-3, pool old ")), "{}", run.stdout());
    assert!(pool(&b) == before, "the pool's user-data changed");

    // A new pool would run kubelets newer than cp-2's and cp-3's API servers.
    let state_before = snapshot(&b.state());
    b.set_spec(&with_pools(replace(&at(NEW, 0), 1, 4), "{name: old}, {name: new}"));
    let run = b.bake(&[]);
    assert!(!run.ok(), "{}", run.stdout());
    assert!(
        run.stderr().contains("spec.workerPools[1]") && run.stderr().contains("control planes first"),
        "{}",
        run.stderr()
    );
    assert!(snapshot(&b.state()) == state_before);
}

#[test]
fn a_patch_release_moves_the_same_way() {
    // kubeadm upgrade apply moves the cluster's configuration and add-ons to a patch release
    // too: a new control plane of v1.36.3 in a cluster of v1.36.2 does what it would.
    let b = Bake::new(&at("v1.36.2", 0));
    b.bake(&[]).assert_ok();
    b.set_spec(&replace(&at(NEW, 0), 1, 4));
    b.bake(&[]).assert_ok();
    let script = file(&b, "cp-4", "/opt/kubebake/firstboot.sh");
    assert!(script.contains("step upgrade_config") && script.contains("step addons"), "{script}");
    assert!(file(&b, "cp-2", "/opt/kubebake/firstboot.sh").contains("v1.36.2"));
}
