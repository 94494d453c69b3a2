//! `kubebake renew STATE [NAMES…]`: the adapter to [`crate::state::renew`], which reissues
//! the certificates; this reads the window and says which nodes' files change and how to
//! roll them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

use crate::cmd::report::{self, Report, Text};
use crate::error::Result;
use crate::state::Renewed;

/// `kubebake renew`'s flags, as given.
pub struct Options {
    /// The state directory.
    pub state: PathBuf,
    /// The certificates named (state names, kubeadm's names, or all).
    pub names: Vec<String>,
    /// `--within`, as given (a Go duration or whole days).
    pub within: Option<String>,
    /// New keys instead of the current ones.
    pub new_keys: bool,
    /// The time the certificates are reissued at.
    pub now: OffsetDateTime,
}

/// What was renewed, in the state `state`.
pub struct Renewal {
    /// The state directory.
    pub state: PathBuf,
    /// Every certificate reissued.
    pub renewed: Vec<Renewed>,
}

/// What renewal window applies: the one given, else 30 days when nothing is named (what
/// expires soon), else none (what is named, however long it has left).
fn window(opts: &Options) -> Result<Option<Duration>> {
    Ok(match (&opts.within, opts.names.is_empty()) {
        (Some(w), _) => Some(super::days("--within", w)?),
        (None, true) => Some(Duration::from_secs(30 * 86_400)),
        (None, false) => None,
    })
}

/// Reissues what expires within the window, or what is named.
pub fn run(opts: &Options) -> Result<Renewal> {
    let within = window(opts)?;
    let renewed = crate::state::renew(&opts.state, &opts.names, within, opts.new_keys, opts.now)?;
    Ok(Renewal { state: opts.state.clone(), renewed })
}

impl Report for Renewal {
    fn text(&self, out: &mut Text) {
        if self.renewed.is_empty() {
            out.report(format_args!("nothing to renew in {}", self.state.display()));
            return;
        }
        let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &self.renewed {
            let key = if r.kept_key { "same key" } else { "new key" };
            out.report(format_args!("renewed {} ({key}), valid until {}", r.name, r.not_after));
            let (node, file) = node_file(&r.name);
            by_node.entry(node).or_default().push(file);
        }
        out.report("\nbake again (kubebake bake SPEC -o OUT); these files change:");
        for (node, files) in &by_node {
            out.report(format_args!("  {node}: {}", files.join(" ")));
        }
        out.report(
            "\nput them on the running nodes (or re-provision them), then restart what reads them, \
             as after kubeadm certs renew: on a control plane move each manifest out of \
             /etc/kubernetes/manifests and back, for the kubelet systemctl restart kubelet.",
        );
    }

    fn json(&self) -> Option<serde_json::Result<String>> {
        report::json(&serde_json::json!({ "renewed": self.renewed }))
    }
}

/// Where a state certificate lands: the node (or the operator's OUT/admin.conf) and path.
fn node_file(name: &str) -> (String, String) {
    if let Some((node, rest)) = name.strip_prefix("nodes/").and_then(|r| r.split_once('/')) {
        let path = match rest.split_once('/') {
            Some(("pki", "kubelet-serving")) => "/var/lib/kubelet/pki/kubelet.crt".to_string(),
            Some(("pki", leaf)) => format!("/etc/kubernetes/pki/{leaf}.crt"),
            Some(("kubeconfig", k)) => format!("/etc/kubernetes/{k}.conf"),
            _ => rest.to_string(),
        };
        return (node.to_string(), path);
    }
    ("operator".to_string(), "OUT/admin.conf".to_string())
}
