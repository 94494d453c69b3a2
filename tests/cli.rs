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
