//! Worker pools (`spec.workerPools`): one user-data per pool for any number of identical
//! workers, named by their hostname; the pool's own join token, created by kubeadm init and
//! rotated with `kubebake token rotate --pool`. Checked with the real cloud-init,
//! ignition-validate, shellcheck and age; the end-to-end tier (scenario j) boots two
//! machines from one pool's user-data on real Kubernetes.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

const POOLS: &str = "  workerPools:
    - name: gpu
      labels: {example.com/accelerator: nvidia, node.kubernetes.io/pool: gpu}
      taints:
        - {key: example.com/gpu, value: 'true', effect: NoSchedule}
        - {key: example.com/spot, effect: PreferNoSchedule}
    - name: general
      tokenTTL: 48h
";

fn spec(extra: &str) -> String {
    format!(
        "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata: {{name: pools}}
spec:
{extra}  nodes:
    - {{name: cp-1, role: control-plane, address: 10.0.0.11}}
    - {{name: worker-1, role: worker, address: 10.0.0.21}}
"
    )
}

fn pooled(extra: &str) -> Bake {
    let b = Bake::new(&spec(&format!("{extra}{POOLS}")));
    b.bake(&[]).assert_ok();
    b
}

fn tokens_record(b: &Bake) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(b.state().join("tokens.json")).unwrap()).unwrap()
}

/// The full token (`id.secret`) the state keeps for pool `pool` (`initial` or `joins`).
fn pool_token(b: &Bake, pool: &str, which: &str) -> String {
    let id = tokens_record(b)["pools"][pool][which].as_str().unwrap().to_string();
    fs::read_to_string(b.state().join("tokens").join(&id)).unwrap().trim().to_string()
}

fn yaml_docs(path: &std::path::Path) -> Vec<serde_json::Value> {
    yaml_documents(&fs::read_to_string(path).unwrap())
}

fn has(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_pool_is_one_user_data_with_nothing_node_specific() {
    // Static addressing for listed nodes must not reach a pool: its machines get theirs
    // from the platform.
    let b = pooled("  nodeNetwork: {interface: eth0, prefixLength: 24, gateway: 10.0.0.1}\n");
    let dir = b.out().join("pool-gpu");
    let mut names: Vec<String> =
        fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    // No NoCloud meta-data (one instance's id and name) and no network-config.
    assert_eq!(names, ["rootfs", "user-data", "user-data.gz"]);
    let rootfs = snapshot(&dir.join("rootfs"));
    let paths: Vec<&str> = rootfs.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "etc/containerd/config.toml",
            "etc/kubebake/kubeadm-config.yaml",
            "etc/kubernetes/pki/ca.crt",
            "etc/modules-load.d/kubebake.conf",
            "etc/sysctl.d/99-kubebake.conf",
            "etc/systemd/system/kubebake-firstboot.service",
            "opt/kubebake/firstboot.sh",
            "var/lib/kubelet/config.yaml",
            "var/lib/kubelet/instance-config.yaml",
            "var/lib/kubelet/kubeadm-flags.env",
        ]
    );
    assert_eq!(rootfs["etc/kubebake/kubeadm-config.yaml"].1, 0o600, "it holds the token");
    for (rel, (bytes, _)) in &rootfs {
        for name in ["cp-1", "worker-1", "10.0.0.21", "PRIVATE KEY"] {
            assert!(!has(bytes, name), "pool file {rel} carries {name}");
        }
    }

    let join = &yaml_docs(&dir.join("rootfs/etc/kubebake/kubeadm-config.yaml"))[0];
    assert_eq!(join["kind"], "JoinConfiguration");
    let reg = &join["nodeRegistration"];
    assert!(reg.get("name").is_none(), "a node name in the pool's JoinConfiguration: {reg:?}");
    assert_eq!(reg["kubeletExtraArgs"][0]["name"], "node-labels");
    assert_eq!(reg["kubeletExtraArgs"][0]["value"], "example.com/accelerator=nvidia,node.kubernetes.io/pool=gpu");
    assert_eq!(reg["taints"][0]["key"], "example.com/gpu");
    assert_eq!(reg["taints"][0]["value"], "true");
    assert_eq!(reg["taints"][0]["effect"], "NoSchedule");
    assert!(reg["taints"][1].get("value").is_none());
    let token = pool_token(&b, "gpu", "joins");
    assert_eq!(join["discovery"]["bootstrapToken"]["token"].as_str(), Some(token.as_str()));
    assert_eq!(join["discovery"]["tlsBootstrapToken"].as_str(), Some(token.as_str()));

    // kubeadm's worker join writes this file itself (WriteKubeletDynamicEnvFile): no
    // --hostname-override for a node named by its hostname; kubeadm's own flags (of 1.36: only
    // the taints; the CRI socket and the pause image went elsewhere) sorted, then the labels,
    // an extra arg. The e2e tier's scenario j shows the real join leaving it unchanged.
    let flags = fs::read_to_string(dir.join("rootfs/var/lib/kubelet/kubeadm-flags.env")).unwrap();
    assert_eq!(
        flags,
        "KUBELET_KUBEADM_ARGS=\"--register-with-taints=example.com/gpu=true:NoSchedule,example.com/spot:PreferNoSchedule \
         --node-labels=example.com/accelerator=nvidia,node.kubernetes.io/pool=gpu\"\n"
    );
    // A pool without labels or taints has neither flag.
    let general = fs::read_to_string(b.node_file("pool-general", "/var/lib/kubelet/kubeadm-flags.env")).unwrap();
    assert!(
        !general.contains("node-labels") && !general.contains("register-with-taints") && !general.contains("hostname")
    );

    // cloud-init sets the platform's hostname: the user-data names none.
    let user_data = yaml_value(&fs::read_to_string(dir.join("user-data")).unwrap());
    assert!(user_data.get("hostname").is_none());
    assert_eq!(user_data["preserve_hostname"], false);
    // Listed nodes keep theirs.
    assert!(b.out().join("worker-1/meta-data").exists() && b.out().join("worker-1/network-config").exists());

    // Listed in SHA256SUMS, and `check` finds the whole output sound.
    let sums = fs::read_to_string(b.out().join("SHA256SUMS")).unwrap();
    for f in ["pool-gpu/user-data", "pool-gpu/user-data.gz", "pool-gpu/rootfs/etc/kubebake/kubeadm-config.yaml"] {
        assert!(sums.lines().any(|l| l.ends_with(&format!("  {f}"))), "{f} not in SHA256SUMS");
    }
    let check = b.run(&["check", "cluster.yaml", "out"]);
    check.assert_ok();
}

#[test]
fn each_pools_first_token_is_created_by_kubeadm_init_and_can_only_join() {
    let b = pooled("");
    let init = yaml_docs(&b.node_file("cp-1", "/etc/kubebake/kubeadm-config.yaml"));
    let tokens = init[0]["bootstrapTokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 3, "the cluster's token and one per pool");
    let first = fs::read_to_string(b.state().join("token")).unwrap();
    assert_eq!(tokens[0]["token"].as_str(), Some(first.trim()));
    assert!(tokens[0].get("description").is_none());
    for (t, pool, ttl) in [(&tokens[1], "gpu", "720h0m0s"), (&tokens[2], "general", "48h0m0s")] {
        assert_eq!(t["token"].as_str(), Some(pool_token(&b, pool, "initial").as_str()), "{pool}");
        assert_eq!(t["ttl"], ttl, "{pool}");
        assert_eq!(t["description"].as_str(), Some(format!("kubebake worker pool {pool}").as_str()));
        // kubeadm's join token: the default node group (join RBAC, CSR auto-approval) and
        // nothing else.
        assert_eq!(t["groups"], serde_json::json!(["system:bootstrappers:kubeadm:default-node-token"]));
        assert_eq!(t["usages"], serde_json::json!(["signing", "authentication"]));
    }
    // Its own token, in the state, private.
    let gpu = pool_token(&b, "gpu", "initial");
    let general = pool_token(&b, "general", "initial");
    assert!(gpu != general && gpu != first.trim());
    let id = gpu.split('.').next().unwrap();
    let file = b.state().join("tokens").join(id);
    assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(fs::read_to_string(&file).unwrap(), format!("{gpu}\n"));
    let list = b.run(&["token", "list", "cluster.state", "--json"]);
    list.assert_ok();
    let list: serde_json::Value = serde_json::from_str(&list.stdout()).unwrap();
    let gpu_row = list["tokens"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap();
    assert_eq!((gpu_row["pool"].as_str(), gpu_row["initial"].as_bool()), (Some("gpu"), Some(true)));
    assert_eq!(gpu_row["joins"], true);
    let cluster_row = &list["tokens"][0];
    assert!(cluster_row.get("pool").is_none() && cluster_row["joins"] == true);
    let text = b.run(&["token", "list", "cluster.state"]);
    assert!(
        text.stdout().lines().any(|l| l.starts_with(id) && l.ends_with("kubeadm init, pool gpu")),
        "{}",
        text.stdout()
    );
}

#[test]
fn the_bake_report_lists_pools_and_warns_when_their_tokens_expire_never_printing_them() {
    let b = Bake::new(&spec(POOLS));
    let run = b.bake(&["--json"]);
    run.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let pools = report["pools"].as_array().unwrap();
    assert_eq!(pools.len(), 2);
    assert_eq!((pools[0]["name"].as_str(), pools[0]["dir"].as_str()), (Some("gpu"), Some("pool-gpu")));
    assert_eq!(pools[0]["format"], "cloud-init");
    assert!(pools[0]["delivered"].as_u64().unwrap() < 16_384);
    assert_eq!(pools[0]["tokenFromInit"], true);
    assert_eq!(report["nodes"].as_array().unwrap().len(), 2, "pools are not nodes");
    let warnings: Vec<&str> = report["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    let gpu_id = pools[0]["tokenId"].as_str().unwrap();
    let gpu = warnings.iter().find(|w| w.starts_with("spec.workerPools[0]")).expect("a warning for pool gpu");
    assert!(gpu.contains(&format!("bootstrap token {gpu_id}")) && gpu.contains("720h0m0s TTL"), "{gpu}");
    assert!(gpu.contains("kubebake token rotate cluster.state --pool gpu | kubectl apply -f -"), "{gpu}");
    let general = warnings.iter().find(|w| w.starts_with("spec.workerPools[1]")).unwrap();
    assert!(general.contains("48h0m0s TTL"), "{general}");
    // The text report: a row per pool, the warning on stderr, and no pool token anywhere.
    let text = b.bake(&[]);
    text.assert_ok();
    assert!(text.stdout().lines().any(|l| l.trim_start().starts_with("pool-gpu") && l.contains("worker pool")));
    assert!(text.stderr().contains("warning: cluster.yaml:spec.workerPools[0]: worker pool gpu"), "{}", text.stderr());
    for pool in ["gpu", "general"] {
        for which in ["initial", "joins"] {
            let secret = pool_token(&b, pool, which);
            let secret = secret.split('.').nth(1).unwrap();
            for out in [run.stdout(), run.stderr(), text.stdout(), text.stderr()] {
                assert!(!out.contains(secret), "pool {pool}'s token printed");
            }
        }
    }
    // tokenTTL 0: never expires, said so.
    let b = Bake::new(&spec("  workerPools: [{name: forever, tokenTTL: '0'}]\n"));
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(run.stderr().contains("which never expires (tokenTTL 0)"), "{}", run.stderr());
    let init = yaml_docs(&b.node_file("cp-1", "/etc/kubebake/kubeadm-config.yaml"));
    assert_eq!(init[0]["bootstrapTokens"][1]["ttl"], "0s");
}

#[test]
fn re_baking_gives_the_same_bytes_and_specs_without_pools_are_untouched() {
    let plain = spec("");
    let b = Bake::new(&plain);
    b.bake(&[]).assert_ok();
    let without = snapshot(&b.out());
    let state_without = snapshot(&b.state());
    // No pool: no pool record in the state.
    assert!(!b.state().join("tokens.json").exists());

    b.set_spec(&spec(POOLS));
    b.bake(&[]).assert_ok();
    let with = snapshot(&b.out());
    let state_with = snapshot(&b.state());
    // Adding pools changes only the first control plane's InitConfiguration (it carries the
    // pools' first tokens) and what carries it; every other node stays as it was.
    let mut changed: Vec<&str> = without
        .keys()
        .filter(|k| without.get(*k) != with.get(*k))
        .map(String::as_str)
        .filter(|k| *k != "SHA256SUMS")
        .collect();
    changed.sort();
    assert_eq!(changed, ["cp-1/rootfs/etc/kubebake/kubeadm-config.yaml", "cp-1/user-data", "cp-1/user-data.gz"]);

    // A re-bake reproduces every byte, the pools' included, and leaves the state alone.
    b.bake(&[]).assert_ok();
    assert_eq!(with, snapshot(&b.out()));
    assert_eq!(state_with, snapshot(&b.state()));
    // The pools leave, their tokens stay in the state (they may still be in the cluster),
    // and the output is byte for byte what it was before them.
    b.set_spec(&plain);
    b.bake(&[]).assert_ok();
    assert_eq!(without, snapshot(&b.out()));
    assert_ne!(state_without, snapshot(&b.state()));
    // Back again: the same tokens, the same bytes.
    b.set_spec(&spec(POOLS));
    b.bake(&[]).assert_ok();
    assert_eq!(with, snapshot(&b.out()));
}

#[test]
fn rotating_a_pools_token_changes_only_that_pools_files() {
    let b = pooled("");
    let before = snapshot(&b.out());
    let initial = pool_token(&b, "gpu", "initial");
    let run = b.run(&["token", "rotate", "cluster.state", "--pool", "gpu"]);
    run.assert_ok();
    let secret = yaml_value(&run.stdout());
    let data = &secret["stringData"];
    let id = data["token-id"].as_str().unwrap().to_string();
    let full = format!("{id}.{}", data["token-secret"].as_str().unwrap());
    assert_eq!(data["auth-extra-groups"], "system:bootstrappers:kubeadm:default-node-token");
    assert_eq!(data["usage-bootstrap-authentication"], "true");
    assert_eq!(data["description"], "made by kubebake token rotate for worker pool gpu");
    // A pool's default lifetime, not a day.
    let expires = tokens_record(&b)["tokens"][&id]["expires_unix"].as_i64().unwrap();
    let hours = (expires - time::OffsetDateTime::now_utc().unix_timestamp()) / 3600;
    assert!((719..=720).contains(&hours), "{hours} h");
    assert_eq!(tokens_record(&b)["tokens"][&id]["expires"], data["expiration"].as_str().unwrap());
    assert!(run.stderr().contains("worker pool gpu's user-data carries it") && !run.stderr().contains(&full));
    assert_eq!(pool_token(&b, "gpu", "joins"), full);
    assert_eq!(pool_token(&b, "gpu", "initial"), initial);

    let run = b.bake(&["--json"]);
    run.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(report["pools"][0]["tokenId"], id.as_str());
    assert_eq!(report["pools"][0]["tokenFromInit"], false);
    let warning = report["warnings"].as_array().unwrap().iter().find_map(|w| w.as_str()).unwrap();
    assert!(
        warning.contains(&format!("bootstrap token {id}, which expires on {}", data["expiration"].as_str().unwrap()))
    );
    let changed = changed_rootfs(&before, &snapshot(&b.out()));
    assert_eq!(changed, ["pool-gpu/rootfs/etc/kubebake/kubeadm-config.yaml"]);
    let join = fs::read_to_string(b.node_file("pool-gpu", "/etc/kubebake/kubeadm-config.yaml")).unwrap();
    assert!(join.contains(&full) && !join.contains(&initial));

    // `check` warns before a pool's rotated token lapses, naming the pool.
    b.run(&["token", "rotate", "cluster.state", "--pool", "general", "--ttl", "1h"]).assert_ok();
    b.bake(&[]).assert_ok();
    let check = b.run(&["check", "cluster.yaml", "out", "--json"]);
    check.assert_ok();
    assert!(check.stdout().contains("worker pool general's user-data carries expires on"), "{}", check.stdout());
    assert!(check.stdout().contains("kubebake token rotate --pool general"), "{}", check.stdout());

    // An unknown pool changes nothing.
    let state = snapshot(&b.state());
    let run = b.run(&["token", "rotate", "cluster.state", "--pool", "nope", "-o", "t.yaml"]);
    assert!(!run.ok());
    assert!(run.stderr().contains("has no worker pool \"nope\" (it has general, gpu)"), "{}", run.stderr());
    assert_eq!(state, snapshot(&b.state()));
    assert!(!b.path("t.yaml").exists());
}

#[test]
fn cloud_init_accepts_a_pools_user_data_and_shellcheck_its_script() {
    let (Some(cloud_init), Some(shellcheck)) = (tool("cloud-init", "cloud-init"), tool("shellcheck", "shellcheck"))
    else {
        return;
    };
    for os in ["ubuntu-24.04", "debian-12"] {
        let b = pooled(&format!("  os: {os}\n"));
        for pool in ["pool-gpu", "pool-general"] {
            let out = run_ok(
                Command::new(&cloud_init).args(["schema", "--config-file"]).arg(b.out().join(pool).join("user-data")),
            );
            assert!(out.contains("Valid cloud-config"), "{os} {pool}: {out}");
            // Every rootfs file is what the user-data writes.
            let written = cloud_init_files(&fs::read_to_string(b.out().join(pool).join("user-data")).unwrap());
            for (rel, (bytes, _)) in snapshot(&b.out().join(pool).join("rootfs")) {
                assert!(written.get(&format!("/{rel}")) == Some(&bytes), "{os} {pool}: /{rel}");
            }
            let script = b.node_file(pool, "/opt/kubebake/firstboot.sh");
            let out = Command::new(&shellcheck).arg(&script).output().unwrap();
            assert!(out.status.success(), "{os} {pool}:\n{}", String::from_utf8_lossy(&out.stdout));
        }
    }
}

#[test]
fn ignition_validate_accepts_a_pools_config() {
    let Some(validate) = tool("ignition-validate", "ignition") else { return };
    for os in ["flatcar", "fedora-coreos"] {
        let b =
            pooled(&format!("  os: {os}\n  nodeNetwork: {{interface: eth0, prefixLength: 24, gateway: 10.0.0.1}}\n"));
        let config = b.out().join("pool-gpu/config.ign");
        run_ok(Command::new(&validate).arg(&config));
        let json = ignition_inner(&config);
        let inner = b.path(&format!("{os}-inner.ign"));
        fs::write(&inner, serde_json::to_vec(&json).unwrap()).unwrap();
        run_ok(Command::new(&validate).arg(&inner));
        let paths: Vec<&str> =
            json["storage"]["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
        // Its files travel in the pack (unpacked on the node before first boot).
        assert_eq!(paths, ["/etc/kubebake/node.pack.gz", "/opt/kubebake/unpack.sh"], "{os}");
        assert!(b.out().join("pool-gpu/rootfs/etc/kubebake/kubeadm-config.yaml").exists());
        // No hostname and no static network file: the platform names and addresses it.
        assert!(
            !paths.iter().any(|p| *p == "/etc/hostname"
                || p.starts_with("/etc/systemd/network/")
                || p.contains("NetworkManager")),
            "{os}: {paths:?}"
        );
        assert!(b.out().join("worker-1/config.ign").exists());
    }
}

#[test]
fn the_first_boot_script_names_the_machine_by_its_hostname() {
    let b = pooled("");
    let script = fs::read_to_string(b.node_file("pool-gpu", "/opt/kubebake/firstboot.sh")).unwrap();
    assert!(script.contains("< /proc/sys/kernel/hostname"));
    // The pool's name goes in as one quoted word (the `sh` filter), the messages name it.
    assert!(script.contains("readonly POOL='gpu'\n"));
    assert!(script.contains("fail \"worker pool $POOL: the hostname $name is not a valid node name"));
    assert!(script.contains("kubeadm join --config \"$CONFIG\""));
    // A listed worker's script is as it was: no hostname logic.
    let worker = fs::read_to_string(b.node_file("worker-1", "/opt/kubebake/firstboot.sh")).unwrap();
    assert!(
        !worker.contains("/proc/sys/kernel/hostname")
            && worker.contains("log 'worker-1'\" is set up (\"'join-worker'\")\"")
    );

    // The script's hostname check is the one Kubernetes applies to node names, run by bash.
    let (Some(bash), true) = (tool("bash", "bash"), script.contains("valid_node_name() {")) else {
        panic!("no valid_node_name in the script");
    };
    let start = script.find("valid_node_name() {").unwrap();
    let end = start + script[start..].find("\n}\n").unwrap() + 3;
    let function = &script[start..end];
    let long_label = "a".repeat(64);
    let long_name = vec!["abc"; 64].join(".");
    for (name, valid) in [
        ("pool-a-7f3k", true),
        ("ip-10-0-0-5.ec2.internal", true),
        ("a", true),
        ("-a", false),
        ("a-", false),
        ("a_b", false),
        ("a..b", false),
        (long_label.as_str(), false),
        (long_name.as_str(), false),
    ] {
        let status = Command::new(&bash)
            .arg("-c")
            .arg(format!("{function}valid_node_name \"$1\""))
            .arg("check")
            .arg(name)
            .status()
            .unwrap();
        assert_eq!(status.success(), valid, "{name}");
    }
}

#[test]
fn sealed_secrets_cover_a_pools_token() {
    let Some(id) = age_identity() else { return };
    let b = pooled(&format!("  secrets: {{encryptTo: {}}}\n", id.recipient));
    let token = pool_token(&b, "gpu", "joins");
    let text = fs::read_to_string(b.out().join("pool-gpu/user-data")).unwrap();
    assert!(!text.contains(&token));
    let files = cloud_init_files(&text);
    for (path, bytes) in &files {
        assert!(!has(bytes, &token), "{path} carries the pool's token in clear");
    }
    assert!(!files.contains_key("/etc/kubebake/kubeadm-config.yaml"));
    assert!(files.contains_key("/etc/kubebake/node.pack.gz.age"), "{:?}", files.keys());
    // A pool's machine opens it as any node does: its unpacker, with the image's identity.
    let root = b.path("root-pool-gpu");
    lay(&root, &files);
    give_identity(&root, &id.file);
    let out = unpack(&root);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = fs::read(root.join("etc/kubebake/kubeadm-config.yaml")).unwrap();
    assert!(has(&config, &token));
    assert_eq!(config, fs::read(b.node_file("pool-gpu", "/etc/kubebake/kubeadm-config.yaml")).unwrap());
    // The first control plane's seal covers the pools' first tokens too.
    let cp = fs::read_to_string(b.out().join("cp-1/user-data")).unwrap();
    assert!(!cp.contains(&pool_token(&b, "gpu", "initial")) && !cp.contains(&pool_token(&b, "general", "initial")));
}

#[test]
fn platform_limits_apply_to_a_pools_user_data() {
    // Hundreds of labels with values that do not compress: the pool's user-data alone is
    // over EC2's 16 KB, and the bake names it.
    let mut labels = String::new();
    for i in 0..400 {
        let value = kubebake::fmt::hex(&<sha2::Sha256 as sha2::Digest>::digest(format!("{i}").as_bytes()));
        labels.push_str(&format!("        example.com/l{i}: v{}\n", &value[..60]));
    }
    let b = Bake::new(&spec(&format!("  workerPools:\n    - name: big\n      labels:\n{labels}")));
    let run = b.bake(&["--platform", "aws", "--allow-clear-secrets"]);
    assert!(!run.ok());
    assert!(run.stderr().contains("user-data over aws's limit of 16384 bytes: pool-big ("), "{}", run.stderr());
    assert!(!b.out().exists());
    b.bake(&["--platform", "gce", "--allow-clear-secrets"]).assert_ok();
}

/// Bakes `spec`, expects it refused with each of `expected` in stderr, and nothing written.
#[track_caller]
fn refused(spec: &str, expected: &[&str]) {
    let b = Bake::new(spec);
    let run = b.bake(&[]);
    assert!(!run.ok(), "accepted:\n{spec}");
    for e in expected {
        assert!(run.stderr().contains(e), "expected {e:?} in:\n{}", run.stderr());
    }
    assert!(!b.out().exists() && !b.state().exists(), "written for an invalid spec");
}

#[test]
fn invalid_pools_are_refused_naming_the_field_and_line() {
    let pools = |body: &str| spec(&format!("  workerPools:\n{body}"));
    // The spec's first pool is on line 6.
    refused(
        &pools("    - {name: Bad_Pool}\n"),
        &["line 6 column 14: spec.workerPools[0].name: \"Bad_Pool\" is not a DNS-1123 label"],
    );
    refused(
        &pools("    - {name: a}\n    - {name: a}\n"),
        &["spec.workerPools[1].name: \"a\" is already the name of spec.workerPools[0]"],
    );
    refused(
        &pools("    - {name: worker-1}\n"),
        &["spec.workerPools[0].name: \"worker-1\" is already the name of spec.nodes[1]"],
    );
    refused(
        &spec("  workerPools: [{name: x}]\n").replace("name: worker-1,", "name: pool-x,"),
        &["spec.workerPools[0].name: its output directory pool-x is that of spec.nodes[1]"],
    );
    refused(
        &pools("    - name: a\n      labels: {node-role.kubernetes.io/worker: ''}\n"),
        &[
            "line 7 column 48: spec.workerPools[0].labels.node-role.kubernetes.io/worker:",
            "a kubelet may not set on its own Node",
        ],
    );
    refused(
        &pools("    - name: a\n      labels: {'bad key': x}\n"),
        &["spec.workerPools[0].labels.bad key: \"bad key\" is not a Kubernetes qualified name"],
    );
    refused(
        &pools("    - name: a\n      labels: {Example.com/x: y}\n"),
        &["its prefix \"Example.com\" is not a DNS-1123 subdomain"],
    );
    refused(
        &pools("    - name: a\n      labels: {tier: -front}\n"),
        &["spec.workerPools[0].labels.tier: \"-front\" is not a label value"],
    );
    refused(
        &pools("    - name: a\n      labels: {gpu: true}\n"),
        &["spec.workerPools[0].labels.gpu: must be a string; quote it: 'true'"],
    );
    refused(
        &pools("    - name: a\n      taints: [{key: k, effect: NoExecution}]\n"),
        &[
            "spec.workerPools[0].taints[0].effect: \"NoExecution\" is not a taint effect (NoSchedule, PreferNoSchedule, NoExecute)",
        ],
    );
    refused(
        &pools(
            "    - name: a\n      taints: [{key: k, value: a, effect: NoSchedule}, {key: k, value: b, effect: NoSchedule}]\n",
        ),
        &["spec.workerPools[0].taints[1].key: \"k\" with effect NoSchedule is already spec.workerPools[0].taints[0]"],
    );
    refused(
        &pools("    - name: a\n      taints: [{key: 'a/b/c', effect: NoSchedule}]\n"),
        &["spec.workerPools[0].taints[0].key"],
    );
    refused(&pools("    - {name: a, tokenTTL: 30days}\n"), &["spec.workerPools[0].tokenTTL"]);
    refused(&pools("    - {name: a, size: 3}\n"), &["unknown field `size`"]);
    refused(
        &spec("  pki: {externalCA: true}\n  workerPools: [{name: a}]\n"),
        &["spec.workerPools: cannot be used with spec.pki.externalCA"],
    );
    // Allowed: the kubelet's own namespaces and well-known labels, a prefix of one's own.
    let ok = Bake::new(&pools(
        "    - name: a\n      labels: {node.kubernetes.io/tier: x, topology.kubernetes.io/zone: z1, example.com/a: '', kubelet.kubernetes.io/x: y}\n",
    ));
    ok.run(&["validate", "cluster.yaml"]).assert_ok();
}
