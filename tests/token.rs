//! `kubebake token create|list|rotate`, run as a user would. The end-to-end tier's
//! scenario h applies a rotated token's Secret to a real API server and joins a worker.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

fn baked() -> Bake {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    b
}

fn list(b: &Bake) -> serde_json::Value {
    let run = b.run(&["token", "list", "cluster.state", "--json"]);
    run.assert_ok();
    serde_json::from_str(&run.stdout()).unwrap()
}

#[test]
fn rotate_changes_only_joining_nodes_files_and_prints_the_secret_to_a_pipe() {
    let b = baked();
    let first = fs::read_to_string(b.state().join("token")).unwrap();
    let before = snapshot(&b.out());
    let run = b.run(&["token", "rotate", "cluster.state", "--ttl", "2h"]);
    run.assert_ok();
    let secret = yaml_value(&run.stdout());
    let id = secret["stringData"]["token-id"].as_str().unwrap().to_string();
    let full = format!("{id}.{}", secret["stringData"]["token-secret"].as_str().unwrap());
    assert_eq!(secret["metadata"]["name"].as_str().unwrap(), format!("bootstrap-token-{id}"));
    assert!(secret["stringData"]["expiration"].as_str().unwrap().ends_with('Z'));
    assert!(run.stderr().contains(&format!("token {id} created")) && !run.stderr().contains(&full));
    let stored = b.state().join("tokens").join(&id);
    assert_eq!(fs::read_to_string(&stored).unwrap(), format!("{full}\n"));
    assert_eq!(fs::metadata(&stored).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(fs::read_to_string(b.state().join("token")).unwrap(), first, "the first token changed");

    let tokens = list(&b);
    let tokens = tokens["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0]["initial"], true);
    assert_eq!(tokens[0]["joins"], false);
    assert_eq!(tokens[1]["id"], id.as_str());
    assert_eq!(tokens[1]["joins"], true);
    assert!(!serde_json::to_string(&tokens).unwrap().contains(&full), "list shows a secret");

    let run = b.bake(&[]);
    run.assert_ok();
    assert!(run.stdout().contains(&format!("--token {id}.****")), "{}", run.stdout());
    let changed = changed_rootfs(&before, &snapshot(&b.out()));
    assert_eq!(
        changed,
        [
            "cp-2/rootfs/etc/kubebake/kubeadm-config.yaml",
            "cp-3/rootfs/etc/kubebake/kubeadm-config.yaml",
            "worker-1/rootfs/etc/kubebake/kubeadm-config.yaml",
        ]
    );
    let worker = fs::read_to_string(b.out().join("worker-1/rootfs/etc/kubebake/kubeadm-config.yaml")).unwrap();
    assert!(worker.contains(&full));
    let init = fs::read_to_string(b.out().join("cp-1/rootfs/etc/kubebake/kubeadm-config.yaml")).unwrap();
    assert!(init.contains(first.trim()) && !init.contains(&full));
}

#[test]
fn create_adds_a_token_without_changing_what_nodes_carry() {
    let b = baked();
    let before = snapshot(&b.out());
    b.run(&["token", "create", "cluster.state", "--ttl", "0", "-o", "t.yaml"]).assert_ok();
    let secret = b.path("t.yaml");
    assert_eq!(fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
    let yaml = yaml_value(&fs::read_to_string(&secret).unwrap());
    assert!(yaml["stringData"].get("expiration").is_none(), "--ttl 0 never expires");
    let tokens = list(&b);
    assert_eq!(tokens["tokens"][0]["joins"], true);
    assert_eq!(tokens["tokens"][1]["expires"], serde_json::Value::Null);
    b.bake(&[]).assert_ok();
    assert_eq!(before, snapshot(&b.out()));
}

#[test]
fn a_terminal_never_gets_the_secret_and_bad_input_changes_nothing() {
    let b = baked();
    let state_before = snapshot(&b.state());
    // A real terminal: script(1) gives the command a pty.
    if let Some(script) = tool("script", "bsdutils") {
        let bin = env!("CARGO_BIN_EXE_kubebake");
        let out = Command::new(script)
            .args(["-qec", &format!("{bin} token create cluster.state"), "/dev/null"])
            .current_dir(b.dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("pipe it (| kubectl apply -f -) or write it with -o FILE"), "{text}");
    }
    for (args, says) in [
        (&["token", "create", "cluster.state", "--ttl", "soon"][..], "--ttl soon"),
        (&["token", "rotate", "nowhere.state"][..], "no such state directory"),
        (&["token", "create", "cluster.state", "-o", "no/such/dir/t.yaml"][..], "is not a directory"),
        (&["token", "list", "out"][..], "not a state a bake made"),
    ] {
        let run = b.run(args);
        assert!(!run.ok(), "{args:?}");
        assert!(run.stderr().contains(says), "{args:?}: {}", run.stderr());
    }
    assert_eq!(state_before, snapshot(&b.state()), "a refused command changed the state");
}
