//! What a bake did, and how the CLI shows it (`kubebake bake`, text or `--json`).

use std::path::PathBuf;

use crate::cmd::report::{self, Text};
use crate::error::Problem;
use crate::model::profile::Format;
use crate::model::{Cluster, Role};
use crate::state::bootstrap_token::BootstrapToken;

use super::OPERATOR_KUBECONFIG;

/// What a bake did, for the report.
pub struct Report {
    /// The spec baked.
    pub spec: PathBuf,
    /// What it loaded as.
    pub cluster: Cluster,
    /// The spec's warnings, and one per worker pool about its token.
    pub warnings: Vec<Problem>,
    /// The state used.
    pub state_dir: PathBuf,
    /// What the bake created, reissued or dropped in the state; empty when it was reused.
    pub state_changes: Vec<String>,
    /// The output directory.
    pub out: PathBuf,
    /// Every node, in the spec's order.
    pub nodes: Vec<NodeSummary>,
    /// One user-data per worker pool, in the spec's order.
    pub pools: Vec<PoolSummary>,
    /// The token joining nodes carry.
    pub token: BootstrapToken,
    /// kubeadm's `--discovery-token-ca-cert-hash`.
    pub ca_cert_hash: String,
}

/// A worker pool's user-data (`OUT/pool-<name>/`) and the token it carries.
pub struct PoolSummary {
    /// The pool's name (spec.workerPools[].name).
    pub pool: String,
    /// Named `pool-<name>`, the pool's directory in OUT.
    pub user_data: NodeSummary,
    /// The id of the token the pool's user-data carries (never its secret).
    pub token_id: String,
    /// The pool's first token: kubeadm init creates it, and it expires the pool's tokenTTL
    /// after init. Otherwise a rotated token, which expires at `token_expires`.
    pub token_from_init: bool,
    /// RFC 3339; None for a token from init, or one that never expires.
    pub token_expires: Option<String>,
}

/// One node's (or pool's) user-data, measured.
pub struct NodeSummary {
    /// The node's name, and its directory in OUT.
    pub name: String,
    /// Control plane or worker.
    pub role: Role,
    /// Files the user-data delivers (a pack counts once).
    pub files: usize,
    /// Their bytes.
    pub bytes: usize,
    /// cloud-init or Ignition.
    pub format: Format,
    /// The user-data document's size, and what the platform receives (gzip'd where the
    /// format allows).
    pub raw: usize,
    /// What the platform receives, and what its size limit counts.
    pub delivered: usize,
}

impl Report {
    /// The command a node would run to join, with the token's secret masked unless asked.
    pub fn join_command(&self, show_token: bool) -> String {
        let token = if show_token { self.token.expose() } else { self.token.masked() };
        format!(
            "kubeadm join {} --token {token} --discovery-token-ca-cert-hash {}",
            self.cluster.endpoint.host_port(),
            self.ca_cert_hash
        )
    }
}

/// A bake's report as the CLI shows it: with the join token's secret, or masked.
pub struct Shown {
    /// What the bake did.
    pub report: Report,
    /// `--show-token`.
    pub show_token: bool,
}

/// One row of the text report's node table.
fn row(width: usize, cells: [&dyn std::fmt::Display; 7]) -> String {
    let [name, role, files, bytes, format, raw, delivered] = cells;
    format!("       {name:<width$}  {role:<13}  {files:>5}  {bytes:>9}  {format:<10}  {raw:>9}  {delivered:>9}")
}

impl report::Report for Shown {
    fn text(&self, out: &mut Text) {
        let r = &self.report;
        for w in &r.warnings {
            out.note(format_args!("warning: {}", w.located(&r.spec)));
        }
        out.report(format_args!("state  {}", r.state_dir.display()));
        if r.state_changes.is_empty() {
            out.report("       reused as it was");
        }
        for c in &r.state_changes {
            out.report(format_args!("       {c}"));
        }
        out.report(format_args!("out    {}", r.out.display()));
        let pools = r.pools.iter().map(|p| &p.user_data);
        let width = r.nodes.iter().chain(pools.clone()).map(|n| n.name.len()).max().unwrap_or(4).max(4);
        out.report(row(width, [&"node", &"role", &"files", &"bytes", &"format", &"user-data", &"delivered"]));
        for (n, role) in r.nodes.iter().map(|n| (n, n.role.name())).chain(pools.map(|n| (n, "worker pool"))) {
            out.report(row(width, [&n.name, &role, &n.files, &n.bytes, &n.format.name(), &n.raw, &n.delivered]));
        }
        for (release, names) in r.kept_releases() {
            out.report(format_args!(
                "kept   {release} on {} (running nodes are replaced, not upgraded: docs/day-2.md)",
                names.join(", ")
            ));
        }
        out.report(format_args!("       {} (operator kubeconfig)", r.out.join(OPERATOR_KUBECONFIG).display()));
        out.report(format_args!("join   {}", r.join_command(self.show_token)));
    }

    fn json(&self) -> Option<serde_json::Result<String>> {
        report::json(&self.json_value())
    }
}

impl Report {
    /// The nodes and pools that keep an older release than the spec's, by release.
    fn kept_releases(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let mut kept: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for n in &self.cluster.nodes {
            if let Some(v) = n.release {
                kept.entry(v.to_string()).or_default().push(n.name.clone());
            }
        }
        for p in &self.cluster.worker_pools {
            if let Some(v) = p.release {
                kept.entry(v.to_string()).or_default().push(format!("pool {}", p.name));
            }
        }
        kept
    }
}

impl Shown {
    /// The report as `--json` prints it.
    fn json_value(&self) -> serde_json::Value {
        let r = &self.report;
        let release = |node: &str| {
            let n = r.cluster.node(node).and_then(|n| n.release);
            n.unwrap_or(r.cluster.kubernetes_version).to_string()
        };
        let nodes: Vec<serde_json::Value> =
            r.nodes.iter().map(|n| node_json(n, serde_json::json!({"kubernetesVersion": release(&n.name)}))).collect();
        let mut join = serde_json::json!({
            "endpoint": r.cluster.endpoint.host_port(),
            "tokenId": r.token.id(),
            "caCertHash": r.ca_cert_hash,
            "command": r.join_command(self.show_token),
        });
        if self.show_token {
            join["token"] = r.token.expose().into();
        }
        let pools: Vec<serde_json::Value> = r
            .pools
            .iter()
            .map(|p| {
                let release = r.cluster.worker_pool(&p.pool).and_then(|p| p.release);
                let extra = serde_json::json!({
                    "kubernetesVersion": release.unwrap_or(r.cluster.kubernetes_version).to_string(),
                    "name": p.pool, "dir": p.user_data.name, "tokenId": p.token_id,
                    "tokenFromInit": p.token_from_init, "tokenExpires": p.token_expires,
                });
                node_json(&p.user_data, extra)
            })
            .collect();
        serde_json::json!({
            "spec": r.spec, "state": r.state_dir, "stateChanges": r.state_changes, "out": r.out,
            "operatorKubeconfig": r.out.join(OPERATOR_KUBECONFIG), "nodes": nodes, "pools": pools, "join": join,
            "warnings": r.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
        })
    }
}

/// A node's user-data as JSON, with `extra`'s fields (a pool's) over its own.
fn node_json(n: &NodeSummary, extra: serde_json::Value) -> serde_json::Value {
    let mut value = serde_json::json!({
        "name": n.name, "role": n.role.name(), "files": n.files, "bytes": n.bytes,
        "format": n.format.name(), "userData": n.raw, "delivered": n.delivered,
    });
    if let (Some(map), serde_json::Value::Object(extra)) = (value.as_object_mut(), extra) {
        map.extend(extra);
    }
    value
}
