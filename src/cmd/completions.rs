//! `kubebake completions SHELL`: a shell's completion script, from the CLI's definition.

use crate::cmd::report::{Report, Text};

/// A completion script.
pub struct Script(pub String);

/// The completion script for `shell`, for the command line `cli` defines (the binary's).
pub fn run(shell: clap_complete::Shell, cli: &mut clap::Command) -> Script {
    let mut script = Vec::new();
    clap_complete::generate(shell, cli, "kubebake", &mut script);
    // clap_complete writes what the CLI's definition says, all of it Rust strings.
    Script(String::from_utf8_lossy(&script).into_owned())
}

impl Report for Script {
    fn text(&self, out: &mut Text) {
        out.raw(self.0.as_str());
    }
}
