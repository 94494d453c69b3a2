//! Wall time of whole bakes through the library, cold (fresh state: every key generated)
//! and warm (state reused). Run with `cargo bench --bench bake`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use kubebake::bake::{Options, bake};

fn spec(control_planes: usize, workers: usize, algorithm: &str) -> String {
    let mut s = format!(
        "apiVersion: kubebake.io/v1alpha1\nkind: Cluster\nmetadata: {{name: bench}}\nspec:\n  kubernetesVersion: v1.33.3\n  \
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
fn scratch_root() -> std::path::PathBuf {
    match std::env::var_os("KUBEBAKE_BENCH_DIR") {
        Some(dir) => dir.into(),
        None if std::path::Path::new("/dev/shm").is_dir() => "/dev/shm".into(),
        None => std::env::temp_dir(),
    }
}

fn time_bakes(control_planes: usize, workers: usize, algorithm: &str, runs: usize, warm: bool) -> Vec<Duration> {
    let dir = tempfile::tempdir_in(scratch_root()).unwrap();
    let spec_path = dir.path().join("cluster.yaml");
    std::fs::write(&spec_path, spec(control_planes, workers, algorithm)).unwrap();
    let mut times = Vec::new();
    for run in 0..=runs {
        let state = dir.path().join(if warm { "state".to_string() } else { format!("state-{run}") });
        let opts = Options {
            spec: spec_path.clone(),
            out: dir.path().join("out"),
            state: Some(state),
            templates: None,
            platform: None,
            now: time::OffsetDateTime::now_utc(),
            progress: false,
        };
        let start = Instant::now();
        bake(&opts).expect("bake");
        // The first warm run creates the state; only the reuses are timed.
        if !(warm && run == 0) {
            times.push(start.elapsed());
        }
    }
    times.truncate(runs);
    times.sort();
    times
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects scenarios by substring.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let scenarios: &[(&str, usize, usize, &str, usize, bool)] = &[
        ("1 control plane, full set, ECDSA-P256, cold", 1, 0, "ECDSA-P256", 20, false),
        ("1 control plane, full set, RSA-2048, cold", 1, 0, "RSA-2048", 5, false),
        ("3 control planes + 100 workers, ECDSA-P256, cold", 3, 100, "ECDSA-P256", 10, false),
        ("3 control planes + 100 workers, ECDSA-P256, warm", 3, 100, "ECDSA-P256", 10, true),
        ("3 control planes + 100 workers, RSA-2048, cold", 3, 100, "RSA-2048", 5, false),
        ("3 control planes + 100 workers, RSA-2048, warm", 3, 100, "RSA-2048", 5, true),
    ];
    println!("writing under {} (set KUBEBAKE_BENCH_DIR to change)", scratch_root().display());
    println!("{:<52} {:>5} {:>11} {:>11} {:>11}", "scenario", "runs", "min", "median", "max");
    for (name, cps, workers, alg, runs, warm) in scenarios {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let t = time_bakes(*cps, *workers, alg, *runs, *warm);
        println!("{name:<52} {runs:>5} {:>11} {:>11} {:>11}", ms(t[0]), ms(t[t.len() / 2]), ms(t[t.len() - 1]));
    }
}
