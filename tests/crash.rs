//! A bake killed with SIGKILL leaves its staging directories (which hold private keys)
//! beside OUT and the state; the next bake of the same OUT and state removes them.

mod common;

use std::fs;
use std::process::Command;
use std::time::Duration;

use common::*;

fn staging_dirs(b: &Bake) -> Vec<String> {
    fs::read_dir(b.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".out.tmp-") || n.starts_with(".cluster.state.tmp-"))
        .collect()
}

#[test]
fn stale_staging_directories_of_a_killed_bake_are_removed_by_the_next() {
    let b = Bake::new(&ha_spec(1000, "ECDSA-P256"));
    let binary = env!("CARGO_BIN_EXE_kubebake");
    // Kill bakes at growing delays until one dies while staging.
    let mut stale = Vec::new();
    for delay_ms in [100, 200, 300, 400, 600, 800, 1200, 1600, 2400] {
        let mut child = Command::new(binary)
            .args(["bake", "cluster.yaml", "-o", "out"])
            .current_dir(b.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        stale = staging_dirs(&b);
        if !stale.is_empty() {
            break;
        }
    }
    assert!(!stale.is_empty(), "no kill landed while a bake was staging");
    // A stale lock file is not a problem either (its lock died with the process).
    b.bake(&[]).assert_ok();
    assert_eq!(staging_dirs(&b), Vec::<String>::new(), "stale staging directories survived: {stale:?}");
}
