//! Runs that end early leave no key behind. SIGINT, SIGTERM and SIGHUP make kubebake remove
//! what it was staging (directories and files full of private keys) and then die of the
//! signal; after SIGKILL, which cannot be caught, the next run that writes the same OUT or
//! state removes what the killed one left. Signals are sent at points found by polling
//! what the run writes (or, for `check`, which writes nothing, how much it has read),
//! never after a delay; waits have a deadline only so that a hang fails the test.

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Only a run that hangs gets near it.
const DEADLINE: Duration = Duration::from_secs(600);

const WORKERS: usize = 400;
const CONTROL_PLANES: usize = 24;

/// A cluster whose state (about 550 files, each fsync'd) and output (about 5,000 files)
/// take long enough to write that each staging directory is seen while it exists.
fn large_spec(workers: usize) -> String {
    let mut s = "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata:
  name: ha
spec:
  controlPlaneEndpoint: api.example.internal:6443
  pki:
    encryptionAlgorithm: ECDSA-P256
  nodes:
"
    .to_string();
    for i in 1..=CONTROL_PLANES {
        s.push_str(&format!("    - {{name: cp-{i}, role: control-plane, address: 10.0.0.{}}}\n", 10 + i));
    }
    for i in 1..=workers {
        s.push_str(&format!(
            "    - {{name: worker-{i}, role: worker, address: 10.0.{}.{}}}\n",
            1 + i / 200,
            i % 200 + 20
        ));
    }
    s
}

fn large() -> Bake {
    let b = Bake::new(&large_spec(WORKERS));
    fs::create_dir(tmpdir(&b)).unwrap();
    b
}

/// The run's TMPDIR: the test's own, so that anything left in it is seen.
fn tmpdir(b: &Bake) -> std::path::PathBuf {
    b.path("tmp")
}

fn start(b: &Bake, args: &[&str]) -> Child {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubebake"));
    command.args(args).current_dir(b.dir.path()).env("TMPDIR", tmpdir(b)).stdout(Stdio::null()).stderr(Stdio::null());
    // kubebake leaves a signal it was started with ignored alone (nohup), and tests run in
    // the background of a shell start with SIGINT ignored: the child gets the defaults.
    // SAFETY: only signal(2), async-signal-safe, between fork and exec.
    unsafe {
        command.pre_exec(|| {
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(signal, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    command.spawn().unwrap()
}

/// Polls until `ready` holds while `child` runs; panics if the child ends first, naming
/// the point it never reached.
#[track_caller]
fn wait_for(child: &mut Child, point: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("kubebake ended ({status}) before {point}: the spec is too small for this machine");
        }
        assert!(started.elapsed() < DEADLINE, "kubebake did not reach {point}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn send(child: &Child, signal: i32) {
    // SAFETY: kill(2) on the pid of a child not yet waited for: it cannot be another process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}

/// Waits for `child` to end and returns the signal that ended it (None: it exited).
fn ending(mut child: Child) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.signal();
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("kubebake did not end after the signal");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Entries of `dir` named with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// How many entries the first directory of `dir` named with `prefix` has (0 if none).
fn staged_entries(dir: &Path, prefix: &str) -> usize {
    named(dir, prefix).first().and_then(|n| fs::read_dir(dir.join(n)).ok()).map_or(0, |d| d.count())
}

/// Every regular file under `root`, with its path.
fn files_under(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out
}

/// What a run left that it should not have: beside OUT and the state, anything but the
/// spec, OUT, the state, the state's lock file and TMPDIR; anything at all in TMPDIR; and
/// any file holding a private key other than OUT's and the state's own (counted by the
/// entry it is under).
fn leftovers(b: &Bake) -> Vec<String> {
    let kept = ["cluster.yaml", "out", "cluster.state", ".cluster.state.lock", "tmp"];
    let mut found: Vec<String> = named(b.dir.path(), "").into_iter().filter(|n| !kept.contains(&n.as_str())).collect();
    found.extend(named(&tmpdir(b), "").into_iter().map(|n| format!("$TMPDIR/{n}")));
    let mut keys = std::collections::BTreeMap::<String, usize>::new();
    for file in files_under(b.dir.path()) {
        let rel = file.strip_prefix(b.dir.path()).unwrap();
        if rel.starts_with("out") || rel.starts_with("cluster.state") {
            continue;
        }
        if holds_a_key(&file) {
            *keys.entry(rel.iter().next().unwrap().to_string_lossy().into_owned()).or_default() += 1;
        }
    }
    found.extend(keys.into_iter().map(|(top, n)| format!("{n} files with a private key under {top}")));
    found
}

/// Whether the state loads, whichever of the old and the new it is.
#[track_caller]
fn state_is_whole(b: &Bake) {
    if b.state().exists() {
        b.run(&["inspect", "cluster.state"]).assert_ok();
    }
}

/// Whether `path`, a file or a tree, holds a private key.
fn holds_a_key(path: &Path) -> bool {
    let files = if path.is_dir() { files_under(path) } else { vec![path.to_path_buf()] };
    files.iter().any(|f| fs::read(f).unwrap().windows(11).any(|w| w == b"PRIVATE KEY"))
}

const STATE_STAGING: &str = ".cluster.state.tmp-";
const OUT_STAGING: &str = ".out.tmp-";

#[test]
fn a_signal_during_a_first_bake_removes_its_staging_and_ends_the_run_by_that_signal() {
    let nodes = CONTROL_PLANES + WORKERS;
    // While the state is being saved (the output is being written too), and once a third
    // of the nodes are written.
    type Reached<'a> = &'a dyn Fn(&Bake) -> bool;
    let points: [(&str, Reached); 2] = [
        ("the state's staging", &|b| !named(b.dir.path(), STATE_STAGING).is_empty()),
        ("a third of the nodes", &|b| staged_entries(b.dir.path(), OUT_STAGING) >= nodes / 3),
    ];
    for (point, ready) in points {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let b = large();
            let mut bake = start(&b, &["bake", "cluster.yaml", "-o", "out"]);
            wait_for(&mut bake, point, || ready(&b));
            send(&bake, signal);
            assert_eq!(ending(bake), Some(signal), "at {point}");
            assert_eq!(leftovers(&b), Vec::<String>::new(), "signal {signal} at {point}");
            assert!(!b.out().exists(), "an interrupted first bake put an output in place");
            state_is_whole(&b);
        }
    }
}

#[test]
fn a_signal_during_a_rebake_leaves_the_previous_output_and_nothing_else() {
    let b = large();
    b.bake(&[]).assert_ok();
    let before = snapshot(&b.out());
    // New SANs: the state is reissued and saved, and every control plane's files change
    // while the workers' are linked from the previous tree.
    let spec = large_spec(WORKERS).replacen("  pki:\n", "  pki:\n    apiServerCertSANs: [10.0.0.10]\n", 1);
    b.set_spec(&spec);
    let nodes = CONTROL_PLANES + WORKERS;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let mut bake = start(&b, &["bake", "cluster.yaml", "-o", "out"]);
        wait_for(&mut bake, "a third of the nodes", || staged_entries(b.dir.path(), OUT_STAGING) >= nodes / 3);
        send(&bake, signal);
        assert_eq!(ending(bake), Some(signal));
        assert_eq!(leftovers(&b), Vec::<String>::new(), "signal {signal}");
        assert!(snapshot(&b.out()) == before, "an interrupted re-bake changed the output");
        state_is_whole(&b);
    }
}

#[test]
fn a_signal_during_renew_leaves_the_state_whole_and_no_staging() {
    let b = Bake::new(&large_spec(1));
    fs::create_dir(tmpdir(&b)).unwrap();
    b.bake(&[]).assert_ok();
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let mut renew = start(&b, &["renew", "cluster.state", "all"]);
        wait_for(&mut renew, "the state's staging", || !named(b.dir.path(), STATE_STAGING).is_empty());
        send(&renew, signal);
        assert_eq!(ending(renew), Some(signal));
        assert_eq!(leftovers(&b), Vec::<String>::new(), "signal {signal}");
        state_is_whole(&b);
    }
}

#[test]
fn a_signal_during_check_leaves_nothing_anywhere() {
    let b = large();
    b.bake(&[]).assert_ok();
    let size = |dir: &Path| -> u64 { files_under(dir).iter().map(|f| fs::metadata(f).unwrap().len()).sum() };
    let (out_bytes, state_bytes) = (size(&b.out()), size(&b.state()));
    // How much the process has read: `check` writes nothing that could be polled for.
    let read = |pid: u32| -> u64 {
        let io = fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
        io.lines().find_map(|l| l.strip_prefix("rchar: ")).map_or(0, |n| n.parse().unwrap())
    };
    // Reading OUT; done with it (reading the state); and the state read a second time, by
    // the bake that is rendered to compare (which the bake once read from a copy on disk).
    let points = [
        ("half of OUT read", out_bytes / 2),
        ("all of OUT read", out_bytes),
        ("the state read twice", out_bytes + 2 * state_bytes),
    ];
    for (point, bytes) in points {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGKILL] {
            let mut check = start(&b, &["check", "cluster.yaml", "out"]);
            let pid = check.id();
            wait_for(&mut check, point, || read(pid) >= bytes);
            send(&check, signal);
            assert_eq!(ending(check), Some(signal), "at {point}");
            assert_eq!(leftovers(&b), Vec::<String>::new(), "signal {signal} at {point}");
        }
    }
    b.run(&["check", "cluster.yaml", "out"]).assert_ok();
}

#[test]
fn what_a_killed_bake_left_is_removed_by_the_next() {
    let b = large();
    let mut bake = start(&b, &["bake", "cluster.yaml", "-o", "out"]);
    // The output's staging, with the control planes (and their keys) in it; the state's is
    // there too or already committed, depending on this machine's speed (a killed renew
    // leaves one in the test below).
    wait_for(&mut bake, "the output's staging", || staged_entries(b.dir.path(), OUT_STAGING) > CONTROL_PLANES);
    send(&bake, libc::SIGKILL);
    assert_eq!(ending(bake), Some(libc::SIGKILL));
    let stale = leftovers(&b);
    let out_staging = named(b.dir.path(), OUT_STAGING);
    assert_eq!(out_staging.len(), 1, "{stale:?}");
    assert!(holds_a_key(&b.path(&out_staging[0])), "the killed bake's staging held no key: {stale:?}");
    // A stale lock file is not a problem either (its lock died with the process).
    b.bake(&[]).assert_ok();
    assert_eq!(leftovers(&b), Vec::<String>::new(), "left by the killed bake: {stale:?}");
}

#[test]
fn a_bake_with_nothing_to_write_still_removes_what_killed_runs_left() {
    let b = large();
    b.bake(&[]).assert_ok();
    let before = snapshot(&b.out());
    let out_inode = std::os::unix::fs::MetadataExt::ino(&fs::metadata(b.out()).unwrap());

    // A bake of a longer join timeout killed while staging the output (the state does not
    // change: it is in the nodes' files only)...
    b.set_spec(&large_spec(WORKERS).replace("spec:\n", "spec:\n  join: {timeout: 20m}\n"));
    let mut bake = start(&b, &["bake", "cluster.yaml", "-o", "out"]);
    wait_for(&mut bake, "a third of the nodes", || staged_entries(b.dir.path(), OUT_STAGING) >= WORKERS / 3);
    send(&bake, libc::SIGKILL);
    assert_eq!(ending(bake), Some(libc::SIGKILL));
    // ...and a renew killed while staging the state.
    let mut renew = start(&b, &["renew", "cluster.state", "all"]);
    wait_for(&mut renew, "the state's staging", || !named(b.dir.path(), STATE_STAGING).is_empty());
    send(&renew, libc::SIGKILL);
    assert_eq!(ending(renew), Some(libc::SIGKILL));
    let stale = leftovers(&b);
    assert_eq!(named(b.dir.path(), STATE_STAGING).len(), 1, "{stale:?}");
    assert_eq!(named(b.dir.path(), OUT_STAGING).len(), 1, "{stale:?}");

    // The spec as it was: state and output are what a bake would write, so it writes nothing.
    b.set_spec(&large_spec(WORKERS));
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(run.stdout().contains("reused as it was"), "{}", run.stdout());
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&fs::metadata(b.out()).unwrap()), out_inode);
    assert!(snapshot(&b.out()) == before);
    assert_eq!(leftovers(&b), Vec::<String>::new(), "left by the killed runs: {stale:?}");
}
