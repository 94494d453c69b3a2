//! The rendered etcd manifests of a 3-control-plane cluster, run by Debian's etcd with
//! exactly their command, flags and certificates, form a healthy cluster at once.
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
  kubernetesVersion: v1.33.3
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
    fn new(count: usize) -> Self {
        let tag = std::process::id();
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
    let text = fs::read_to_string(b.node_file(node, "/etc/kubernetes/manifests/etcd.yaml")).unwrap();
    let pod: k8s_openapi::api::core::v1::Pod = serde_yaml::from_str(&text).unwrap();
    pod.spec.unwrap().containers[0].command.clone().unwrap()
}

fn etcdctl(namespace: &str, pki: &Path, cert: Option<(&str, &str)>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        namespace,
        "etcdctl",
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

#[test]
fn three_members_form_a_healthy_cluster_and_refuse_strangers() {
    let (Some(_), Some(_), Some(_)) =
        (tool("etcd", "etcd-server"), tool("etcdctl", "etcd-client"), tool("ip", "iproute2"))
    else {
        return;
    };
    if !root_or_skip() {
        return;
    }
    let b = Bake::new(SPEC);
    b.bake(&[]).assert_ok();
    // Every member's manifest lists all three, new, as one cluster.
    for node in ["cp-1", "cp-2", "cp-3"] {
        let cmd = etcd_command(&b, node);
        assert!(cmd.contains(&"--initial-cluster=cp-1=https://127.0.0.11:2380,cp-2=https://127.0.0.12:2380,cp-3=https://127.0.0.13:2380".to_string()));
        assert!(cmd.contains(&"--initial-cluster-state=new".to_string()));
    }

    for mount_point in ["/etc/kubernetes", "/var/lib/etcd"] {
        fs::create_dir_all(mount_point).unwrap();
    }
    let ns = Namespaces::new(3);
    let mut members = Members(Vec::new());
    let mut logs: Vec<PathBuf> = Vec::new();
    for (i, node) in ["cp-1", "cp-2", "cp-3"].iter().enumerate() {
        let data = b.path(&format!("data-{node}"));
        fs::create_dir_all(&data).unwrap();
        fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let log = b.path(&format!("etcd-{node}.log"));
        let etc = b.node_file(node, "/etc/kubernetes");
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.members[i], "unshare", "--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind \"$1\" /etc/kubernetes && mount --bind \"$2\" /var/lib/etcd && shift 2 && exec \"$@\"")
            .arg("etcd-member")
            .arg(&etc)
            .arg(&data)
            .args(etcd_command(&b, node))
            .stdout(Stdio::from(fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(fs::File::create(&log).unwrap().try_clone().unwrap()))
            .spawn()
            .unwrap();
        members.0.push(child);
        logs.push(log);
    }

    let pki = b.node_file("cp-1", "/etc/kubernetes/pki");
    let healthcheck = Some(("etcd/healthcheck-client.crt", "etcd/healthcheck-client.key"));
    let deadline = Instant::now() + Duration::from_secs(90);
    let health = loop {
        let out = etcdctl(&ns.members[0], &pki, healthcheck, &["endpoint", "health", "--cluster"]);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if out.status.success() && text.matches("is healthy").count() == 3 {
            break text;
        }
        if Instant::now() > deadline {
            let tails: String = logs
                .iter()
                .map(|l| format!("--- {}\n{}", l.display(), fs::read_to_string(l).unwrap_or_default()))
                .collect();
            panic!("etcd cluster did not become healthy:\n{text}\n{tails}");
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    for address in ["127.0.0.11", "127.0.0.12", "127.0.0.13"] {
        assert!(health.contains(&format!("https://{address}:2379 is healthy")), "{health}");
    }
    let list = etcdctl(&ns.members[0], &pki, healthcheck, &["member", "list"]);
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    assert_eq!(list.lines().count(), 3, "{list}");
    for node in ["cp-1", "cp-2", "cp-3"] {
        assert!(list.contains(&format!(", started, {node}, ")), "{list}");
    }

    // The API server's client certificate (etcd CA) may talk to etcd as well.
    let apiserver = etcdctl(
        &ns.members[0],
        &pki,
        Some(("apiserver-etcd-client.crt", "apiserver-etcd-client.key")),
        &["endpoint", "health"],
    );
    assert!(apiserver.status.success(), "{}", String::from_utf8_lossy(&apiserver.stderr));
    // A certificate from another CA, or none at all, is refused.
    let stranger = etcdctl(
        &ns.members[0],
        &pki,
        Some(("apiserver-kubelet-client.crt", "apiserver-kubelet-client.key")),
        &["endpoint", "health"],
    );
    assert!(!stranger.status.success(), "a client certificate of the Kubernetes CA was accepted");
    let anonymous = etcdctl(&ns.members[0], &pki, None, &["endpoint", "health"]);
    assert!(!anonymous.status.success(), "a client without certificate was accepted");
}
