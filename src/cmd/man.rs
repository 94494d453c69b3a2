//! `kubebake man -o DIR`: the man pages, from the CLI's definition.

use std::path::Path;

use crate::cmd::image::Written;
use crate::error::{Error, Result};

/// Writes kubebake.1 and one page per command (and subcommand) into `out`, for the
/// command line `cli` defines (the binary's).
pub fn run(cli: &clap::Command, out: &Path) -> Result<Written> {
    std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
    let mut written = Vec::new();
    for (name, page) in pages(cli, "kubebake") {
        let path = out.join(format!("{name}.1"));
        crate::files::write_file_atomic(&path, &page, 0o644)?;
        written.push(path);
    }
    Ok(Written { written })
}

/// kubebake.1 and kubebake-<command>[-<sub>].1 for every command, as git names its pages.
fn pages(cmd: &clap::Command, name: &str) -> Vec<(String, Vec<u8>)> {
    let cmd = cmd.clone().name(name.to_string());
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page).expect("writing into memory cannot fail");
    let mut all = vec![(name.to_string(), page)];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        all.extend(pages(sub, &format!("{name}-{}", sub.get_name())));
    }
    all
}
