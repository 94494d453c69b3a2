//! The first control plane's rendered etcd manifest, run by a real etcd with exactly its
//! command, flags and certificates, is a healthy one-member cluster; a joining control
//! plane's baked etcd certificates then carry it through kubeadm's join flow (added as a
//! learner over the client API, started with `--initial-cluster-state=existing`,
//! promoted). The real kubeadm does that flow in the end-to-end tier (tests/e2e.rs).
//!
//! Debian's etcd (3.4) takes the flag names of etcd 3.5, which kubeadm 1.33 writes; the
//! manifests of 1.34 and later carry etcd 3.6's names, and run on the etcd of the default
//! minor's e2e kit when it is here.
//!
//! Each member runs in a network namespace of its own (every member also listens on
//! 127.0.0.1:2379 and :2381, as kubeadm's etcd does), bridged to the others, with its node
//! address from the loopback range (127.0.0.11-13); and in a mount namespace where the
//! node's baked /etc/kubernetes and a fresh data directory sit at the manifest's paths.
//! Nothing outside the namespaces is touched but two empty mount points.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SPEC: &str = "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata: {name: etcd-test}
spec:
  kubernetesVersion: VERSION
  controlPlaneEndpoint: 127.0.0.11:6443
  nodes:
    - {name: cp-1, role: control-plane, address: 127.0.0.11}
    - {name: cp-2, role: control-plane, address: 127.0.0.12}
    - {name: cp-3, role: control-plane, address: 127.0.0.13}
";

/// Network namespaces: one per member plus a hub holding the bridge. Removed on drop.
struct Namespaces {
    hub: String,
    members: Vec<String>,
}

fn ip(args: &[&str]) {
    run_ok(Command::new("ip").args(args));
}

impl Namespaces {
    /// `label` tells the namespaces of tests running side by side in one process apart.
    fn new(label: &str, count: usize) -> Self {
        let tag = format!("{}{label}", std::process::id());
        let ns =
            Namespaces { hub: format!("kb{tag}-hub"), members: (1..=count).map(|i| format!("kb{tag}-{i}")).collect() };
        ip(&["netns", "add", &ns.hub]);
        ip(&["-n", &ns.hub, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &ns.hub, "link", "set", "br0", "up"]);
        for (i, member) in ns.members.iter().enumerate() {
            let (inner, outer) = (format!("v{i}"), format!("p{i}"));
            ip(&["netns", "add", member]);
            ip(&["link", "add", &inner, "netns", member, "type", "veth", "peer", "name", &outer, "netns", &ns.hub]);
            ip(&["-n", &ns.hub, "link", "set", &outer, "master", "br0", "up"]);
            // Loopback keeps 127.0.0.1 only, so the rest of 127/8 can route over the veth.
            ip(&["-n", member, "link", "set", "lo", "up"]);
            ip(&["-n", member, "addr", "del", "127.0.0.1/8", "dev", "lo"]);
            ip(&["-n", member, "addr", "add", "127.0.0.1/32", "dev", "lo"]);
            run_ok(Command::new("ip").args(["netns", "exec", member, "sysctl", "-qw"]).args([
                "net.ipv4.conf.all.route_localnet=1".to_string(),
                format!("net.ipv4.conf.{inner}.route_localnet=1"),
            ]));
            ip(&["-n", member, "addr", "add", &format!("127.0.0.{}/24", 11 + i), "dev", &inner]);
            ip(&["-n", member, "link", "set", &inner, "up"]);
        }
        ns
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in self.members.iter().chain([&self.hub]) {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// Running etcd members, stopped on drop.
struct Members(Vec<Child>);

impl Drop for Members {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn etcd_command(b: &Bake, node: &str) -> Vec<String> {
    let text = fs::read_to_string(b.node_file(node, "/etc/kubebake/manifests/etcd.yaml")).unwrap();
    let pod: k8s_openapi::api::core::v1::Pod = kubebake::spec::yaml::from_str(&text).unwrap();
    pod.spec.unwrap().containers[0].command.clone().unwrap()
}

/// The etcd and etcdctl a test runs: Debian's, or an e2e kit's.
struct Etcd {
    etcd: PathBuf,
    etcdctl: PathBuf,
}

fn etcdctl(
    etcd: &Etcd,
    namespace: &str,
    pki: &Path,
    cert: Option<(&str, &str)>,
    args: &[&str],
) -> std::process::Output {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", namespace]).arg(&etcd.etcdctl).args([
        "--endpoints=https://127.0.0.11:2379",
        "--dial-timeout=3s",
        "--command-timeout=5s",
    ]);
    cmd.arg(format!("--cacert={}", pki.join("etcd/ca.crt").display()));
    if let Some((crt, key)) = cert {
        cmd.arg(format!("--cert={}", pki.join(crt).display())).arg(format!("--key={}", pki.join(key).display()));
    }
    cmd.args(args).env("ETCDCTL_API", "3").output().unwrap()
}

/// Starts `command` as `node`'s member in namespace `ns`, with its baked /etc/kubernetes.
fn start_member(b: &Bake, ns: &str, node: &str, command: &[String], logs: &mut Vec<PathBuf>) -> Child {
    let data = b.path(&format!("data-{node}"));
    fs::create_dir_all(&data).unwrap();
    fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let log = b.path(&format!("etcd-{node}.log"));
    let etc = b.node_file(node, "/etc/kubernetes");
    let child = Command::new("ip")
        .args(["netns", "exec", ns, "unshare", "--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$1\" /etc/kubernetes && mount --bind \"$2\" /var/lib/etcd && shift 2 && exec \"$@\"")
        .arg("etcd-member")
        .arg(&etc)
        .arg(&data)
        .args(command)
        .stdout(Stdio::from(fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(fs::File::create(&log).unwrap().try_clone().unwrap()))
        .spawn()
        .unwrap();
    logs.push(log);
    child
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Retries `etcdctl args` until `done` holds for its output, or panics with the logs.
fn wait_for(
    etcd: &Etcd,
    ns: &str,
    pki: &Path,
    args: &[&str],
    logs: &[PathBuf],
    done: impl Fn(&std::process::Output, &str) -> bool,
) -> String {
    let healthcheck = Some(("etcd/healthcheck-client.crt", "etcd/healthcheck-client.key"));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = etcdctl(etcd, ns, pki, healthcheck, args);
        let t = text(&out);
        if done(&out, &t) {
            return t;
        }
        if Instant::now() > deadline {
            let tails: String = logs
                .iter()
                .map(|l| format!("--- {}\n{}", l.display(), fs::read_to_string(l).unwrap_or_default()))
                .collect();
            panic!("etcdctl {args:?} did not get there:\n{t}\n{tails}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn the_first_member_runs_alone_and_a_joiner_with_its_baked_certificates_joins_it() {
    let (Some(etcd), Some(etcdctl), Some(_)) =
        (tool("etcd", "etcd-server"), tool("etcdctl", "etcd-client"), tool("ip", "iproute2"))
    else {
        return;
    };
    if !root_or_skip() {
        return;
    }
    // The newest minor whose etcd flags Debian's etcd takes.
    members_join(&Etcd { etcd, etcdctl }, "v1.33.3");
}

#[test]
fn the_default_minors_etcd_runs_its_manifest_and_takes_a_joiner() {
    let Some(kit) = kits::default_kit() else {
        println!("not run: no e2e kit of {} (its etcd runs etcd 3.6's flags)", default_version());
        return;
    };
    if tool("ip", "iproute2").is_none() || !root_or_skip() {
        return;
    }
    let etcd = Etcd { etcd: kit.dir.join("bin/etcd"), etcdctl: kit.dir.join("bin/etcdctl") };
    members_join(&etcd, &kit.version);
}

fn members_join(etcd: &Etcd, version: &str) {
    let b = Bake::new(&SPEC.replace("VERSION", version));
    b.bake(&[]).assert_ok();
    // cp-1's member is a cluster of one, exactly as `kubeadm init` writes it; the joiners
    // get no etcd manifest from kubebake.
    let mut cmd = etcd_command(&b, "cp-1");
    assert!(cmd.contains(&"--initial-cluster=cp-1=https://127.0.0.11:2380".to_string()), "{cmd:?}");
    assert!(!cmd.iter().any(|a| a.starts_with("--initial-cluster-state")), "{cmd:?}");
    for node in ["cp-2", "cp-3"] {
        assert!(!b.node_file(node, "/etc/kubebake/manifests/etcd.yaml").exists());
        assert!(b.node_file(node, "/etc/kubernetes/pki/etcd/peer.crt").exists());
    }

    for mount_point in ["/etc/kubernetes", "/var/lib/etcd"] {
        fs::create_dir_all(mount_point).unwrap();
    }
    // The manifest's command, run by this test's etcd binary.
    cmd[0] = etcd.etcd.display().to_string();
    let ns = Namespaces::new(&version.replace(['v', '.'], ""), 2);
    let mut members = Members(Vec::new());
    let mut logs: Vec<PathBuf> = Vec::new();
    members.0.push(start_member(&b, &ns.members[0], "cp-1", &cmd, &mut logs));
    let pki = b.node_file("cp-1", "/etc/kubernetes/pki");
    wait_for(etcd, &ns.members[0], &pki, &["endpoint", "health"], &logs, |o, t| {
        o.status.success() && t.contains("is healthy")
    });

    // kubeadm's etcd-join, step by step: add as learner, start with the existing cluster,
    // promote once in sync.
    let added = wait_for(
        etcd,
        &ns.members[0],
        &pki,
        &["member", "add", "cp-2", "--learner", "--peer-urls=https://127.0.0.12:2380"],
        &logs,
        |o, _| o.status.success(),
    );
    assert!(added.contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""), "{added}");
    let joiner: Vec<String> = cmd
        .iter()
        .map(|a| match a.as_str() {
            "--name=cp-1" => "--name=cp-2".to_string(),
            a if a.starts_with("--initial-cluster=") => {
                "--initial-cluster=cp-1=https://127.0.0.11:2380,cp-2=https://127.0.0.12:2380".to_string()
            }
            a => a.replace("127.0.0.11", "127.0.0.12"),
        })
        .chain(["--initial-cluster-state=existing".to_string()])
        .collect();
    members.0.push(start_member(&b, &ns.members[1], "cp-2", &joiner, &mut logs));
    let list = wait_for(etcd, &ns.members[0], &pki, &["member", "list"], &logs, |o, t| {
        o.status.success() && t.contains(", started, cp-2, ")
    });
    let id = list.lines().find(|l| l.contains("cp-2")).unwrap().split(',').next().unwrap().trim().to_string();
    wait_for(etcd, &ns.members[0], &pki, &["member", "promote", &id], &logs, |o, _| o.status.success());
    let health = wait_for(etcd, &ns.members[0], &pki, &["endpoint", "health", "--cluster"], &logs, |o, t| {
        o.status.success() && t.matches("is healthy").count() == 2
    });
    for address in ["127.0.0.11", "127.0.0.12"] {
        assert!(health.contains(&format!("https://{address}:2379 is healthy")), "{health}");
    }
    let list = text(&etcdctl(
        etcd,
        &ns.members[0],
        &pki,
        Some(("etcd/healthcheck-client.crt", "etcd/healthcheck-client.key")),
        &["member", "list"],
    ));
    assert_eq!(
        list.lines().filter(|l| l.contains(", started, ") && l.ends_with("false")).count(),
        2,
        "two voting members:\n{list}"
    );

    // The API server's client certificate (etcd CA) may talk to etcd as well.
    let apiserver = etcdctl(
        etcd,
        &ns.members[0],
        &pki,
        Some(("apiserver-etcd-client.crt", "apiserver-etcd-client.key")),
        &["endpoint", "health"],
    );
    assert!(apiserver.status.success(), "{}", String::from_utf8_lossy(&apiserver.stderr));
    // A certificate from another CA, or none at all, is refused.
    let stranger = etcdctl(
        etcd,
        &ns.members[0],
        &pki,
        Some(("apiserver-kubelet-client.crt", "apiserver-kubelet-client.key")),
        &["endpoint", "health"],
    );
    assert!(!stranger.status.success(), "a client certificate of the Kubernetes CA was accepted");
    let anonymous = etcdctl(etcd, &ns.members[0], &pki, None, &["endpoint", "health"]);
    assert!(!anonymous.status.success(), "a client without certificate was accepted");
}
