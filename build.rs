//! A dynamically linked `kubebake` (not the default: see .cargo/config.toml) is linked
//! with packed relative relocations (DT_RELR) where the toolchain and the C library support
//! them. The binary carries some 26,000 relative relocations (vtables, string tables of its
//! dependencies); as RELA entries they are a 600 KB table the dynamic loader reads at every
//! start, a tenth of a small bake. Packed, they are a few kilobytes. Only when building for
//! this machine, and only when a test program linked that way runs here: an older glibc
//! (before 2.36) or linker keeps the default, so the flag can never produce a binary that
//! does not start.
//!
//! A release `kubebake` also has the functions a bake runs laid out side by side
//! (`linker/hot-symbols.txt`, written by `linker/hot-symbols.sh`): spread over the whole
//! text segment they cost a one-node bake some sixty more page faults and 0.25 ms. Only
//! where the linker takes a symbol ordering file (LLD, Rust's default linker on x86-64
//! Linux since 1.90, and mold): a probe program is linked the way the binary will be.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    hot_symbols_first();
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target != host || !target.ends_with("-linux-gnu") {
        return;
    }
    // The static build (.cargo/config.toml) has no relative relocations to pack when it is
    // position-dependent, and a static-pie's are applied by its own start-up code.
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if features.split(',').any(|f| f == "crt-static") {
        return;
    }
    if relr_works() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

fn relr_works() -> bool {
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else { return false };
    let source = out.join("relr-probe.c");
    let program = out.join("relr-probe");
    // A pointer in data needs a relative relocation: where it is not applied, the
    // program reads garbage and fails.
    let probe =
        "static const char *const volatile word = \"relr\";\nint main(void) { return word[0] == 'r' ? 0 : 1; }\n";
    if std::fs::write(&source, probe).is_err() {
        return false;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let linked = Command::new(cc)
        .args(["-fPIE", "-pie", "-Wl,-z,pack-relative-relocs", "-o"])
        .arg(&program)
        .arg(&source)
        .output()
        .is_ok_and(|o| o.status.success());
    linked && Command::new(&program).status().is_ok_and(|s| s.success())
}

fn hot_symbols_first() {
    println!("cargo:rerun-if-changed=linker/hot-symbols.txt");
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("linker/hot-symbols.txt");
    if std::env::var("PROFILE").as_deref() != Ok("release") || !order.is_file() {
        return;
    }
    let args = [
        format!("-Wl,--symbol-ordering-file={}", order.display()),
        // Names the binary no longer has (after an update) are skipped, not reported.
        "-Wl,--no-warn-symbol-ordering".to_string(),
    ];
    if links_with(&args) {
        for arg in args {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}

/// Whether a trivial Rust program links with these linker arguments, built by the same
/// rustc, for the same target, with the same flags as the crate.
fn links_with(args: &[String]) -> bool {
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else { return false };
    let source = out.join("link-probe.rs");
    if std::fs::write(&source, "fn main() {}\n").is_err() {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let mut command = Command::new(rustc);
    command.arg(&source).arg("-o").arg(out.join("link-probe"));
    if let Ok(target) = std::env::var("TARGET") {
        command.args(["--target", &target]);
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    command.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    for arg in args {
        command.arg(format!("-Clink-arg={arg}"));
    }
    command.output().is_ok_and(|o| o.status.success())
}
