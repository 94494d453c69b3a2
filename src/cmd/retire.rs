//! `kubebake retire SPEC NODE`: the script that takes a node out of the running cluster for
//! good (drain, its etcd member, its Node object), for the operator to read and run. kubebake
//! itself never talks to the cluster.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::cmd::report::{Report, Text};
use crate::error::{Error, Result};
use crate::fmt::duration::format_go_duration;
use crate::node::templates::Templates;
use crate::spec::grammar::dns1123_label;

/// What `retire` is given.
pub struct Options {
    /// The cluster spec, which no longer lists the node.
    pub spec: PathBuf,
    /// The node to retire.
    pub node: String,
    /// How long the script's drain may take.
    pub drain_timeout: Duration,
    /// A directory of templates overriding the built-in ones (retire.sh.tera).
    pub templates: Option<PathBuf>,
}

/// The retire script.
pub struct Retire {
    /// The script, for stdout.
    pub script: String,
}

#[derive(Serialize)]
struct Context<'a> {
    cluster: &'a str,
    node: &'a str,
    drain_timeout: String,
}

/// Renders the script for a node the spec no longer lists. A node still listed is refused:
/// the next bake would make it again, and a replacement (`replaces`) already removes what
/// it replaces.
pub fn run(opts: &Options) -> Result<Retire> {
    dns1123_label(&opts.node).map_err(|m| Error::Usage(format!("node {:?}: {m}", opts.node)))?;
    let loaded = crate::spec::load(&opts.spec)?;
    let cluster = &loaded.cluster;
    if cluster.node(&opts.node).is_some() {
        return Err(Error::Usage(format!(
            "{}: {} is still in spec.nodes; take it out of the spec (and bake again) before retiring it",
            opts.spec.display(),
            opts.node
        )));
    }
    if let Some(by) = cluster.nodes.iter().find(|n| n.replaces.as_deref() == Some(opts.node.as_str())) {
        return Err(Error::Usage(format!(
            "{} is replaced by {} (spec.nodes, replaces): its first boot removes {}'s etcd member and Node",
            opts.node, by.name, opts.node
        )));
    }
    let templates = Templates::load(opts.templates.as_deref())?;
    let context =
        Context { cluster: &cluster.name, node: &opts.node, drain_timeout: format_go_duration(opts.drain_timeout) };
    Ok(Retire { script: templates.render("retire.sh.tera", &context)? })
}

impl Report for Retire {
    fn text(&self, out: &mut Text) {
        out.raw(self.script.clone());
    }
}
