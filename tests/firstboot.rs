//! The rendered first-boot script, run for real by bash in an overlay of / (inside a
//! private mount namespace), with the commands that would change the machine or reach
//! the network replaced by stubs that log their calls: a failed join is reported and
//! resumed on the next boot without redoing finished steps; a finished node does nothing.

mod common;

use std::fs;
use std::process::Command;

use common::*;

const SPEC: &str = "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata: {name: boot}
spec:
  join: {timeout: 1s}
  nodes:
    - {name: cp-1, role: control-plane, address: 10.0.0.11}
    - {name: worker-1, role: worker, address: 10.0.0.21}
";
const WORKER_ADDRESS: &str = "10.0.0.21";

/// Runs the script three times in one overlay and a network namespace of its own: with
/// `kubeadm join` failing (or, with FAILS=modprobe, on a kernel that lacks overlay and
/// bridge netfilter and whose modprobe fails; with FAILS=address, on a machine that has
/// not got its address yet), then with everything succeeding, then once more. Prints each
/// run's exit code, status file and stub calls.
const HARNESS: &str = r#"set -u
T=$1; SCRIPT=$2; SYSCTL=$3; FAILS=$4; ADDRESS=$5
ip link set lo up
mount -t tmpfs tmpfs "$T"
mkdir -p "$T/upper" "$T/work" "$T/m"
mount -t overlay overlay -o lowerdir=/,upperdir="$T/upper",workdir="$T/work" "$T/m"
for d in proc sys dev; do mount --rbind "/$d" "$T/m/$d"; done
if [ "$FAILS" = modprobe ]; then
  # A kernel without the two features: no overlay in /proc/filesystems, no /proc/sys/net/bridge.
  grep -vw overlay /proc/filesystems > "$T/filesystems"
  mount --bind "$T/filesystems" "$T/m/proc/filesystems"
  mount -t tmpfs tmpfs "$T/m/proc/sys/net"
fi
for cmd in apt-get apt-mark curl gpg kubeadm systemctl swapoff modprobe sysctl ufw sleep; do
  for dir in /usr/bin /usr/sbin /bin /sbin; do
    rm -f "$T/m$dir/$cmd"
  done
  cat > "$T/m/usr/bin/$cmd" <<STUB
#!/bin/sh
echo "$cmd \$*" >> /var/log/kubebake-stub-calls
if [ "$cmd" = kubeadm ] && [ "\$1 \$2" = "join --config" ] && [ -f /tmp/join-fails ]; then exit 1; fi
if [ "$cmd" = modprobe ] && [ -f /tmp/modprobe-fails ]; then exit 1; fi
exit 0
STUB
  chmod 755 "$T/m/usr/bin/$cmd"
done
mkdir -p "$T/m/opt/kubebake" "$T/m/etc/apt/keyrings"
cp "$SCRIPT" "$T/m/opt/kubebake/firstboot.sh"
mkdir -p "$T/m/etc/sysctl.d" && cp "$SYSCTL" "$T/m/etc/sysctl.d/99-kubebake.conf"
touch "$T/m/tmp/$FAILS-fails"
for run in 1 2 3; do
  [ "$run" = 2 ] && rm -f "$T/m/tmp/$FAILS-fails"
  # The worker's spec address, which its first boot waits for (here at once but in the
  # address case's first run).
  if [ "$run" = 2 ] || [ "$FAILS" != address ]; then ip address replace "$ADDRESS/32" dev lo; fi
  : > "$T/m/var/log/kubebake-stub-calls"
  chroot "$T/m" /bin/bash /opt/kubebake/firstboot.sh > "$T/out" 2>&1
  echo "== run $run exit $?"
  echo "status: $(cat "$T/m/var/lib/kubebake/status")"
  sed 's/^/call: /' "$T/m/var/log/kubebake-stub-calls"
  sed 's/^/log: /' "$T/out"
done
"#;

/// The worker's first boot run three times by HARNESS with `fails` ("join" or "modprobe")
/// failing in the first run; each run's output. None where the machine cannot run it.
fn three_runs(fails: &str) -> Option<Vec<String>> {
    if tool("unshare", "util-linux").is_none() || !root_or_skip() {
        return None;
    }
    let b = Bake::new(SPEC);
    b.bake(&[]).assert_ok();
    let mount_point = b.path("mnt");
    fs::create_dir_all(&mount_point).unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--net", "--propagation", "private", "sh", "-c", HARNESS, "harness"])
        .arg(&mount_point)
        .arg(b.node_file("worker-1", "/opt/kubebake/firstboot.sh"))
        .arg(b.node_file("worker-1", "/etc/sysctl.d/99-kubebake.conf"))
        .arg(fails)
        .arg(WORKER_ADDRESS)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let runs: Vec<String> = text.split("== run ").skip(1).map(str::to_owned).collect();
    assert_eq!(runs.len(), 3, "{text}");
    Some(runs)
}

#[test]
fn a_kernel_lacking_a_feature_gets_its_module_and_a_failed_modprobe_is_named() {
    let Some(runs) = three_runs("modprobe") else { return };
    assert!(runs[0].starts_with("1 exit 1"), "{}", runs[0]);
    assert!(
        runs[0].contains("status: failed: prepare: the kernel has no overlay filesystem and modprobe overlay failed"),
        "{}",
        runs[0]
    );
    assert!(!runs[0].contains("call: kubeadm"), "{}", runs[0]);
    // Next boot, with a modprobe that works: both modules loaded, and on to the end.
    assert!(runs[1].starts_with("2 exit 0"), "{}", runs[1]);
    for call in ["call: modprobe overlay", "call: modprobe br_netfilter", "call: kubeadm join --config"] {
        assert!(runs[1].contains(call), "run 2 lacks {call:?}:\n{}", runs[1]);
    }
    assert!(runs[1].contains("status: done"), "{}", runs[1]);
}

#[test]
fn a_failed_join_is_reported_and_resumed_and_a_finished_node_does_nothing() {
    let Some(runs) = three_runs("join") else { return };

    // 1: everything up to the join ran; the join failed within the bounded time.
    assert!(runs[0].starts_with("1 exit 1"), "{}", runs[0]);
    assert!(runs[0].contains("status: failed: kubeadm join did not succeed within 1s"), "{}", runs[0]);
    for call in [
        "call: swapoff -a",
        // Only kubebake's own keys, one by one (the stub reads every value as unset).
        "call: sysctl -qw net.bridge.bridge-nf-call-iptables=1",
        "call: apt-mark hold containerd kubelet kubeadm kubectl",
        "call: ufw allow 10250/tcp",
        "call: kubeadm join phase preflight --config /etc/kubebake/kubeadm-config.yaml",
    ] {
        assert!(runs[0].contains(call), "run 1 lacks {call:?}:\n{}", runs[0]);
    }
    // This kernel has overlay and bridge netfilter: nothing to load.
    assert!(!runs[0].contains("call: modprobe"), "{}", runs[0]);
    // A kubelet the package started is stopped before preflight checks its port.
    let stop = runs[0].find("call: systemctl stop kubelet").expect("kubelet stopped");
    assert!(stop < runs[0].find("call: kubeadm join phase preflight").unwrap(), "{}", runs[0]);
    let v = default_version();
    let v = v.trim_start_matches('v');
    let install = format!(
        "call: apt-get install -y -q -o Dpkg::Options::=--force-confold containerd kubelet={v}-* kubeadm={v}-* kubectl={v}-*"
    );
    assert!(runs[0].contains(&install), "{}", runs[0]);

    // 2: resumes at the failed step only.
    assert!(runs[1].starts_with("2 exit 0"), "{}", runs[1]);
    assert!(runs[1].contains("status: done"), "{}", runs[1]);
    assert!(runs[1].contains("log: kubebake: packages: finished on an earlier boot"), "{}", runs[1]);
    assert!(!runs[1].contains("call: apt-get") && !runs[1].contains("call: swapoff"), "{}", runs[1]);
    assert!(runs[1].contains("call: kubeadm join --config /etc/kubebake/kubeadm-config.yaml"), "{}", runs[1]);
    assert!(!runs[1].contains("join phase preflight"), "preflight ran twice:\n{}", runs[1]);

    // 3: a finished node does nothing at all.
    assert!(runs[2].starts_with("3 exit 0"), "{}", runs[2]);
    assert!(!runs[2].contains("call: "), "{}", runs[2]);
    assert!(runs[2].contains("log: kubebake: this node was set up before; nothing to do"), "{}", runs[2]);
}

#[test]
fn a_machine_without_its_address_yet_waits_for_it_and_names_it() {
    let Some(runs) = three_runs("address") else { return };
    // 1: the address never came within the join timeout: nothing of kubeadm's ran.
    assert!(runs[0].starts_with("1 exit 1"), "{}", runs[0]);
    let failed = format!("status: failed: this machine did not get its address {WORKER_ADDRESS} within 1s");
    assert!(runs[0].contains(&failed), "{}", runs[0]);
    assert!(!runs[0].contains("call: kubeadm"), "{}", runs[0]);
    // 2: the address is there: on to the join and the end.
    assert!(runs[1].starts_with("2 exit 0"), "{}", runs[1]);
    assert!(runs[1].contains("log: kubebake: address: done"), "{}", runs[1]);
    assert!(runs[1].contains("call: kubeadm join --config"), "{}", runs[1]);
    assert!(runs[1].contains("status: done"), "{}", runs[1]);
}
