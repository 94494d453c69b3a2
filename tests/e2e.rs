//! The end-to-end tier: a baked cluster run on this one machine with a real Kubernetes
//! release (kubeadm, kubelet, control-plane images, the etcd it pins) and Debian's
//! containerd, each node in namespaces of its own running its own unmodified first-boot
//! script (tests/e2e/lab.sh says how, and lists every stand-in for what this machine lacks).
//!
//! Each supported minor runs on its own e2e kit (`../shared/e2e-kit/build.sh`; found as
//! `common::kits` says: /opt/k8s-e2e-1.<minor> or `KUBEBAKE_E2E_DIR_1_<minor>`): every
//! scenario on the default minor's, scenarios a and b on each other minor's. Without a
//! minor's kit its scenarios print one line saying so. Root is needed. The scenarios run one
//! at a time: each is most of this machine.

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::kits::{self, Kit};
use common::*;

const LAB_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/lab.sh");
const CALICO_STAND_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/calico-operator-stand-in.yaml");
const CALICO_MANIFEST_STAND_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/calico-manifest-stand-in.yaml");
const LAB_ROOT: &str = "/var/tmp/kubebake-lab";
const GATEWAY: &str = "10.77.0.1/24";
/// Scenarios share the machine's cgroups, ports of the switch and most of its CPU.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The default minor's kit, for the scenarios that run only there.
fn kit() -> Option<Kit> {
    kit_of(kubebake::model::versions::DEFAULT_VERSION.minor)
}

/// The kit of `minor`, complete, with root and a container runtime to run it; or `None`
/// after a line saying why the scenario does not run.
fn kit_of(minor: u32) -> Option<Kit> {
    let Some(kit) = kits::kit(minor) else {
        let looked: Vec<String> = kits::kit_dirs(minor).iter().map(|d| d.display().to_string()).collect();
        println!(
            "e2e tier not run for v1.{minor}: no kit of that minor in {} (build one: ../shared/e2e-kit/build.sh ...)",
            looked.join(" or ")
        );
        return None;
    };
    let mut needed = include_str!("e2e/kit-files").lines().filter(|l| !l.is_empty() && !l.starts_with('#'));
    if let Some(missing) = needed.find(|p| !kit.dir.join(p).exists()) {
        println!("e2e tier not run for v1.{minor}: {} has no {missing} (an unfinished kit?)", kit.dir.display());
        return None;
    }
    if !root_or_skip() {
        return None;
    }
    for (tool, package) in [("containerd", "containerd"), ("ctr", "containerd"), ("nsenter", "util-linux")] {
        tool_or_panic(tool, package);
    }
    println!("e2e tier: Kubernetes {} from {}", kit.version, kit.dir.display());
    Some(kit)
}

/// With the kit present the tier must run: a missing runtime is a failure, not a skip.
fn tool_or_panic(name: &str, package: &str) {
    let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()));
    assert!(found, "the e2e tier needs {name}: apt-get install {package}");
}

/// Preflight checks that fail only because of this machine or the kit, never because of
/// what kubebake placed (lab.sh lists them with the other stand-ins).
fn environment_preflight_errors(kit: &Kit) -> Vec<&'static str> {
    let mut ignore = Vec::new();
    // v1.33.3's kubeadm is built with Go 1.27, whose URL parsing fails this check on any
    // IPv4 cluster; kubeadm 1.34+ builds that URL differently.
    if kit.minor <= 33 {
        ignore.push("HTTPProxyCIDR");
    }
    // On a cgroup v1 host kubeadm 1.35+ reports cgroups v1 as an error, not a warning (the
    // kubelet runs from a copy of its config that allows them: tests/e2e/systemctl).
    if kit.minor >= 35 && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        ignore.push("SystemVerification");
    }
    ignore
}

fn spec(name: &str, kit: &Kit, nodes: &[(&str, &str, &str)], extra: &str) -> String {
    // An image with the binaries, unless the scenario gives its nodes a bundle.
    let packages = if extra.contains("packages:") { "" } else { "  packages: prebaked\n" };
    let ignore = environment_preflight_errors(kit);
    let ignore =
        if ignore.is_empty() { String::new() } else { format!("  ignorePreflightErrors: [{}]\n", ignore.join(", ")) };
    let mut s = format!(
        "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata: {{name: {name}}}
spec:
  kubernetesVersion: {version}
  os: debian-12
  join: {{timeout: 10m}}
{ignore}{packages}{extra}  nodes:
",
        version = kit.version
    );
    for (node, role, address) in nodes {
        s.push_str(&format!("    - {{name: {node}, role: {role}, address: {address}}}\n"));
    }
    s
}

/// One baked cluster running in the lab; torn down on drop.
struct Lab {
    name: String,
    bake: Bake,
    kit: Kit,
    nodes: Vec<(String, String)>,
    started: Instant,
    /// The bundle every node's image carries (`packages: bundle`).
    bundle: Option<PathBuf>,
    /// `pki.externalCA`: no CA key on nodes, no CSR signed in the cluster.
    external_ca: bool,
    /// The bake output each node's disk was laid from.
    booted_from: RefCell<BTreeMap<String, PathBuf>>,
    /// Nodes that run another kit than the lab's (`boot_from_kit`): their every boot and
    /// every `lab.sh on` runs with it.
    node_kits: RefCell<BTreeMap<String, Kit>>,
    /// Machines that are no spec node, by name, and the directory of the bake output their
    /// disk is laid from (a worker pool's, `pool-<name>`).
    machines: BTreeMap<String, String>,
}

impl Lab {
    fn new(name: &str, kit: Kit, nodes: &[(&str, &str, &str)], extra: &str) -> Lab {
        Lab::with_machines(name, kit, nodes, extra, &[])
    }

    /// A lab with, beside the spec's nodes, `machines` (name, address, output directory):
    /// each takes its name as hostname and the files of that directory, as a machine that a
    /// worker pool launches does.
    fn with_machines(
        name: &str,
        kit: Kit,
        nodes: &[(&str, &str, &str)],
        extra: &str,
        machines: &[(&str, &str, &str)],
    ) -> Lab {
        let bake = Bake::new(&spec(name, &kit, nodes, extra));
        // A bundle's nodes are baked once the bundle exists (bake --bundle): the scenario does.
        if !extra.contains("packages: bundle") {
            bake.bake(&[]).assert_ok();
        }
        let mut all: Vec<(String, String)> = nodes.iter().map(|(n, _, a)| (n.to_string(), a.to_string())).collect();
        all.extend(machines.iter().map(|(n, a, _)| (n.to_string(), a.to_string())));
        let lab = Lab {
            name: name.to_string(),
            bake,
            kit,
            nodes: all,
            started: Instant::now(),
            bundle: None,
            external_ca: extra.contains("externalCA: true"),
            booted_from: Default::default(),
            node_kits: Default::default(),
            machines: machines.iter().map(|(n, _, dir)| (n.to_string(), dir.to_string())).collect(),
        };
        let _ = lab.sh(&["down", name]);
        let mut args = vec!["net-up".to_string(), name.to_string(), GATEWAY.to_string()];
        args.extend(lab.nodes.iter().map(|(n, a)| format!("{n}={a}")));
        let out = lab.sh(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "net-up: {}", String::from_utf8_lossy(&out.stderr));
        lab
    }

    /// The release the lab runs: its kit's.
    fn version(&self) -> kubebake::model::versions::Version {
        kubebake::model::versions::Version::parse(&self.kit.version).expect("a kit of a supported minor")
    }

    /// lab.sh with the lab's kit; a command on one node (`boot`, `on`) with that node's.
    fn sh(&self, args: &[&str]) -> Output {
        let kit = match args {
            [cmd, _, node, ..] if matches!(*cmd, "boot" | "on") => self.node_kit(node).dir,
            _ => self.kit.dir.clone(),
        };
        lab_sh(&kit).args(args).output().unwrap()
    }

    /// The kit `node` runs: the one it was booted from (`boot_from_kit`), else the lab's.
    fn node_kit(&self, node: &str) -> Kit {
        self.node_kits.borrow().get(node).cloned().unwrap_or_else(|| self.kit.clone())
    }

    fn disk(&self, node: &str) -> PathBuf {
        Path::new(LAB_ROOT).join(&self.name).join(node).join("disk")
    }

    fn boot(&self, node: &str, kubelet_enabled: bool) {
        self.boot_from(node, &self.bake.out(), kubelet_enabled);
    }

    /// Powers `node` on running `kit` (binaries, CNI plugins, images), not the lab's, now
    /// and at every later boot (`boot`, `run`'s power losses); the first time, its disk is
    /// laid from `out`. A node runs one kit for good: its disk is laid once.
    fn boot_from_kit(&self, node: &str, out: &Path, kit: &Kit, kubelet_enabled: bool) {
        {
            let mut kits = self.node_kits.borrow_mut();
            let runs = kits
                .get(node)
                .map(|k| k.dir.clone())
                .or_else(|| self.disk(node).exists().then(|| self.kit.dir.clone()));
            if let Some(runs) = runs.filter(|d| *d != kit.dir) {
                panic!("{node} runs {} already: a machine of another kit needs a name of its own", runs.display());
            }
            kits.insert(node.to_string(), kit.clone());
        }
        self.boot_from(node, out, kubelet_enabled);
    }

    /// Powers `node` on; the first time, its disk is laid from `out` (a bake's output).
    fn boot_from(&self, node: &str, out: &Path, kubelet_enabled: bool) {
        self.booted_from.borrow_mut().entry(node.to_string()).or_insert_with(|| out.to_path_buf());
        let mut args = vec!["boot", &self.name, node, out.to_str().unwrap()];
        if kubelet_enabled {
            args.push("--kubelet-enabled");
        }
        let bundle = self.bundle.as_ref().map(|b| b.to_string_lossy().into_owned());
        if let Some(b) = &bundle {
            args.extend(["--bundle", b.as_str()]);
        }
        if let Some(dir) = self.machines.get(node) {
            args.extend(["--from", dir.as_str()]);
        }
        let o = self.sh(&args);
        assert!(o.status.success(), "boot {node}: {}", String::from_utf8_lossy(&o.stderr));
        println!("{:>6.1}s {node}: powered on", self.started.elapsed().as_secs_f64());
    }

    fn poweroff(&self, node: &str) {
        let o = self.sh(&["poweroff", &self.name, node]);
        assert!(o.status.success(), "poweroff {node}: {}", String::from_utf8_lossy(&o.stderr));
        println!("{:>6.1}s {node}: powered off", self.started.elapsed().as_secs_f64());
    }

    fn status(&self, node: &str) -> String {
        fs::read_to_string(self.disk(node).join("var/lib/kubebake/status")).unwrap_or_default().trim().to_string()
    }

    /// The operator's kubectl with OUT/admin.conf, from the switch namespace.
    fn kubectl(&self, args: &[&str]) -> Output {
        let mut all = self.kubectl_sh_args();
        all.extend(args.iter().map(|a| a.to_string()));
        self.sh(&all.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// lab.sh's arguments that run the operator's kubectl (`kubectl`), before kubectl's own.
    fn kubectl_sh_args(&self) -> Vec<String> {
        let admin = self.bake.out().join("admin.conf");
        let kubectl = self.kit.dir.join("bin/kubectl");
        ["op", &self.name, kubectl.to_str().unwrap(), "--kubeconfig", admin.to_str().unwrap()]
            .map(String::from)
            .to_vec()
    }

    /// Retires `node` as an operator would: the script `kubebake retire` prints for the
    /// lab's spec, run with the admin kubeconfig and the lab kit's kubectl.
    fn retire(&self, node: &str, drain_timeout: &str) {
        let printed = self.bake.run(&["retire", "cluster.yaml", node, "--drain-timeout", drain_timeout]);
        printed.assert_ok();
        let script = self.bake.path(&format!("retire-{node}.sh"));
        fs::write(&script, printed.stdout()).unwrap();
        let path = format!("PATH={}:{}", self.kit.dir.join("bin").display(), std::env::var("PATH").unwrap_or_default());
        let kubeconfig = format!("KUBECONFIG={}", self.bake.out().join("admin.conf").display());
        let ran = self.sh(&["op", &self.name, "env", &kubeconfig, &path, "bash", script.to_str().unwrap()]);
        let output = format!("{}{}", String::from_utf8_lossy(&ran.stdout), String::from_utf8_lossy(&ran.stderr));
        assert!(ran.status.success(), "retire {node}: {output}");
    }

    /// A user's load balancer in front of the control planes (lab.sh lb-up): `address`
    /// on the switch, port 6443, to each of `backends`' 6443 while its /readyz answers.
    /// Up before the nodes boot when the spec's controlPlaneEndpoint is `address`.
    fn lb_up(&self, address: &str, backends: &[&str]) {
        tool_or_panic("haproxy", "haproxy");
        let mut args = vec!["lb-up", &self.name, address, "6443"];
        args.extend_from_slice(backends);
        let o = self.sh(&args);
        assert!(o.status.success(), "lb-up: {}", String::from_utf8_lossy(&o.stderr));
        println!(
            "{:>6.1}s load balancer on {address}:6443 to {}",
            self.started.elapsed().as_secs_f64(),
            backends.join(" ")
        );
    }

    /// Probes `https://ADDRESS:6443/readyz` every second from the switch namespace until
    /// stopped (`ApiProbe::stop`).
    fn api_probe(&self, address: &str) -> ApiProbe {
        tool_or_panic("curl", "curl");
        let url = format!("https://{address}:6443/readyz");
        let netns = format!("--net=/run/netns/{}-sw", self.name);
        let probe_url = url.clone();
        let probe = Probe::every_second(Vec::new(), move |samples: &mut Vec<(Duration, bool)>, at| {
            let o = Command::new("nsenter")
                .args([netns.as_str(), "curl", "-ks", "--max-time", "2", "-o", "/dev/null", "-w", "%{http_code}"])
                .arg(&probe_url)
                .output();
            samples.push((at, o.is_ok_and(|o| o.stdout == b"200")));
        });
        ApiProbe { url, probe }
    }

    /// Reads Deployment `name`'s (namespace default) available replicas every second with
    /// the operator's kubectl until stopped (`AvailabilityProbe::stop`).
    fn availability_probe(&self, name: &str) -> AvailabilityProbe {
        let mut args = self.kubectl_sh_args();
        args.extend(
            ["--request-timeout=5s", "get", "deployment", name, "-o", "jsonpath={.status.availableReplicas}"]
                .map(String::from),
        );
        let kit = self.kit.dir.clone();
        let probe = Probe::every_second(Vec::new(), move |samples: &mut Vec<Option<u32>>, _| {
            // An absent availableReplicas is none available; a failed call is no answer.
            let answer = lab_sh(&kit).args(&args).output().ok().filter(|o| o.status.success()).and_then(|o| {
                let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
                if out.is_empty() { Some(0) } else { out.parse().ok() }
            });
            samples.push(answer);
        });
        AvailabilityProbe { deployment: name.to_string(), probe }
    }

    fn kubectl_ok(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert!(o.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn logs(&self, node: &str) -> String {
        let dir = self.disk(node).join("var/lib/kblab/log");
        let mut s = String::new();
        for f in ["firstboot.log", "kubelet.log", "containerd.log"] {
            let text = fs::read_to_string(dir.join(f)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            s.push_str(&format!("--- {node} {f} (last 40 lines)\n"));
            for l in tail.iter().rev() {
                s.push_str(&l.chars().take(400).collect::<String>());
                s.push('\n');
            }
        }
        s
    }

    /// The environment's pod network (lab.sh cni) for every node that has a podCIDR.
    fn give_pod_networks(&self, given: &mut BTreeSet<String>) {
        for (node, _) in &self.nodes {
            if given.contains(node) {
                continue;
            }
            let o = self.kubectl(&["get", "node", node, "-o", "jsonpath={.spec.podCIDR}"]);
            let cidr = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if o.status.success() && !cidr.is_empty() {
                let o = self.sh(&["cni", &self.name, node, &cidr]);
                assert!(o.status.success(), "cni {node}: {}", String::from_utf8_lossy(&o.stderr));
                given.insert(node.clone());
            }
        }
    }

    /// Boots nodes on `schedule` (seconds from now) and waits for every node's first boot
    /// to finish; `power_loss` nodes are powered off the given milliseconds after the file
    /// (a path on the node's disk, e.g. a step's marker) appears, and booted again. Returns the seconds from the first power-on to
    /// all `done`.
    fn run(&self, schedule: &[(u64, &str)], kubelet_enabled: bool, power_loss: &[(&str, &str, u64)]) -> f64 {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(900);
        let mut pending: Vec<(u64, &str)> = schedule.to_vec();
        let mut restarted: BTreeSet<&str> = BTreeSet::new();
        let mut trigger_seen: BTreeMap<&str, Instant> = BTreeMap::new();
        let mut networks = BTreeSet::new();
        let mut round = 0u64;
        loop {
            round += 1;
            let now = t0.elapsed().as_secs();
            pending.retain(|(at, node)| {
                if *at <= now {
                    self.boot(node, kubelet_enabled);
                    false
                } else {
                    true
                }
            });
            for (node, trigger, _) in power_loss {
                if !trigger_seen.contains_key(node) && self.disk(node).join(trigger).exists() {
                    trigger_seen.insert(node, Instant::now());
                }
            }
            // Power off every node that is due first, then boot them: a worker's join is
            // done about a second after its preflight.
            let due: Vec<&str> = power_loss
                .iter()
                .filter(|(node, _, delay)| {
                    !restarted.contains(node)
                        && trigger_seen.get(node).is_some_and(|t| t.elapsed() >= Duration::from_millis(*delay))
                })
                .map(|(node, _, _)| *node)
                .collect();
            for node in &due {
                self.poweroff(node);
                assert_ne!(self.status(node), "done", "{node} finished before it could be interrupted");
            }
            for node in due {
                self.boot(node, kubelet_enabled);
                restarted.insert(node);
            }
            // Every 2 s; the power-loss watch above every 100 ms, to catch the moment.
            if round % 20 != 1 {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            self.give_pod_networks(&mut networks);
            // Nodes never powered on (a scenario may add one later) are not waited for.
            let statuses: BTreeMap<&str, String> = self
                .nodes
                .iter()
                .filter(|(n, _)| self.disk(n).exists())
                .map(|(n, _)| (n.as_str(), self.status(n)))
                .collect();
            if let Some((node, s)) = statuses.iter().find(|(_, s)| s.starts_with("failed")) {
                panic!("{node}: {s}\n{}", self.logs(node));
            }
            if pending.is_empty() && statuses.values().all(|s| s == "done") {
                let secs = t0.elapsed().as_secs_f64();
                println!("{:>6.1}s all {} nodes done", secs, statuses.len());
                assert_eq!(restarted.len(), power_loss.len());
                return secs;
            }
            if Instant::now() > deadline {
                let logs: String = self.nodes.iter().map(|(n, _)| self.logs(n)).collect();
                panic!("not converged after 900 s: {statuses:?}\n{logs}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The kit's etcdctl against the etcd of the control planes in `nodes` that were
    /// powered on (the first that answers), as the first one's healthcheck client, from the
    /// switch namespace: cp-1 may have been replaced and be gone.
    fn etcdctl(&self, args: &[&str]) -> Output {
        let control_planes: Vec<&(String, String)> =
            self.nodes.iter().filter(|(n, _)| n.starts_with("cp-") && self.disk(n).exists()).collect();
        let first = &control_planes.first().expect("a control plane powered on").0;
        let pki = self.disk(first).join("etc/kubernetes/pki/etcd");
        let etcdctl = self.kit.dir.join("bin/etcdctl");
        let endpoint: Vec<String> = control_planes.iter().map(|(_, a)| format!("https://{a}:2379")).collect();
        let endpoint = endpoint.join(",");
        let (ca, cert, key) =
            (pki.join("ca.crt"), pki.join("healthcheck-client.crt"), pki.join("healthcheck-client.key"));
        let mut all = vec!["op", &self.name, etcdctl.to_str().unwrap(), "--endpoints", &endpoint];
        all.extend(["--cacert", ca.to_str().unwrap(), "--cert", cert.to_str().unwrap()]);
        all.extend(["--key", key.to_str().unwrap()]);
        all.extend_from_slice(args);
        self.sh(&all)
    }

    /// What every scenario must show once all nodes are done.
    fn assert_cluster(&self) {
        let control_planes: Vec<&str> =
            self.nodes.iter().map(|(n, _)| n.as_str()).filter(|n| n.starts_with("cp-")).collect();
        let workers: Vec<&str> = self.nodes.iter().map(|(n, _)| n.as_str()).filter(|n| !n.starts_with("cp-")).collect();

        // Every node registered and Ready (the pod network may have been given a moment ago).
        let mut networks = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            self.give_pod_networks(&mut networks);
            let out = self.kubectl_ok(&[
                "get",
                "nodes",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
            ]);
            let ready: BTreeMap<&str, &str> = out.lines().filter_map(|l| l.split_once('=')).collect();
            let names: BTreeSet<&str> = ready.keys().copied().collect();
            let want: BTreeSet<&str> = self.nodes.iter().map(|(n, _)| n.as_str()).collect();
            if names == want && ready.values().all(|s| *s == "True") {
                break;
            }
            if Instant::now() > deadline {
                let logs: String =
                    want.iter().filter(|n| ready.get(*n) != Some(&"True")).map(|n| self.logs(n)).collect();
                panic!("nodes not all registered and Ready: {out}\n{logs}");
            }
            std::thread::sleep(Duration::from_secs(2));
        }

        // Each node's InternalIP is its address (the kubelet's --node-ip for a listed node,
        // which the kubelet refuses to start with unless the machine has it).
        let addresses = self.kubectl_ok(&[
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.status.addresses[?(@.type==\"InternalIP\")].address}{\"\\n\"}{end}",
        ]);
        let addresses: BTreeMap<&str, &str> = addresses.lines().filter_map(|l| l.split_once('=')).collect();
        let want: BTreeMap<&str, &str> = self.nodes.iter().map(|(n, a)| (n.as_str(), a.as_str())).collect();
        assert_eq!(addresses, want, "nodes' InternalIP");

        // etcd: one started voting member per control plane.
        let list = self.etcdctl(&["member", "list"]);
        let list = String::from_utf8_lossy(&list.stdout).into_owned();
        let mut members: Vec<&str> = list
            .lines()
            .filter(|l| l.contains(", started, ") && l.trim_end().ends_with("false"))
            .filter_map(|l| l.split(", ").nth(2))
            .collect();
        members.sort();
        assert_eq!(members, control_planes, "etcd members:\n{list}");

        // Nothing kubebake placed was rewritten, and the staged manifests run unchanged.
        for (node, _) in &self.nodes {
            let out = self.booted_from.borrow().get(node).cloned().unwrap_or_else(|| self.bake.out());
            let rootfs = out.join(self.machines.get(node).unwrap_or(node)).join("rootfs");
            let disk = self.disk(node);
            let mut changed = Vec::new();
            for (rel, (bytes, _)) in snapshot(&rootfs) {
                if fs::read(disk.join(&rel)).ok().as_deref() != Some(&bytes[..]) {
                    changed.push(rel);
                }
            }
            // A worker's kubelet-start writes kubeadm's own flags file: the baked one without
            // --hostname-override, as the hostname is the node name here, and with the
            // --node-ip kubebake gives it. A pool machine's baked one is kubeadm's already,
            // byte for byte, so it must not change (a machine laid from a listed node's own
            // directory is that node).
            let listed_worker =
                workers.contains(&node.as_str()) && self.machines.get(node).is_none_or(|dir| dir == node);
            let flags = "var/lib/kubelet/kubeadm-flags.env";
            if listed_worker && changed.iter().any(|p| p == flags) {
                let baked = fs::read_to_string(rootfs.join(flags)).unwrap();
                let kubeadms = fs::read_to_string(disk.join(flags)).unwrap();
                assert!(baked.contains("--node-ip="), "{node}: {baked}");
                assert_eq!(kubeadms, baked.replacen(&format!("--hostname-override={node} "), "", 1), "{node}");
                changed.retain(|p| p != flags);
            }
            // First boot removes kubeadm's configuration, and the join token in it, once done.
            let config = "etc/kubebake/kubeadm-config.yaml";
            assert!(!disk.join(config).exists(), "{node}: {config} (the join token) is still on the node");
            changed.retain(|p| p != config);
            assert!(changed.is_empty(), "{node}: placed files changed on the node: {changed:?}");
            if node.starts_with("cp-") {
                for entry in fs::read_dir(rootfs.join("etc/kubebake/manifests")).unwrap() {
                    let entry = entry.unwrap();
                    let running = disk.join("etc/kubernetes/manifests").join(entry.file_name());
                    assert_eq!(fs::read(entry.path()).unwrap(), fs::read(&running).unwrap(), "{}", running.display());
                }
                assert!(disk.join("etc/kubernetes/manifests/etcd.yaml").exists(), "{node} runs no etcd member");
                // system:masters stays on the first control plane: kubeadm join did not need it.
                let super_admin = disk.join("etc/kubernetes/super-admin.conf").exists();
                assert_eq!(super_admin, node == "cp-1", "{node}: super-admin.conf present: {super_admin}");
            }
        }

        // Workers joined with the baked token: their CSRs came from its bootstrap identity.
        // With an external CA nothing signs: workers come with their identity, no CSR is made.
        // Every token of the state counts: a scenario may have rotated it.
        let mut ids: Vec<String> = fs::read_dir(self.bake.state().join("tokens"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let token = fs::read_to_string(self.bake.state().join("token")).unwrap();
        ids.push(token.trim().split('.').next().unwrap().to_string());
        let csrs = self.kubectl_ok(&[
            "get",
            "csr",
            "-o",
            "jsonpath={range .items[*]}{.spec.username} {.status.conditions[0].type}{\"\\n\"}{end}",
        ]);
        if self.external_ca {
            assert_eq!(csrs.trim(), "", "CSRs in an external-CA cluster");
        } else {
            let by_token =
                csrs.lines().filter(|l| ids.iter().any(|id| *l == format!("system:bootstrap:{id} Approved"))).count();
            assert!(
                by_token >= workers.len(),
                "{} workers, {by_token} approved CSRs from the state's tokens {ids:?}:\n{csrs}",
                workers.len()
            );
        }

        // A pod runs on each worker, of the pause image its kit has.
        for worker in &workers {
            let version = kubebake::model::versions::Version::parse(&self.node_kit(worker).version).unwrap();
            let pause = format!("registry.k8s.io/pause:{}", version.kubeadm().pause);
            let pod = format!(
                "{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{{\"name\":\"probe-{worker}\",\"namespace\":\"default\"}},\
                 \"spec\":{{\"nodeName\":\"{worker}\",\"containers\":[{{\"name\":\"pause\",\"image\":\"{pause}\",\
                 \"imagePullPolicy\":\"Never\"}}]}}}}"
            );
            let file = self.bake.path(&format!("probe-{worker}.json"));
            fs::write(&file, pod).unwrap();
            self.kubectl_ok(&["apply", "-f", file.to_str().unwrap()]);
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        for worker in &workers {
            loop {
                let status = self.kubectl_ok(&[
                    "get",
                    "pod",
                    &format!("probe-{worker}"),
                    "-o",
                    "jsonpath={.status.phase} {.status.message}",
                ]);
                if status.trim() == "Running" {
                    break;
                }
                // A pod Failed at once says why (on this machine once: "The node had condition:
                // [DiskPressure]", when the disk had less than the kubelet's 15 % free).
                let failed = status.starts_with("Failed");
                assert!(
                    Instant::now() < deadline && !failed,
                    "probe pod on {worker} is {status:?}\n{}",
                    self.logs(worker)
                );
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::env::var_os("KUBEBAKE_E2E_KEEP").is_some() {
            println!("kept: lab {} under {LAB_ROOT} (lab.sh down {} removes it)", self.name, self.name);
            return;
        }
        let _ = self.sh(&["down", &self.name]);
    }
}

/// lab.sh with `kit` (KUBEBAKE_E2E_DIR) and the lab root.
fn lab_sh(kit: &Path) -> Command {
    let mut c = Command::new("bash");
    c.arg(LAB_SH).env("KUBEBAKE_E2E_DIR", kit).env("KUBEBAKE_LAB_ROOT", LAB_ROOT);
    c
}

/// A thread that calls `sample` (with the time since it started) about every second until
/// stopped; stopped on drop too, so no probe outlives its scenario. Its own failures never
/// fail the test: a probe that panicked gives what it started with.
struct Probe<T: Send + 'static> {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<T>>,
    start: Instant,
}

impl<T: Send + 'static> Probe<T> {
    fn every_second(mut samples: T, mut sample: impl FnMut(&mut T, Duration) + Send + 'static) -> Probe<T> {
        let (stop, stopped) = mpsc::channel::<()>();
        let start = Instant::now();
        let thread = std::thread::spawn(move || {
            loop {
                let at = Instant::now();
                sample(&mut samples, at - start);
                // A message or the sender gone (stop, drop) ends it.
                match stopped.recv_timeout(Duration::from_secs(1).saturating_sub(at.elapsed())) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return samples,
                }
            }
        });
        Probe { stop: Some(stop), thread: Some(thread), start }
    }

    /// The samples, the thread joined; `None` if it panicked.
    fn finish(&mut self) -> Option<T> {
        drop(self.stop.take());
        let joined = self.thread.take()?.join();
        if joined.is_err() {
            println!(
                "a probe's thread panicked after {:.1} s: its samples are lost",
                self.start.elapsed().as_secs_f64()
            );
        }
        joined.ok()
    }
}

impl<T: Send + 'static> Drop for Probe<T> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `Lab::api_probe`: the API's /readyz, every second, through whatever `address` is.
struct ApiProbe {
    url: String,
    probe: Probe<Vec<(Duration, bool)>>,
}

impl ApiProbe {
    fn stop(mut self) -> ApiSummary {
        ApiSummary::of(&self.url, &self.probe.finish().unwrap_or_default())
    }
}

/// What an `ApiProbe` saw. An outage runs from the last success before failures to the
/// first success after them (failures before the first success are the API not up yet,
/// counted in `failures` only); one still going when the probe stopped ends at its last
/// sample.
#[derive(Debug, Default)]
struct ApiSummary {
    url: String,
    samples: usize,
    failures: usize,
    /// Each outage: when it began (since the probe started) and how long it lasted.
    outages: Vec<(Duration, Duration)>,
    longest_gap: Duration,
    /// The last sample failed.
    down_at_end: bool,
}

impl ApiSummary {
    fn of(url: &str, samples: &[(Duration, bool)]) -> ApiSummary {
        let mut outages = Vec::new();
        let mut last_ok: Option<Duration> = None;
        let mut failing = false;
        for &(at, ok) in samples {
            if ok {
                if let (true, Some(before)) = (failing, last_ok) {
                    outages.push((before, at - before));
                }
                last_ok = Some(at);
                failing = false;
            } else if last_ok.is_some() {
                failing = true;
            }
        }
        let down_at_end = samples.last().is_some_and(|(_, ok)| !ok);
        if let (true, Some(before), Some((end, _))) = (failing, last_ok, samples.last()) {
            outages.push((before, *end - before));
        }
        ApiSummary {
            url: url.to_string(),
            samples: samples.len(),
            failures: samples.iter().filter(|(_, ok)| !ok).count(),
            longest_gap: outages.iter().map(|(_, d)| *d).max().unwrap_or_default(),
            outages,
            down_at_end,
        }
    }
}

impl fmt::Display for ApiSummary {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{}: {} samples, {} failed, longest gap {:.1} s",
            self.url,
            self.samples,
            self.failures,
            self.longest_gap.as_secs_f64()
        )?;
        let outages: Vec<String> = self
            .outages
            .iter()
            .map(|(at, d)| format!("{:.1} s at {:.0} s", d.as_secs_f64(), at.as_secs_f64()))
            .collect();
        if !outages.is_empty() {
            write!(f, " (outages: {})", outages.join(", "))?;
        }
        if self.down_at_end {
            write!(f, ", down when stopped")?;
        }
        Ok(())
    }
}

/// `Lab::availability_probe`: a Deployment's available replicas, every second.
struct AvailabilityProbe {
    deployment: String,
    probe: Probe<Vec<Option<u32>>>,
}

impl AvailabilityProbe {
    fn stop(mut self) -> AvailabilitySummary {
        let samples = self.probe.finish().unwrap_or_default();
        let answered: Vec<u32> = samples.iter().flatten().copied().collect();
        AvailabilitySummary {
            deployment: self.deployment.clone(),
            samples: samples.len(),
            unanswered: samples.len() - answered.len(),
            min_available: answered.iter().copied().min(),
        }
    }
}

/// What an `AvailabilityProbe` saw; a kubectl call that failed is unanswered, not 0.
#[derive(Debug, Default)]
struct AvailabilitySummary {
    deployment: String,
    samples: usize,
    unanswered: usize,
    /// The fewest available replicas an answer gave; `None` if nothing answered.
    min_available: Option<u32>,
}

impl fmt::Display for AvailabilitySummary {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let min = self.min_available.map_or("no answer".to_string(), |m| format!("at least {m} available"));
        write!(f, "deployment {}: {min} over {} samples, {} unanswered", self.deployment, self.samples, self.unanswered)
    }
}

const TWO_CONTROL_PLANES_AND_A_WORKER: &[(&str, &str, &str)] = &[
    ("cp-1", "control-plane", "10.77.0.11"),
    ("cp-2", "control-plane", "10.77.0.12"),
    ("worker-1", "worker", "10.77.0.21"),
];

/// One control plane and two workers: day-2 scenarios add or take away the second worker.
const ONE_CP_TWO_WORKERS: &[(&str, &str, &str)] = &[
    ("cp-1", "control-plane", "10.77.0.11"),
    ("worker-1", "worker", "10.77.0.21"),
    ("worker-2", "worker", "10.77.0.22"),
];

const HA: &[(&str, &str, &str)] = &[
    ("cp-1", "control-plane", "10.77.0.11"),
    ("cp-2", "control-plane", "10.77.0.12"),
    ("cp-3", "control-plane", "10.77.0.13"),
    ("worker-1", "worker", "10.77.0.21"),
    ("worker-2", "worker", "10.77.0.22"),
];

/// The files of `node`'s rootfs that differ between two bakes' outputs (or are in one only).
fn changed_files(old: &Path, new: &Path, node: &str) -> Vec<String> {
    let (a, b) = (snapshot(&old.join(node).join("rootfs")), snapshot(&new.join(node).join("rootfs")));
    let mut changed: Vec<String> = a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).cloned().collect();
    changed.dedup();
    changed
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// a. One control plane and one worker, from an image whose packages left the kubelet
/// enabled (it starts at boot, before first boot); Calico's apply-and-wait sequence runs
/// against the real API server with a stand-in manifest file.
fn scenario_a(kit: Kit, lab_name: &str) {
    let calico = format!("  cni:\n    plugin: calico\n    manifest: {{file: {CALICO_STAND_IN}}}\n");
    let version = kit.version.clone();
    let lab = Lab::new(
        lab_name,
        kit,
        &[("cp-1", "control-plane", "10.77.0.11"), ("worker-1", "worker", "10.77.0.21")],
        &calico,
    );
    let secs = lab.run(&[(0, "cp-1"), (0, "worker-1")], true, &[]);
    lab.assert_cluster();
    let boot_log = fs::read_to_string(lab.disk("cp-1").join("var/lib/kblab/log/firstboot.log")).unwrap();
    assert!(boot_log.contains("kubebake: cni: done"), "{boot_log}");
    let cidr =
        lab.kubectl_ok(&["get", "installation", "default", "-o", "jsonpath={.spec.calicoNetwork.ipPools[0].cidr}"]);
    assert_eq!(cidr, "192.168.0.0/16");
    // calico-node takes each node's InternalIP (its --node-ip), not the first interface's.
    let path = "jsonpath={.spec.calicoNetwork.nodeAddressAutodetectionV4.kubernetes}";
    assert_eq!(lab.kubectl_ok(&["get", "installation", "default", "-o", path]), "NodeInternalIP");
    lab.kubectl_ok(&["get", "apiserver", "default"]);
    figure("e2e", &format!("scenario a ({version}): {secs:.1} s from power-on to all nodes done"));
}

/// b. Three control planes and two workers, powered on at once.
fn scenario_b(kit: Kit, lab_name: &str) {
    let version = kit.version.clone();
    let lab = Lab::new(lab_name, kit, HA, "  cni: {plugin: none}\n");
    let all: Vec<(u64, &str)> = HA.iter().map(|(n, _, _)| (0, *n)).collect();
    let secs = lab.run(&all, false, &[]);
    lab.assert_cluster();
    figure("e2e", &format!("scenario b ({version}): {secs:.1} s from power-on to all nodes done"));
}

#[test]
fn e2e_a_one_control_plane_and_a_worker_with_a_kubelet_started_by_the_package() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    scenario_a(kit, "kbe-a");
}

#[test]
fn e2e_b_three_control_planes_and_two_workers_at_once() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    scenario_b(kit, "kbe-b");
}

/// Scenarios a and b on each supported minor but the default (whose kit runs them all).
macro_rules! older_minor {
    ($minor:literal, $a:ident, $b:ident) => {
        #[test]
        fn $a() {
            let _one = lock();
            let Some(kit) = kit_of($minor) else { return };
            scenario_a(kit, concat!("kbe-a", $minor));
        }

        #[test]
        fn $b() {
            let _one = lock();
            let Some(kit) = kit_of($minor) else { return };
            scenario_b(kit, concat!("kbe-b", $minor));
        }
    };
}
older_minor!(35, e2e_v1_35_a_one_control_plane_and_a_worker, e2e_v1_35_b_three_control_planes_and_two_workers);
older_minor!(34, e2e_v1_34_a_one_control_plane_and_a_worker, e2e_v1_34_b_three_control_planes_and_two_workers);
older_minor!(33, e2e_v1_33_a_one_control_plane_and_a_worker, e2e_v1_33_b_three_control_planes_and_two_workers);

#[test]
fn every_supported_minor_has_scenarios_of_its_own() {
    // The default minor runs every scenario; each other minor has its two above.
    let minors: Vec<u32> = kubebake::model::versions::MINORS.iter().map(|m| m.minor).collect();
    assert_eq!(minors, [33, 34, 35, 36]);
    assert_eq!(kubebake::model::versions::DEFAULT_VERSION.minor, 36);
}

/// c. The same, the workers and the last control plane first, cp-2 half a minute later and
/// the first control plane two minutes later, from an image whose packages left the kubelet
/// enabled: every joiner has long been waiting on an endpoint that does not answer, with
/// its kubelet running before first boot.
#[test]
fn e2e_c_the_first_control_plane_two_minutes_late() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    let lab = Lab::new("kbe-c", kit, HA, "  cni: {plugin: none}\n");
    let schedule = [(0, "worker-1"), (0, "worker-2"), (0, "cp-3"), (30, "cp-2"), (120, "cp-1")];
    let secs = lab.run(&schedule, true, &[]);
    lab.assert_cluster();
    figure(
        "e2e",
        &format!("scenario c: {secs:.1} s from the first power-on to all nodes done (cp-1 powered on at 120 s)"),
    );
}

/// d. A joining control plane and a worker lose power right after preflight, the first
/// control plane 5 s later, in the middle of `kubeadm init` (the kubelet enabled in the
/// image, so it comes back at boot): all three resume and finish.
#[test]
fn e2e_d_power_lost_right_after_preflight() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    let nodes = TWO_CONTROL_PLANES_AND_A_WORKER;
    let lab = Lab::new("kbe-d", kit, nodes, "  cni: {plugin: none}\n");
    let after_preflight = "var/lib/kubebake/preflight.done";
    let secs = lab.run(
        &[(0, "cp-1"), (0, "cp-2"), (0, "worker-1")],
        true,
        &[("cp-2", after_preflight, 0), ("worker-1", after_preflight, 0), ("cp-1", after_preflight, 5000)],
    );
    lab.assert_cluster();
    for node in ["cp-1", "cp-2", "worker-1"] {
        let log = fs::read_to_string(lab.disk(node).join("var/lib/kblab/log/firstboot.log")).unwrap();
        assert_eq!(log.matches("=== boot").count(), 2, "{node} booted twice:\n{log}");
        assert!(log.contains("kubebake: preflight: finished on an earlier boot"), "{node} did not resume:\n{log}");
    }
    figure("e2e", &format!("scenario d: {secs:.1} s from power-on to all nodes done"));
}

/// g. kubeadm's external-CA mode (`pki.externalCA`): no CA key on any node; two control
/// planes and a worker at once, the kubelet started by the package. The worker's kubelet
/// runs on its pre-issued identity (no bootstrap token, no CSR), and every kubelet serves
/// with its pre-issued, CA-signed certificate.
#[test]
fn e2e_g_external_ca_no_ca_key_on_any_node() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    let nodes = TWO_CONTROL_PLANES_AND_A_WORKER;
    let lab = Lab::new("kbe-g", kit, nodes, "  cni: {plugin: none}\n  pki: {externalCA: true}\n");
    let secs = lab.run(&[(0, "cp-1"), (0, "cp-2"), (0, "worker-1")], true, &[]);
    lab.assert_cluster();
    for (node, address) in &lab.nodes {
        let disk = lab.disk(node);
        for key in ["ca.key", "front-proxy-ca.key", "etcd/ca.key"] {
            let path = disk.join("etc/kubernetes/pki").join(key);
            assert!(!path.exists(), "{node} has {key}");
        }
        // What the kubelet serves on 10250 is its baked certificate, signed by the cluster CA.
        let served = lab.sh(&[
            "op",
            &lab.name,
            "bash",
            "-c",
            &format!("openssl s_client -connect {address}:10250 </dev/null 2>/dev/null | openssl x509"),
        ]);
        let baked = fs::read(lab.bake.out().join(node).join("rootfs/var/lib/kubelet/pki/kubelet.crt")).unwrap();
        assert_eq!(String::from_utf8_lossy(&served.stdout), String::from_utf8_lossy(&baked), "{node}");
    }
    let ca = lab.bake.out().join("cp-1/rootfs/etc/kubernetes/pki/ca.crt");
    let crt = lab.bake.out().join("worker-1/rootfs/var/lib/kubelet/pki/kubelet.crt");
    let o = Command::new("openssl").arg("verify").arg("-CAfile").arg(&ca).arg(&crt).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // The worker ran no kubeadm join: its log shows the baked identity taken as joined.
    let log = fs::read_to_string(lab.disk("worker-1").join("var/lib/kblab/log/firstboot.log")).unwrap();
    assert!(!log.contains("[kubelet-start]"), "worker-1 ran a TLS bootstrap:\n{log}");
    // The API server reaches the worker's kubelet (logs, exec, proxy) through it.
    lab.kubectl_ok(&["get", "--raw", "/api/v1/nodes/worker-1/proxy/healthz"]);
    figure("e2e", &format!("scenario g: {secs:.1} s from power-on to all nodes done"));
}

/// h. Day 2: the cluster's first token is gone (deleted, as if it expired), `kubebake token
/// rotate` makes a new one, its Secret is applied with kubectl, a re-bake changes only
/// joining nodes' files, and a worker booted from the new bake joins with the new token.
#[test]
fn e2e_h_a_new_worker_joins_with_a_rotated_token_after_the_first_is_gone() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    let nodes = ONE_CP_TWO_WORKERS;
    let lab = Lab::new("kbe-h", kit, nodes, "  cni: {plugin: none}\n");
    lab.run(&[(0, "cp-1"), (0, "worker-1")], false, &[]);
    let first = fs::read_to_string(lab.bake.state().join("token")).unwrap();
    let first_id = first.trim().split('.').next().unwrap().to_string();
    lab.kubectl_ok(&["-n", "kube-system", "delete", "secret", &format!("bootstrap-token-{first_id}")]);

    let state = lab.bake.state();
    let rotate = lab.bake.run(&["token", "rotate", state.to_str().unwrap(), "--ttl", "1h", "-o", "token.yaml"]);
    rotate.assert_ok();
    let secret = lab.bake.path("token.yaml");
    lab.kubectl_ok(&["apply", "-f", secret.to_str().unwrap()]);
    let list = lab.bake.run(&["token", "list", state.to_str().unwrap(), "--json"]);
    let list: serde_json::Value = serde_json::from_str(&list.stdout()).unwrap();
    let new_id = list["tokens"].as_array().unwrap().iter().find(|t| t["joins"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_id, first_id);

    // Only joining nodes' files change; the first control plane's stay as they are.
    lab.bake.run(&["bake", "cluster.yaml", "-o", "out2"]).assert_ok();
    let (old, new) = (lab.bake.out(), lab.bake.path("out2"));
    for (node, _) in &lab.nodes {
        let (a, b) = (snapshot(&old.join(node).join("rootfs")), snapshot(&new.join(node).join("rootfs")));
        let changed: Vec<&String> = a.keys().filter(|k| a.get(*k) != b.get(*k)).collect();
        let expected: Vec<&str> = if node == "cp-1" { vec![] } else { vec!["etc/kubebake/kubeadm-config.yaml"] };
        assert_eq!(changed, expected, "{node}");
    }
    lab.boot_from("worker-2", &new, false);
    let secs = lab.run(&[], false, &[]);
    lab.assert_cluster();
    let csrs = lab.kubectl_ok(&["get", "csr", "-o", "jsonpath={range .items[*]}{.spec.username}{\"\\n\"}{end}"]);
    assert!(csrs.lines().any(|u| u == format!("system:bootstrap:{new_id}")), "{csrs}");
    figure("e2e", &format!("scenario h: worker-2 joined with the rotated token {:.1} s after power-on", secs));
}

/// i. Day 2: `kubebake renew apiserver` and a re-bake give the first control plane a new
/// API server certificate (same key); put on the node as a file and the static pod
/// restarted as after `kubeadm certs renew` (manifest out and back), the API server serves
/// it and the cluster keeps working.
#[test]
fn e2e_i_a_renewed_api_server_certificate_taken_as_a_file() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    let nodes = &[("cp-1", "control-plane", "10.77.0.11")];
    let lab = Lab::new("kbe-i", kit, nodes, "  cni: {plugin: none}\n");
    lab.run(&[(0, "cp-1")], false, &[]);
    let served = || {
        let o = lab.sh(&[
            "op",
            &lab.name,
            "bash",
            "-c",
            "openssl s_client -connect 10.77.0.11:6443 </dev/null 2>/dev/null | openssl x509 -noout -serial",
        ]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let before = served();
    assert!(before.starts_with("serial="), "{before:?}");

    lab.bake.run(&["renew", "cluster.state", "apiserver"]).assert_ok();
    lab.bake.run(&["bake", "cluster.yaml", "-o", "out2"]).assert_ok();
    let rel = "etc/kubernetes/pki/apiserver.crt";
    let renewed = lab.bake.path("out2").join("cp-1/rootfs").join(rel);
    let serial = run_ok(Command::new("openssl").args(["x509", "-noout", "-serial", "-in"]).arg(&renewed));
    assert_ne!(serial.trim(), before, "renew made no new certificate");
    fs::copy(&renewed, lab.disk("cp-1").join(rel)).unwrap();
    let manifests = lab.disk("cp-1").join("etc/kubernetes/manifests");
    let aside = lab.disk("cp-1").join("etc/kubernetes/kube-apiserver.yaml");
    fs::rename(manifests.join("kube-apiserver.yaml"), &aside).unwrap();
    // The kubelet looks at its manifest directory every 20 s at most.
    let deadline = Instant::now() + Duration::from_secs(120);
    while lab.kubectl(&["get", "--raw", "/readyz"]).status.success() {
        assert!(Instant::now() < deadline, "the API server did not stop");
        std::thread::sleep(Duration::from_secs(1));
    }
    fs::rename(&aside, manifests.join("kube-apiserver.yaml")).unwrap();
    while served() != serial.trim() {
        assert!(Instant::now() < deadline, "still serving {} rather than {}", served(), serial.trim());
        std::thread::sleep(Duration::from_secs(1));
    }
    // The node now holds the second bake's files.
    lab.booted_from.borrow_mut().insert("cp-1".into(), lab.bake.path("out2"));
    lab.assert_cluster();
    figure("e2e", &format!("scenario i: the API server serves the renewed certificate ({})", serial.trim()));
}

/// j. A worker pool: one control plane, then two machines of other names and addresses
/// booted from the pool's one user-data (its rootfs), as an autoscaling group launches
/// them. Each registers under its own hostname with the pool's labels and taints, through
/// the pool's own token, and kubeadm rewrites none of the pool's files (its kubelet flags
/// file included: it is kubeadm's own for a node named by its hostname).
#[test]
fn e2e_j_machines_of_a_worker_pool_join_under_their_own_hostnames() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    let nodes = &[("cp-1", "control-plane", "10.77.0.11")];
    let pool = "  cni: {plugin: none}
  workerPools:
    - name: batch
      labels: {example.com/pool: batch, node.kubernetes.io/tier: batch}
      taints: [{key: example.com/dedicated, value: batch, effect: NoSchedule}, {key: example.com/spot, effect: PreferNoSchedule}]
";
    let machines = &[("batch-7f3k", "10.77.0.31", "pool-batch"), ("batch-q9zx", "10.77.0.32", "pool-batch")];
    let lab = Lab::with_machines("kbe-j", kit, nodes, pool, machines);
    // The machines are launched once the cluster runs, as a scale-up would be: they find the
    // endpoint at once rather than backing off while cp-1 initialises.
    let init = lab.run(&[(0, "cp-1")], false, &[]);
    let joined = lab.run(&[(0, "batch-7f3k"), (0, "batch-q9zx")], false, &[]);
    lab.assert_cluster();

    let records: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(lab.bake.state().join("tokens.json")).unwrap()).unwrap();
    let pool_token = records["pools"]["batch"]["joins"].as_str().unwrap().to_string();
    let csrs = lab.kubectl_ok(&["get", "csr", "-o", "jsonpath={range .items[*]}{.spec.username}{\"\\n\"}{end}"]);
    let by_pool = csrs.lines().filter(|u| *u == format!("system:bootstrap:{pool_token}")).count();
    assert_eq!(by_pool, 2, "CSRs from the pool's token {pool_token}:\n{csrs}");
    for (machine, _, _) in machines {
        let node: serde_json::Value =
            serde_json::from_str(&lab.kubectl_ok(&["get", "node", machine, "-o", "json"])).unwrap();
        let labels = &node["metadata"]["labels"];
        assert_eq!(labels["example.com/pool"], "batch", "{machine}: {labels}");
        assert_eq!(labels["node.kubernetes.io/tier"], "batch", "{machine}: {labels}");
        assert_eq!(labels["kubernetes.io/hostname"], *machine, "{machine}: {labels}");
        let mut taints: Vec<String> = node["spec"]["taints"]
            .as_array()
            .unwrap_or_else(|| panic!("{machine} has no taints: {}", node["spec"]))
            .iter()
            .map(|t| {
                format!(
                    "{}={}:{}",
                    t["key"].as_str().unwrap(),
                    t["value"].as_str().unwrap_or(""),
                    t["effect"].as_str().unwrap()
                )
            })
            .collect();
        taints.sort();
        assert_eq!(
            taints,
            ["example.com/dedicated=batch:NoSchedule", "example.com/spot=:PreferNoSchedule"],
            "{machine}"
        );
        let log = fs::read_to_string(lab.disk(machine).join("var/lib/kblab/log/firstboot.log")).unwrap();
        assert!(log.contains(&format!("this machine joins as node {machine}, its hostname")), "{machine}:\n{log}");
    }
    figure(
        "e2e",
        &format!("scenario j: cp-1 done {init:.1} s after power-on; both pool machines {joined:.1} s after theirs"),
    );
}

/// The lab's own scripts are checked like the first-boot script, kit or not.
#[test]
fn the_lab_scripts_pass_shellcheck() {
    let Some(shellcheck) = tool("shellcheck", "shellcheck") else { return };
    let dir = Path::new(LAB_SH).parent().unwrap();
    let out = Command::new(shellcheck).arg(dir.join("lab.sh")).arg(dir.join("systemctl")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

/// The API probe's outages run from the last success to the next, ignoring the API not up
/// yet; one still going when stopped ends at the last sample. Kit or not.
#[test]
fn the_api_probe_measures_gaps_between_successes() {
    let s = |secs: &[(u64, bool)]| {
        let samples: Vec<(Duration, bool)> = secs.iter().map(|(t, ok)| (Duration::from_secs(*t), *ok)).collect();
        ApiSummary::of("u", &samples)
    };
    let none = s(&[(0, false), (1, false), (2, true), (3, true)]);
    assert_eq!((none.samples, none.failures, none.longest_gap, none.down_at_end), (4, 2, Duration::ZERO, false));
    let two = s(&[(0, true), (1, false), (2, true), (3, false), (4, false), (5, false), (6, true)]);
    assert_eq!(
        two.outages,
        [(Duration::from_secs(0), Duration::from_secs(2)), (Duration::from_secs(2), Duration::from_secs(4))]
    );
    assert_eq!((two.failures, two.longest_gap), (4, Duration::from_secs(4)));
    let open = s(&[(0, true), (1, true), (2, false), (3, false)]);
    assert_eq!((open.longest_gap, open.down_at_end), (Duration::from_secs(2), true));
    assert_eq!(
        open.to_string(),
        "u: 4 samples, 2 failed, longest gap 2.0 s (outages: 2.0 s at 1 s), down when stopped"
    );
    assert_eq!(ApiSummary::of("u", &[]).to_string(), "u: 0 samples, 0 failed, longest gap 0.0 s");
}

/// e. Air-gapped: `kubebake bundle` made from a local registry (the kit's images pushed with
/// skopeo, stand-ins for Calico's) and a local file server (the kit's binaries and CNI
/// plugins, with .sha256, and a stand-in Calico manifest at a URL that is no file name),
/// and nodes whose image carries only the bundle: no Kubernetes binary, no image, no
/// network beyond the lab's. First boot installs and imports everything from the bundle,
/// and the first control plane applies Calico's manifest from it.
#[test]
fn e2e_e_an_air_gapped_cluster_from_a_bundle() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    let (Some(_), Some(_)) = (tool("docker-registry", "docker-registry"), tool("skopeo", "skopeo")) else { return };
    let nodes = &[("cp-1", "control-plane", "10.77.0.11"), ("worker-1", "worker", "10.77.0.21")];
    let scratch = tempfile::tempdir().unwrap();
    let servers = common::servers::Servers::start(scratch.path());
    common::servers::publish_everything(&servers, scratch.path());
    let extra = format!("  packages: bundle\n{}", common::servers::calico_from_servers(&servers));
    let mut lab = Lab::new("kbe-e", kit, nodes, &extra);
    let calico_images = common::servers::calico_images(&lab.bake);
    assert!(!calico_images.is_empty());
    common::servers::publish_calico(&servers, scratch.path(), &calico_images);
    let bundle = lab.bake.path("bundle.tar");
    // Everything the servers hold, pinned as a user pins what kubebake has no pin for.
    servers.write_pins(&lab.bake.path("pins.json"));
    let started = Instant::now();
    let mut args = vec!["bundle", "cluster.yaml", "-o", "bundle.tar", "--pins", "pins.json"];
    let rewrites = common::servers::rewrites(&servers);
    args.extend(rewrites.iter().map(String::as_str));
    let run = lab.bake.run(&args);
    run.assert_ok();
    figure("e2e", &format!("scenario e: {} ({:.1} s)", run.stdout().trim(), started.elapsed().as_secs_f64()));
    drop(servers);
    // The nodes run that very bundle and no other.
    lab.bake.bake(&["--bundle", "bundle.tar"]).assert_ok();
    lab.bundle = Some(bundle);

    // The worker loses power as soon as the bundle is checked and unpacked: in the middle
    // of its installer (binaries, containerd's restart, the image imports), run again.
    let secs = lab.run(&[(0, "cp-1"), (0, "worker-1")], false, &[("worker-1", "var/lib/kubebake/bundle.verified", 0)]);
    lab.assert_cluster();
    let worker_log = fs::read_to_string(lab.disk("worker-1").join("var/lib/kblab/log/firstboot.log")).unwrap();
    assert_eq!(worker_log.matches("=== boot").count(), 2, "{worker_log}");
    for (node, _, _) in nodes {
        let log = fs::read_to_string(lab.disk(node).join("var/lib/kblab/log/firstboot.log")).unwrap();
        assert!(log.contains("kubebake: packages: done"), "{node}:\n{log}");
        let crictl = lab.sh(&["on", "kbe-e", node, "crictl"]);
        let cri = lab.version().kubeadm().cri_tools;
        assert!(
            String::from_utf8_lossy(&crictl.stdout).contains(&format!("crictl version {cri}")),
            "{node}: no crictl"
        );
        assert!(lab.disk(node).join("var/lib/kubebake/bundle.verified").exists());
        // The lab preloaded nothing: every image came from the bundle.
        assert!(!lab.disk(node).join("var/lib/kblab/images-imported").exists());
        // Its unpacked copy is gone once first boot is done.
        assert!(!lab.disk(node).join("var/lib/kubebake/bundle").exists(), "{node}");
    }
    // Calico's manifest came from the bundle (its URL is nowhere the lab can reach) and
    // the cni step's apply-and-wait ran on it; Calico's images were imported from it too.
    let boot_log = fs::read_to_string(lab.disk("cp-1").join("var/lib/kblab/log/firstboot.log")).unwrap();
    assert!(boot_log.contains("kubebake: cni: done"), "{boot_log}");
    lab.kubectl_ok(&["get", "installation", "default"]);
    let images = lab.sh(&["on", "kbe-e", "worker-1", "ctr", "-n", "k8s.io", "images", "ls", "-q"]);
    let images = String::from_utf8_lossy(&images.stdout).into_owned();
    for image in &calico_images {
        assert!(images.lines().any(|l| l == image), "{image} not imported on worker-1:\n{images}");
    }
    figure("e2e", &format!("scenario e: {secs:.1} s from power-on to all nodes done"));
}

/// f. A worker loses power after its kubelet wrote kubelet.conf and before it got its
/// client certificate (the kubelet writes the file first, then requests the certificate):
/// the next boot must not take that kubelet.conf for a finished join. kubeadm's binding
/// that auto-approves bootstrap CSRs is removed meanwhile, so the cut lands in that window
/// every time; it is put back as kubeadm makes it before the worker boots again.
#[test]
fn e2e_f_power_lost_in_the_middle_of_the_kubelets_tls_bootstrap() {
    const AUTO_APPROVE: &str = "kubeadm:node-autoapprove-bootstrap";
    let _one = lock();
    let Some(kit) = kit() else { return };
    let nodes = &[("cp-1", "control-plane", "10.77.0.11"), ("worker-1", "worker", "10.77.0.21")];
    let lab = Lab::new("kbe-f", kit, nodes, "  cni: {plugin: none}\n");
    lab.boot("cp-1", true);
    let deadline = Instant::now() + Duration::from_secs(600);
    while lab.status("cp-1") != "done" {
        assert!(!lab.status("cp-1").starts_with("failed") && Instant::now() < deadline, "{}", lab.logs("cp-1"));
        std::thread::sleep(Duration::from_millis(200));
    }
    lab.kubectl_ok(&["delete", "clusterrolebinding", AUTO_APPROVE]);
    lab.boot("worker-1", true);
    let disk = lab.disk("worker-1");
    while !disk.join("etc/kubernetes/kubelet.conf").exists() {
        assert!(Instant::now() < deadline, "worker-1 wrote no kubelet.conf\n{}", lab.logs("worker-1"));
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    lab.poweroff("worker-1");
    // The certificate is a symlink to an absolute path on the node: look at the link itself.
    let cert = disk.join("var/lib/kubelet/pki/kubelet-client-current.pem");
    assert!(fs::symlink_metadata(&cert).is_err(), "the kubelet got a certificate with no CSR approved");
    lab.kubectl_ok(&[
        "create",
        "clusterrolebinding",
        AUTO_APPROVE,
        "--clusterrole=system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        "--group=system:bootstrappers:kubeadm:default-node-token",
    ]);
    lab.boot("worker-1", true);
    let secs = lab.run(&[], true, &[]);
    lab.assert_cluster();
    figure("e2e", &format!("scenario f: {secs:.1} s from the second power-on to all nodes done"));
}

/// k. Power lost at three more points, the kubelet enabled in the image: a joining control
/// plane in the middle of its etcd join (kubeadm has added its member and written its etcd
/// manifest; the member has not caught up), the first control plane as its cni step begins
/// (Calico's apply-and-wait, from a stand-in manifest file), and a worker right after
/// prepare. All three resume where they stopped and finish.
#[test]
fn e2e_k_power_lost_in_the_etcd_join_the_cni_step_and_after_prepare() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    let calico = format!("  cni:\n    plugin: calico\n    manifest: {{file: {CALICO_STAND_IN}}}\n");
    let lab = Lab::new("kbe-k", kit, TWO_CONTROL_PLANES_AND_A_WORKER, &calico);
    let secs = lab.run(
        &[(0, "cp-1"), (0, "cp-2"), (0, "worker-1")],
        true,
        &[
            ("cp-2", "etc/kubernetes/manifests/etcd.yaml", 0),
            ("cp-1", "var/lib/kubebake/role.done", 0),
            ("worker-1", "var/lib/kubebake/prepare.done", 0),
        ],
    );
    lab.assert_cluster();
    for node in ["cp-1", "cp-2", "worker-1"] {
        let log = fs::read_to_string(lab.disk(node).join("var/lib/kblab/log/firstboot.log")).unwrap();
        assert_eq!(log.matches("=== boot").count(), 2, "{node} booted twice:\n{log}");
        assert!(log.contains("kubebake: prepare: finished on an earlier boot"), "{node} did not resume:\n{log}");
    }
    let cp1 = fs::read_to_string(lab.disk("cp-1").join("var/lib/kblab/log/firstboot.log")).unwrap();
    assert!(cp1.contains("kubebake: role: finished on an earlier boot"), "{cp1}");
    figure("e2e", &format!("scenario k: {secs:.1} s from power-on to all nodes done"));
}

/// l. Day 2: a control plane added to a running cluster from the same state. One control
/// plane and a worker run; cp-2 is added to the spec, the re-bake changes none of the
/// running nodes' files, and cp-2, booted from the new bake, joins through kubeadm's etcd
/// member add: two voting members, and everything else as in every scenario.
#[test]
fn e2e_l_a_control_plane_added_to_a_running_cluster() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    let nodes = &[("cp-1", "control-plane", "10.77.0.11"), ("worker-1", "worker", "10.77.0.21")];
    let lab = Lab::with_machines("kbe-l", kit, nodes, "  cni: {plugin: none}\n", &[("cp-2", "10.77.0.12", "cp-2")]);
    lab.run(&[(0, "cp-1"), (0, "worker-1")], false, &[]);

    let spec = fs::read_to_string(lab.bake.path("cluster.yaml")).unwrap();
    let added = format!("{spec}    - {{name: cp-2, role: control-plane, address: 10.77.0.12}}\n");
    fs::write(lab.bake.path("cluster.yaml"), added).unwrap();
    lab.bake.run(&["bake", "cluster.yaml", "-o", "out2"]).assert_ok();
    let (old, new) = (lab.bake.out(), lab.bake.path("out2"));
    for (node, _, _) in nodes {
        let changed = changed_files(&old, &new, node);
        assert!(changed.is_empty(), "{node}: a new control plane changed {changed:?}");
    }
    assert!(!new.join("cp-2/rootfs/etc/kubebake/manifests/etcd.yaml").exists(), "a joiner's etcd.yaml is kubeadm's");

    lab.boot_from("cp-2", &new, false);
    let secs = lab.run(&[], false, &[]);
    lab.assert_cluster();
    figure("e2e", &format!("scenario l: cp-2 joined the running cluster, {secs:.1} s after its power-on"));
}

/// Issue 23 (a): a control plane lost for good is replaced by a new machine baked from the
/// same state (`replaces`): once the new member votes, the lost one's etcd member and Node
/// object go; etcd is three voting members again, without it.
#[test]
fn e2e_m_a_lost_control_plane_replaced_by_a_new_machine() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    let nodes = &[
        ("cp-1", "control-plane", "10.77.0.11"),
        ("cp-2", "control-plane", "10.77.0.12"),
        ("cp-3", "control-plane", "10.77.0.13"),
        ("worker-1", "worker", "10.77.0.21"),
    ];
    // The endpoint is given: replacing a control plane needs one that does not move.
    let extra = "  controlPlaneEndpoint: 10.77.0.11:6443\n  cni: {plugin: none}\n";
    let mut lab = Lab::with_machines("kbe-m", kit, nodes, extra, &[("cp-4", "10.77.0.14", "cp-4")]);
    let all: Vec<(u64, &str)> = nodes.iter().map(|(n, _, _)| (0, *n)).collect();
    lab.run(&all, false, &[]);

    // cp-2 dies for good: its processes killed, its network gone (a dead machine answers
    // nothing), never powered on again.
    lab.poweroff("cp-2");
    let cut = Command::new("ip")
        .args(["netns", "exec", "kbe-m-cp-2", "sh", "-c"])
        .arg(r#"for i in /sys/class/net/*; do ip link set "${i##*/}" down; done"#)
        .output()
        .unwrap();
    assert!(cut.status.success(), "{}", String::from_utf8_lossy(&cut.stderr));
    lab.nodes.retain(|(n, _)| n != "cp-2");

    let spec = fs::read_to_string(lab.bake.path("cluster.yaml")).unwrap();
    let replaced = spec.replace("    - {name: cp-2, role: control-plane, address: 10.77.0.12}\n", "")
        + "    - {name: cp-4, role: control-plane, address: 10.77.0.14, replaces: cp-2}\n";
    fs::write(lab.bake.path("cluster.yaml"), replaced).unwrap();
    let run = lab.bake.run(&["bake", "cluster.yaml", "-o", "out2"]);
    run.assert_ok();
    assert!(run.stdout().contains("dropped nodes/cp-2/"), "{}", run.stdout());
    let (old, new) = (lab.bake.out(), lab.bake.path("out2"));
    for node in ["cp-1", "cp-3", "worker-1"] {
        let changed = changed_files(&old, &new, node);
        assert!(changed.is_empty(), "{node}: the replacement changed {changed:?}");
    }

    lab.boot_from("cp-4", &new, false);
    let secs = lab.run(&[], false, &[]);
    // Three voting members, cp-1, cp-3 and cp-4; every node Ready, cp-2's Node gone.
    lab.assert_cluster();
    let log = fs::read_to_string(lab.disk("cp-4").join("var/lib/kblab/log/firstboot.log")).unwrap_or_default();
    assert!(log.contains("removing etcd member"), "{log}");
    figure("e2e", &format!("scenario m: cp-4 replaced the lost cp-2, {secs:.1} s after its power-on; etcd 3/3"));
}

/// Issue 23 (b): a worker taken out of the spec is retired with the script `kubebake
/// retire` prints: drained, its Node object gone, nothing of it left in etcd.
#[test]
fn e2e_n_a_worker_retired_with_the_script_retire_prints() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    let nodes = ONE_CP_TWO_WORKERS;
    let mut lab = Lab::new("kbe-n", kit, nodes, "  cni: {plugin: none}\n");
    let all: Vec<(u64, &str)> = nodes.iter().map(|(n, _, _)| (0, *n)).collect();
    lab.run(&all, false, &[]);
    lab.assert_cluster();

    let spec = fs::read_to_string(lab.bake.path("cluster.yaml")).unwrap();
    fs::write(
        lab.bake.path("cluster.yaml"),
        spec.replace("    - {name: worker-2, role: worker, address: 10.77.0.22}\n", ""),
    )
    .unwrap();
    let run = lab.bake.run(&["bake", "cluster.yaml", "-o", "out2"]);
    run.assert_ok();
    lab.retire("worker-2", "2m");
    lab.poweroff("worker-2");
    lab.nodes.retain(|(n, _)| n != "worker-2");
    lab.assert_cluster();

    // Nothing of it in etcd: no key names it but events (which expire by themselves); its
    // node lease goes with the Node, by the garbage collector, within moments.
    let keys = || {
        let o = lab.etcdctl(&["get", "/registry/", "--prefix", "--keys-only"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let keys = keys();
        assert!(keys.contains("/registry/minions/worker-1"), "{keys}");
        let left: Vec<&str> =
            keys.lines().filter(|k| k.contains("worker-2") && !k.starts_with("/registry/events/")).collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "etcd still holds {left:?}");
        std::thread::sleep(Duration::from_secs(2));
    }
    figure("e2e", "scenario n: worker-2 retired; no etcd key names it");
}

/// o. Calico in manifest mode: the pod network's IP pool is in place before calico-node,
/// and calico-node is told to take each node's InternalIP (the kubelet's --node-ip) as its
/// address, not the first interface's.
#[test]
fn e2e_o_calico_from_its_manifest_takes_each_nodes_internal_ip() {
    let _one = lock();
    let Some(kit) = kit() else { return };
    let nodes = &[("cp-1", "control-plane", "10.77.0.11"), ("worker-1", "worker", "10.77.0.21")];
    let calico =
        format!("  cni:\n    plugin: calico\n    mode: manifest\n    manifest: {{file: {CALICO_MANIFEST_STAND_IN}}}\n");
    let lab = Lab::new("kbe-o", kit, nodes, &calico);
    let secs = lab.run(&[(0, "cp-1"), (0, "worker-1")], false, &[]);
    lab.assert_cluster();
    let cidr =
        lab.kubectl_ok(&["get", "ippools.crd.projectcalico.org", "default-ipv4-ippool", "-o", "jsonpath={.spec.cidr}"]);
    assert_eq!(cidr, "192.168.0.0/16");
    let env = lab.kubectl_ok(&[
        "-n",
        "kube-system",
        "get",
        "daemonset",
        "calico-node",
        "-o",
        "jsonpath={range .spec.template.spec.containers[0].env[*]}{.name}={.value}{\"\\n\"}{end}",
    ]);
    assert!(env.lines().any(|l| l == "IP_AUTODETECTION_METHOD=kubernetes-internal-ip"), "{env}");
    assert!(env.lines().any(|l| l == "CALICO_NETWORKING_BACKEND=bird"), "{env}");
    figure("e2e", &format!("scenario o: calico manifest mode, {secs:.1} s from power-on to all nodes done"));
}

/// The image of scenario p's Deployment: on each worker, its kit's pause image tagged so
/// (what a pull of the application's image would give), so pods find it on a node of
/// either minor.
const APP_IMAGE: &str = "lab.local/app:1";

fn tag_app_image(lab: &Lab, node: &str) {
    let kit = lab.node_kit(node);
    let pause = kubebake::model::versions::Version::parse(&kit.version).unwrap().kubeadm().pause;
    let pause = format!("registry.k8s.io/pause:{pause}");
    let o = lab.sh(&["on", &lab.name, node, "ctr", "-n", "k8s.io", "images", "tag", "--force", &pause, APP_IMAGE]);
    assert!(o.status.success(), "tagging {APP_IMAGE} on {node}: {}", String::from_utf8_lossy(&o.stderr));
}

/// Deployment `web` (two replicas of [`APP_IMAGE`]) with a PodDisruptionBudget that keeps
/// one available through a drain; returns once both replicas are available.
fn deploy_app(lab: &Lab) {
    let manifest = format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[
{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"web","namespace":"default"}},
 "spec":{{"replicas":2,"selector":{{"matchLabels":{{"app":"web"}}}},
  "template":{{"metadata":{{"labels":{{"app":"web"}}}},"spec":{{"terminationGracePeriodSeconds":1,
   "containers":[{{"name":"app","image":"{APP_IMAGE}","imagePullPolicy":"Never"}}]}}}}}}}},
{{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{{"name":"web","namespace":"default"}},
 "spec":{{"minAvailable":1,"selector":{{"matchLabels":{{"app":"web"}}}}}}}}]}}"#
    );
    let file = lab.bake.path("web.json");
    fs::write(&file, manifest).unwrap();
    lab.kubectl_ok(&["apply", "-f", file.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while lab.kubectl_ok(&["get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}"]).trim() != "2" {
        assert!(Instant::now() < deadline, "web: not 2 available\n{}", lab.kubectl_ok(&["get", "pods", "-o", "wide"]));
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Issue 23 (c): three control planes and a worker on the previous minor move to the
/// default one by replacing every machine, one at a time, each baked from the same state
/// (`kubernetesVersion` moved up, `replaces`), behind a load balancer as an HA cluster's
/// endpoint is: the API answers throughout (probed every second), a Deployment of two
/// replicas keeps one available, etcd stays healthy, and every node ends on the new release.
#[test]
fn e2e_p_the_next_minor_by_replacing_every_machine_one_at_a_time() {
    let _one = lock();
    let Some(new) = kit() else { return };
    let Some(old) = kit_of(new.minor - 1) else { return };
    const LB: &str = "10.77.0.10";
    let nodes = &[
        ("cp-1", "control-plane", "10.77.0.11"),
        ("cp-2", "control-plane", "10.77.0.12"),
        ("cp-3", "control-plane", "10.77.0.13"),
        ("worker-1", "worker", "10.77.0.21"),
    ];
    let machines = &[
        ("cp-4", "10.77.0.14", "cp-4"),
        ("cp-5", "10.77.0.15", "cp-5"),
        ("cp-6", "10.77.0.16", "cp-6"),
        ("worker-2", "10.77.0.22", "worker-2"),
    ];
    let extra = format!("  controlPlaneEndpoint: {LB}:6443\n  cni: {{plugin: none}}\n");
    let mut lab = Lab::with_machines("kbe-p", old.clone(), nodes, &extra, machines);
    // The machines to come are not nodes yet.
    lab.nodes.retain(|(n, _)| nodes.iter().any(|(m, _, _)| m == n));
    lab.lb_up(LB, &["10.77.0.11", "10.77.0.12", "10.77.0.13", "10.77.0.14", "10.77.0.15", "10.77.0.16"]);
    let all: Vec<(u64, &str)> = nodes.iter().map(|(n, _, _)| (0, *n)).collect();
    lab.run(&all, false, &[]);
    lab.assert_cluster();
    tag_app_image(&lab, "worker-1");
    deploy_app(&lab);

    let api = lab.api_probe(LB);
    let web = lab.availability_probe("web");
    let started = Instant::now();
    let mut spec = fs::read_to_string(lab.bake.path("cluster.yaml"))
        .unwrap()
        .replace(&format!("kubernetesVersion: {}", old.version), &format!("kubernetesVersion: {}", new.version));
    let mut out = lab.bake.out();
    let mut steps = Vec::new();
    // Bakes `spec` into a new output, in which no running node's files changed.
    let bake = |lab: &Lab, spec: &str, name: &str, out: &mut PathBuf| {
        fs::write(lab.bake.path("cluster.yaml"), spec).unwrap();
        lab.bake.run(&["bake", "cluster.yaml", "-o", name]).assert_ok();
        let next = lab.bake.path(name);
        for (node, _) in &lab.nodes {
            let changed = changed_files(out, &next, node);
            assert!(changed.is_empty(), "{name}: {node}'s files changed: {changed:?}");
        }
        *out = next;
    };

    for (gone, address, replacement, new_address) in [
        ("cp-1", "10.77.0.11", "cp-4", "10.77.0.14"),
        ("cp-2", "10.77.0.12", "cp-5", "10.77.0.15"),
        ("cp-3", "10.77.0.13", "cp-6", "10.77.0.16"),
    ] {
        spec = spec.replace(
            &format!("    - {{name: {gone}, role: control-plane, address: {address}}}\n"),
            &format!("    - {{name: {replacement}, role: control-plane, address: {new_address}, replaces: {gone}}}\n"),
        );
        lab.nodes.retain(|(n, _)| n != gone);
        bake(&lab, &spec, &format!("out-{replacement}"), &mut out);
        // The old machine goes first (its replacement removes its etcd member before it
        // joins); the new one boots from the new minor's kit.
        lab.poweroff(gone);
        lab.boot_from_kit(replacement, &out, &new, false);
        lab.nodes.push((replacement.to_string(), new_address.to_string()));
        let secs = lab.run(&[], false, &[]);
        lab.assert_cluster();
        let health = lab.etcdctl(&["endpoint", "health", "--cluster"]);
        assert!(health.status.success(), "etcd after {replacement}: {}", String::from_utf8_lossy(&health.stderr));
        steps.push(format!("{replacement} for {gone} {secs:.0} s"));
    }
    // The cluster's configuration moved with the first new control plane, the add-ons with
    // the last (kubeadm's addon phase skipped them while an older API server was left).
    let config = lab.kubectl_ok(&[
        "-n",
        "kube-system",
        "get",
        "cm",
        "kubeadm-config",
        "-o",
        "jsonpath={.data.ClusterConfiguration}",
    ]);
    assert!(config.contains(&format!("kubernetesVersion: {}", new.version)), "{config}");
    let log =
        |node: &str| fs::read_to_string(lab.disk(node).join("var/lib/kblab/log/firstboot.log")).unwrap_or_default();
    assert!(log("cp-4").contains("Skipping upgrade of addons because control plane instances"), "{}", log("cp-4"));
    let image = |kind: &str, name: &str| {
        let path = "jsonpath={.spec.template.spec.containers[0].image}";
        lab.kubectl_ok(&["-n", "kube-system", "get", kind, name, "-o", path])
    };
    assert_eq!(image("daemonset", "kube-proxy"), format!("registry.k8s.io/kube-proxy:{}", new.version));
    let coredns = kubebake::model::versions::Version::parse(&new.version).unwrap().kubeadm().coredns;
    assert_eq!(image("deployment", "coredns"), format!("registry.k8s.io/coredns/coredns:{coredns}"));

    // Then the worker: a new one of the new minor joins, the old one is retired (drained:
    // the Deployment's pods move, one at a time as its budget allows).
    spec.push_str("    - {name: worker-2, role: worker, address: 10.77.0.22}\n");
    bake(&lab, &spec, "out-worker-2", &mut out);
    lab.boot_from_kit("worker-2", &out, &new, false);
    lab.nodes.push(("worker-2".into(), "10.77.0.22".into()));
    let secs = lab.run(&[], false, &[]);
    tag_app_image(&lab, "worker-2");
    steps.push(format!("worker-2 joined {secs:.0} s"));
    spec = spec.replace("    - {name: worker-1, role: worker, address: 10.77.0.21}\n", "");
    lab.nodes.retain(|(n, _)| n != "worker-1");
    bake(&lab, &spec, "out-final", &mut out);
    let t = Instant::now();
    lab.retire("worker-1", "3m");
    lab.poweroff("worker-1");
    steps.push(format!("worker-1 retired {:.0} s", t.elapsed().as_secs_f64()));
    lab.assert_cluster();
    let total = started.elapsed().as_secs_f64();
    let (api, web) = (api.stop(), web.stop());

    // Every node on the new release; the Deployment's two replicas on the new worker.
    let versions = lab.kubectl_ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.status.nodeInfo.kubeletVersion}{\"\\n\"}{end}",
    ]);
    let want: BTreeSet<String> =
        ["cp-4", "cp-5", "cp-6", "worker-2"].iter().map(|n| format!("{n}={}", new.version)).collect();
    assert_eq!(versions.lines().map(String::from).collect::<BTreeSet<_>>(), want);
    assert_eq!(lab.kubectl_ok(&["get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}"]), "2");
    println!("{api}\n{web}");
    assert!(web.min_available.is_some_and(|m| m >= 1), "{web}");
    assert!(!api.down_at_end && api.longest_gap <= Duration::from_secs(10), "{api}");
    figure(
        "e2e",
        &format!(
            "scenario p: {} -> {} by replacement in {total:.0} s ({}); API longest gap {:.1} s ({} of {} probes failed); web: at least {} of 2 available",
            old.version,
            new.version,
            steps.join(", "),
            api.longest_gap.as_secs_f64(),
            api.failures,
            api.samples,
            web.min_available.unwrap_or(0),
        ),
    );
}
