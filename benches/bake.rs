//! `cargo bench --bench bake [FILTER]`: every figure the README quotes, from one command.
//!
//! 1. The built binary as a whole process (start-up, spec, keys, rendering, writing, exit),
//!    cold (fresh state: every key generated) and warm (state reused), with its peak memory;
//!    kubeadm's certificates and kubeconfigs beside it when the e2e kit's kubeadm is present;
//!    RSA against its floor (generating the same keys on every core, in-process).
//! 2. The library alone (`bake()` in-process), the same scenarios.
//! 3. User-data sizes per node kind and format, for the examples.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kubebake::cmd::bake::{Options, bake};

const BINARY: &str = env!("CARGO_BIN_EXE_kubebake");

fn spec(control_planes: usize, workers: usize, algorithm: &str) -> String {
    let mut s = format!(
        "apiVersion: kubebake.io/v1alpha1\nkind: Cluster\nmetadata: {{name: bench}}\nspec:\n  \
         controlPlaneEndpoint: api.example.internal:6443\n  networking: {{podSubnet: 172.16.0.0/12}}\n  \
         pki: {{encryptionAlgorithm: {algorithm}}}\n  nodes:\n"
    );
    for i in 1..=control_planes {
        writeln!(s, "    - {{name: cp-{i}, role: control-plane, address: 10.0.0.{i}}}").unwrap();
    }
    for i in 1..=workers {
        writeln!(s, "    - {{name: worker-{i}, role: worker, address: 10.1.{}.{}}}", i / 250, i % 250 + 1).unwrap();
    }
    s
}

/// Where the bakes write: `KUBEBAKE_BENCH_DIR`, else tmpfs when the machine has one, so
/// the numbers measure kubebake rather than a virtual disk's metadata latency.
fn scratch_root() -> PathBuf {
    match std::env::var_os("KUBEBAKE_BENCH_DIR") {
        Some(dir) => dir.into(),
        None if Path::new("/dev/shm").is_dir() => "/dev/shm".into(),
        None => std::env::temp_dir(),
    }
}

/// One timed run of a child process: wall time from spawn to reaped, and its peak RSS.
struct Run {
    wall: Duration,
    max_rss_kib: i64,
}

fn run_process(cmd: &mut Command) -> Run {
    cmd.stdout(std::process::Stdio::null());
    let start = Instant::now();
    // Reaped below with wait4, which also gives the child's resource usage.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().expect("spawning");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; std's Child is not waited on again afterwards.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert!(pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{cmd:?} failed");
    Run { wall, max_rss_kib: usage.ru_maxrss }
}

struct Stats {
    runs: usize,
    min: Duration,
    median: Duration,
    max: Duration,
    max_rss_kib: i64,
}

fn stats(runs: &[Run]) -> Stats {
    let mut t: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
    t.sort();
    Stats {
        runs: t.len(),
        min: t[0],
        median: t[t.len() / 2],
        max: t[t.len() - 1],
        max_rss_kib: runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// `kubebake bake` as a whole process, `runs` times, each cold or each warm.
fn time_binary(dir: &Path, cps: usize, workers: usize, algorithm: &str, runs: usize, warm: bool) -> Stats {
    let spec_path = dir.join(format!("cluster-{cps}-{workers}-{algorithm}.yaml"));
    std::fs::write(&spec_path, spec(cps, workers, algorithm)).unwrap();
    let state = dir.join("state");
    let out = dir.join("out");
    let bake = || {
        let mut cmd = Command::new(BINARY);
        cmd.args(["--quiet", "bake"]).arg(&spec_path).arg("-o").arg(&out).arg("--state").arg(&state);
        run_process(&mut cmd)
    };
    let mut timed = Vec::new();
    if warm {
        bake();
    }
    for _ in 0..runs {
        if !warm {
            let _ = std::fs::remove_dir_all(&state);
            let _ = std::fs::remove_dir_all(&out);
        }
        timed.push(bake());
    }
    stats(&timed)
}

/// The kubeadm of the default minor's e2e kit, when present (`KUBEBAKE_E2E_DIR_1_<minor>`,
/// else /opt/k8s-e2e-1.<minor>, as the end-to-end tier finds it).
fn kubeadm() -> Option<PathBuf> {
    let minor = kubebake::model::versions::DEFAULT_VERSION.minor;
    let kit = std::env::var_os(format!("KUBEBAKE_E2E_DIR_1_{minor}"))
        .map(PathBuf::from)
        .unwrap_or_else(|| format!("/opt/k8s-e2e-1.{minor}").into());
    Some(kit.join("bin/kubeadm")).filter(|p| p.is_file())
}

/// kubeadm making what `kubebake bake` makes for one control plane (its certificates and
/// kubeconfigs, ECDSA-P256), as two processes (`init phase certs all`, `init phase
/// kubeconfig all`): the wall time of both, per run; beside a cold one-node `kubebake
/// bake`. The two take turns in blocks of `block` runs, `rounds` times, so that a drift of
/// the machine's speed (a third, over minutes, on the development VM) falls on both alike;
/// the first run of each block is not counted, as it pays for the other tool's run (its
/// caches and freed memory; a kubebake run right after kubeadm's is 0.5 ms slower).
/// Returns kubeadm's figures, then kubebake's.
fn time_kubeadm(kubeadm: &Path, dir: &Path, rounds: usize, block: usize) -> (Stats, Stats) {
    let spec_path = dir.join("cluster-beside-kubeadm.yaml");
    std::fs::write(&spec_path, spec(1, 0, "ECDSA-P256")).unwrap();
    let (mut theirs, mut ours) = (Vec::new(), Vec::new());
    let mut run = 0;
    let mut next = || {
        run += 1;
        run
    };
    for _ in 0..rounds {
        for i in 0..=block {
            let n = next();
            let (state, out) = (dir.join(format!("state-{n}")), dir.join(format!("out-{n}")));
            let r = run_process(
                Command::new(BINARY)
                    .args(["--quiet", "bake"])
                    .arg(&spec_path)
                    .arg("-o")
                    .arg(&out)
                    .arg("--state")
                    .arg(&state),
            );
            if i > 0 {
                ours.push(r);
            }
        }
        for i in 0..=block {
            let d = dir.join(format!("kubeadm-{}", next()));
            std::fs::create_dir_all(&d).unwrap();
            let config = d.join("kubeadm.yaml");
            std::fs::write(
                &config,
                format!(
                    "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint: {{advertiseAddress: 10.0.0.1}}\n\
                     nodeRegistration: {{name: cp-1}}\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
                     kubernetesVersion: {}\ncontrolPlaneEndpoint: api.example.internal:6443\n\
                     certificatesDir: {}\nencryptionAlgorithm: ECDSA-P256\n",
                    kubebake::model::versions::DEFAULT_VERSION,
                    d.join("pki").display()
                ),
            )
            .unwrap();
            let certs =
                run_process(Command::new(kubeadm).args(["init", "phase", "certs", "all", "--config"]).arg(&config));
            let kubeconfigs = run_process(
                Command::new(kubeadm)
                    .args(["init", "phase", "kubeconfig", "all", "--config"])
                    .arg(&config)
                    .arg("--kubeconfig-dir")
                    .arg(d.join("kubeconfig")),
            );
            if i > 0 {
                theirs.push(Run {
                    wall: certs.wall + kubeconfigs.wall,
                    max_rss_kib: certs.max_rss_kib.max(kubeconfigs.max_rss_kib),
                });
            }
        }
    }
    (stats(&theirs), stats(&ours))
}

/// The floor of an RSA bake: generating its keys (as many as the state holds) with the
/// same parallel scheme, in-process, nothing else.
fn rsa_floor(keys: usize, runs: usize) -> Duration {
    let algorithms = vec![(); keys];
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            kubebake::parallel_map(&algorithms, |_| {
                kubebake::pki::PrivateKey::generate(kubebake::model::KeyAlgorithm::Rsa2048).expect("a key")
            });
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn count_keys(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            n += count_keys(&path);
        } else if path.extension().is_some_and(|e| e == "key") {
            n += 1;
        }
    }
    n
}

fn time_library(dir: &Path, cps: usize, workers: usize, algorithm: &str, runs: usize, warm: bool) -> Stats {
    let spec_path = dir.join("lib-cluster.yaml");
    std::fs::write(&spec_path, spec(cps, workers, algorithm)).unwrap();
    let mut timed = Vec::new();
    for run in 0..=runs {
        let state = dir.join(if warm { "lib-state".to_string() } else { format!("lib-state-{run}") });
        let opts = Options {
            spec: spec_path.clone(),
            out: dir.join("lib-out"),
            state: Some(state),
            templates: None,
            platform: None,
            allow_clear_secrets: false,
            bundle: None,
            media: None,
            now: time::OffsetDateTime::now_utc(),
            progress: false,
        };
        let start = Instant::now();
        bake(&opts).expect("bake");
        // The first warm run creates the state; only the reuses are timed.
        if !(warm && run == 0) {
            timed.push(Run { wall: start.elapsed(), max_rss_kib: 0 });
        }
    }
    timed.truncate(runs);
    stats(&timed)
}

/// The examples' user-data sizes, per node, in both formats (`os: flatcar` for Ignition),
/// from `bake --json`.
fn sizes(dir: &Path) {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    println!("\n| example | node | format | files | user-data | delivered |");
    println!("|---|---|---|---:|---:|---:|");
    // (example, os, RSA-2048, sealed)
    let variants = [
        ("quickstart", None, false, false),
        ("quickstart", Some("flatcar"), false, false),
        ("ha", None, false, false),
        ("ha", Some("flatcar"), false, false),
        ("ha", None, true, false),
        ("ha", Some("flatcar"), true, false),
        ("quickstart", Some("debian-12"), false, true),
        ("quickstart", Some("flatcar"), false, true),
        ("ha", Some("debian-12"), false, true),
        ("ha", Some("flatcar"), false, true),
    ];
    for (i, (example, os, rsa, sealed)) in variants.into_iter().enumerate() {
        let text = std::fs::read_to_string(format!("{examples}/{example}.yaml")).unwrap();
        {
            let mut spec_text = match os {
                Some(os) => text.replacen("\nspec:\n", &format!("\nspec:\n  os: {os}\n"), 1),
                None => text.clone(),
            };
            if rsa {
                spec_text = spec_text.replacen("  pki:\n", "  pki:\n    encryptionAlgorithm: RSA-2048\n", 1);
            }
            if sealed {
                // Any recipient: what it opens with does not change the sizes.
                spec_text.push_str("  secrets:\n    encryptTo: ");
                spec_text.push_str("age1pce3h48yq6wxkgfcdhyefu4my9lycys3jyun7rexs0e9h05j0alqzx27te\n");
            }
            let spec_path = dir.join(format!("sizes-{i}.yaml"));
            std::fs::write(&spec_path, spec_text).unwrap();
            let out = Command::new(BINARY)
                .args(["bake", "--json"])
                .arg(&spec_path)
                .arg("-o")
                .arg(dir.join(format!("sizes-out-{i}")))
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let mut label = example.to_string();
            if rsa {
                label.push_str(", `encryptionAlgorithm: RSA-2048`");
            }
            if let Some(os) = os {
                label.push_str(&format!(", `os: {os}`"));
            }
            if sealed {
                label.push_str(", `secrets.encryptTo`");
            }
            for node in report["nodes"].as_array().unwrap() {
                println!(
                    "| {label} | {} | {} | {} | {} | {} |",
                    node["name"].as_str().unwrap(),
                    node["format"].as_str().unwrap(),
                    node["files"],
                    node["userData"],
                    node["delivered"]
                );
            }
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects sections and scenarios by substring.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_ref().is_none_or(|f| name.contains(f.as_str()));
    let dir = tempfile::tempdir_in(scratch_root()).unwrap();
    println!(
        "writing under {} (set KUBEBAKE_BENCH_DIR to change); {} CPUs",
        scratch_root().display(),
        kubebake::cpus()
    );

    let scenarios: &[(&str, usize, usize, &str, usize, bool)] = &[
        ("1 control plane, ECDSA-P256, cold", 1, 0, "ECDSA-P256", 100, false),
        ("1 control plane, RSA-2048, cold", 1, 0, "RSA-2048", 7, false),
        ("3 control planes + 100 workers, ECDSA-P256, cold", 3, 100, "ECDSA-P256", 10, false),
        ("3 control planes + 100 workers, ECDSA-P256, warm", 3, 100, "ECDSA-P256", 10, true),
        ("3 control planes + 1000 workers, ECDSA-P256, cold", 3, 1000, "ECDSA-P256", 5, false),
        ("3 control planes + 1000 workers, ECDSA-P256, warm", 3, 1000, "ECDSA-P256", 5, true),
        ("3 control planes + 100 workers, RSA-2048, cold", 3, 100, "RSA-2048", 3, false),
    ];

    if scenarios.iter().any(|sc| wanted(sc.0)) || wanted("process") {
        println!("\nwhole process ({BINARY})");
        println!("| scenario | runs | min | median | max | peak RSS |");
        println!("|---|---:|---:|---:|---:|---:|");
    }
    let mut ecdsa_one = false;
    for (name, cps, workers, alg, runs, warm) in scenarios {
        if !wanted(name) && !wanted("process") {
            continue;
        }
        let d = tempfile::tempdir_in(dir.path()).unwrap();
        let s = time_binary(d.path(), *cps, *workers, alg, *runs, *warm);
        println!(
            "| {name} | {} | {} | {} | {} | {:.1} MiB |",
            s.runs,
            ms(s.min),
            ms(s.median),
            ms(s.max),
            s.max_rss_kib as f64 / 1024.0
        );
        if *cps == 1 && *alg == "ECDSA-P256" {
            ecdsa_one = true;
        }
        if *cps == 1 && *alg == "RSA-2048" {
            let keys = count_keys(&d.path().join("state"));
            let floor = rsa_floor(keys, *runs);
            println!(
                "|   floor: {keys} RSA-2048 keys on {} cores, in-process | {runs} | | {} | | ratio {:.2} |",
                kubebake::cpus(),
                ms(floor),
                s.median.as_secs_f64() / floor.as_secs_f64()
            );
        }
    }
    if ecdsa_one {
        match kubeadm() {
            Some(kubeadm) => {
                let (s, ours) = time_kubeadm(&kubeadm, dir.path(), 5, 10);
                println!(
                    "|   kubeadm v1.{} `init phase certs all` + `kubeconfig all`, ECDSA-P256 | {} | {} | {} | {} | {:.1} MiB |",
                    kubebake::model::versions::DEFAULT_VERSION.minor,
                    s.runs,
                    ms(s.min),
                    ms(s.median),
                    ms(s.max),
                    s.max_rss_kib as f64 / 1024.0
                );
                println!(
                    "|   kubebake, 1 control plane, cold, in turns with kubeadm | {} | {} | {} | {} | {:.1} MiB |",
                    ours.runs,
                    ms(ours.min),
                    ms(ours.median),
                    ms(ours.max),
                    ours.max_rss_kib as f64 / 1024.0
                );
                println!(
                    "|   kubebake is {:.1}x faster than kubeadm (medians of the runs in turns) | | | | | |",
                    s.median.as_secs_f64() / ours.median.as_secs_f64()
                );
            }
            None => println!("(kubeadm: no e2e kit at /opt/k8s-e2e or $KUBEBAKE_E2E_DIR; not compared)"),
        }
    }

    if wanted("library") {
        println!("\nlibrary (bake() in-process)");
        println!("| scenario | runs | min | median | max |");
        println!("|---|---:|---:|---:|---:|");
        for (name, cps, workers, alg, runs, warm) in scenarios {
            let d = tempfile::tempdir_in(dir.path()).unwrap();
            let s = time_library(d.path(), *cps, *workers, alg, *runs, *warm);
            println!("| {name} | {} | {} | {} | {} |", s.runs, ms(s.min), ms(s.median), ms(s.max));
        }
    }

    if wanted("sizes") {
        sizes(dir.path());
    }
}
