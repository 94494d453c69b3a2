//! The command line itself: help text, exit codes, errors for people.

mod common;

use common::*;

#[test]
fn help_lists_the_subcommands_and_flags() {
    let b = Bake::new("");
    let help = b.run(&["--help"]);
    help.assert_ok();
    assert!(help.stdout().contains("bake") && help.stdout().contains("validate"));
    let bake = b.run(&["bake", "--help"]);
    bake.assert_ok();
    for flag in ["--out", "--state", "--show-token"] {
        assert!(bake.stdout().contains(flag), "{flag} missing from bake --help");
    }
}

#[test]
fn a_missing_spec_is_one_line_naming_the_file() {
    let b = Bake::new("");
    let run = b.run(&["bake", "nope.yaml", "-o", "out"]);
    assert_eq!(run.output.status.code(), Some(2));
    assert_eq!(run.stderr(), "error: reading spec nope.yaml: No such file or directory (os error 2)\n");
    assert!(!b.out().exists());
}

#[test]
fn the_examples_bake() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    for entry in std::fs::read_dir(examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let b = Bake::new(&std::fs::read_to_string(&path).unwrap());
            let run = b.bake(&[]);
            run.assert_ok();
            assert!(run.stderr().is_empty(), "{}: {}", path.display(), run.stderr());
        }
    }
}

#[test]
fn every_command_has_examples_in_its_help() {
    let b = Bake::new("");
    for cmd in [
        &["init"][..],
        &["bake"],
        &["images"],
        &["bundle"],
        &["image"],
        &["inspect"],
        &["check"],
        &["renew"],
        &["validate"],
        &["token", "create"],
        &["token", "rotate"],
        &["token", "list"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let run = b.run(&args);
        run.assert_ok();
        assert!(run.stdout().contains("Example"), "{cmd:?} --help has no example:\n{}", run.stdout());
        assert!(run.stdout().contains("kubebake "), "{cmd:?}");
    }
}

#[test]
fn quiet_bakes_say_nothing_and_json_reports_parse() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    let run = b.run(&["--quiet", "bake", "cluster.yaml", "-o", "out"]);
    run.assert_ok();
    assert_eq!((run.stdout().as_str(), run.stderr().as_str()), ("", ""));
    let run = b.run(&["bake", "cluster.yaml", "-o", "out", "--json"]);
    run.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(report["nodes"].as_array().unwrap().len(), 4);
    assert_eq!(report["nodes"][0]["role"], "control-plane");
    assert!(report["join"]["caCertHash"].as_str().unwrap().starts_with("sha256:"));
    let token = std::fs::read_to_string(b.state().join("token")).unwrap();
    assert!(!run.stdout().contains(token.trim()), "the token secret in --json without --show-token");
    assert_eq!(report["stateChanges"], serde_json::json!([]));
    // Not a terminal: no progress bar, even for a large bake.
    let big = Bake::new(&ha_spec(60, "ECDSA-P256"));
    let run = big.bake(&[]);
    run.assert_ok();
    assert!(!run.stderr().contains("nodes"), "{}", run.stderr());
}

/// In a real terminal (tmux), a large bake draws its progress on stderr and the report
/// follows.
#[test]
fn a_large_bake_shows_its_progress_in_a_terminal() {
    let b = Bake::new(&ha_spec(120, "ECDSA-P256"));
    let bin = env!("CARGO_BIN_EXE_kubebake");
    let Some(screen) = in_terminal(b.dir.path(), &format!("{bin} bake cluster.yaml -o out")) else { return };
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(screen.contains("123/123 nodes rendered and written"), "{screen}");
    assert!(screen.contains("join   kubeadm join"), "{screen}");
}

#[test]
fn completions_are_valid_shell_and_know_every_command() {
    let b = Bake::new("");
    let run = b.run(&["completions", "bash"]);
    run.assert_ok();
    let script = b.path("kubebake.bash");
    std::fs::write(&script, run.stdout()).unwrap();
    run_ok(std::process::Command::new("bash").arg("-n").arg(&script));
    for cmd in ["bake", "inspect", "check", "renew", "rotate", "completions"] {
        assert!(run.stdout().contains(cmd), "{cmd} not completed");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let run = b.run(&["completions", shell]);
        run.assert_ok();
        assert!(run.stdout().contains("bake"), "{shell}");
    }
    let run = b.run(&["completions", "tcsh"]);
    assert!(!run.ok() && run.stderr().contains("invalid value 'tcsh'"), "{}", run.stderr());
}

#[test]
fn man_pages_render_without_warnings_for_every_command() {
    let Some(groff) = tool("groff", "groff-base") else { return };
    let b = Bake::new("");
    b.run(&["man", "-o", "man"]).assert_ok();
    let mut pages: Vec<String> = std::fs::read_dir(b.path("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for page in ["kubebake.1", "kubebake-bake.1", "kubebake-token-rotate.1", "kubebake-renew.1", "kubebake-man.1"] {
        assert!(pages.iter().any(|p| p == page), "{page} missing: {pages:?}");
    }
    for page in &pages {
        let out = std::process::Command::new(&groff)
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(b.path("man").join(page))
            .output()
            .unwrap();
        assert!(out.status.success() && out.stderr.is_empty(), "{page}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let bake = std::fs::read_to_string(b.path("man/kubebake-bake.1")).unwrap();
    assert!(bake.contains("\\-\\-show\\-token") && bake.contains("Examples"), "{bake}");
}

#[test]
fn a_closed_pipe_ends_the_process_quietly() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    let bin = env!("CARGO_BIN_EXE_kubebake");
    let out = std::process::Command::new("bash")
        .args(["-c", &format!("{bin} completions bash | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}")])
        .current_dir(b.dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(code == "0" || code == "141", "exit {code}");
}

#[test]
fn validate_json_reports_problems_with_positions() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256").replace("10.0.0.12", "nowhere"));
    let run = b.run(&["validate", "cluster.yaml", "--json"]);
    assert!(!run.ok());
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["problems"][0]["path"], "spec.nodes[1].address");
    assert!(report["problems"][0]["line"].as_u64().unwrap() > 1);
    b.set_spec(&ha_spec(1, "ECDSA-P256"));
    let run = b.run(&["validate", "cluster.yaml", "--json"]);
    run.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!((report["valid"].clone(), report["controlPlanes"].clone()), (true.into(), 3.into()));
}

// ELF is Linux's format; a macOS build (Mach-O) is position-independent by its linker's default.
#[cfg(target_os = "linux")]
#[test]
fn the_binary_is_position_independent() {
    // A tool that holds CA keys keeps its own image randomised too (ASLR): an ELF of type
    // ET_DYN (3) is loaded at a random base, a position-dependent ET_EXEC (2) at a fixed one.
    // Dynamically linked or static-pie (.cargo/config.toml), it must stay ET_DYN.
    let elf = std::fs::read(env!("CARGO_BIN_EXE_kubebake")).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    let e_type = u16::from_le_bytes([elf[16], elf[17]]);
    assert_eq!(e_type, 3, "the kubebake binary is not position-independent (ELF type {e_type})");
}
