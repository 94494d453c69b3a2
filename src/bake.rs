//! `kubebake bake`: spec → state → plans → output tree, each step all-or-nothing.

use std::fs;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::error::{Error, Problem, Result};
use crate::firstboot;
use crate::kubeconfig;
use crate::model::{Cluster, Role};
use crate::output::{SUMS_FILE, Staging, is_within, sha256sums};
use crate::pki::{CaId, ca_cert_hash};
use crate::plan::{NodePlan, plan_node, plan_pool};
use crate::profile::Format;
use crate::render::{self, Platform};
use crate::spec;
use crate::state::{self, OPERATOR_STEM};
use crate::templates::Templates;
use crate::token::BootstrapToken;

/// The operator's kubeconfig at the top of the output.
pub const OPERATOR_KUBECONFIG: &str = "admin.conf";

pub struct Options {
    pub spec: PathBuf,
    pub out: PathBuf,
    /// Defaults to [`default_state_dir`].
    pub state: Option<PathBuf>,
    /// A directory of templates overriding the built-in ones.
    pub templates: Option<PathBuf>,
    /// The platform whose user-data size limit every node must meet.
    pub platform: Option<Platform>,
    pub now: OffsetDateTime,
    /// Draw a progress bar on stderr for large bakes (the caller knows it is a terminal).
    pub progress: bool,
}

/// From this many nodes on, a bake shows its progress (when asked to).
pub const PROGRESS_FROM_NODES: usize = 50;

/// What a bake did, for the report.
pub struct Report {
    pub spec: PathBuf,
    pub cluster: Cluster,
    pub warnings: Vec<Problem>,
    pub state_dir: PathBuf,
    pub state_changes: Vec<String>,
    pub out: PathBuf,
    pub nodes: Vec<NodeSummary>,
    /// One user-data per worker pool, in the spec's order.
    pub pools: Vec<PoolSummary>,
    pub token: BootstrapToken,
    pub ca_cert_hash: String,
}

/// A worker pool's user-data (`OUT/pool-<name>/`) and the token it carries.
pub struct PoolSummary {
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

pub struct NodeSummary {
    pub name: String,
    pub role: Role,
    pub files: usize,
    pub bytes: usize,
    pub format: Format,
    /// The user-data document's size, and what the platform receives (gzip'd where the
    /// format allows).
    pub raw: usize,
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

/// `<spec dir>/<spec file stem>.state`: beside the spec, so it travels with it.
pub fn default_state_dir(spec: &Path) -> PathBuf {
    let stem = spec.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "cluster".into());
    spec.with_file_name(format!("{stem}.state"))
}

pub fn bake(opts: &Options) -> Result<Report> {
    let loaded = spec::load(&opts.spec)?;
    let cluster = loaded.cluster;
    let state_dir = opts.state.clone().unwrap_or_else(|| default_state_dir(&opts.spec));
    check_places(&state_dir, &opts.out)?;

    // Held until the output is written, so the output always matches the state.
    let _lock = state::lock(&state_dir)?;
    let state = state::sync(&state_dir, &cluster, opts.now)?;
    let ca_pem = &state.ca(CaId::Kubernetes).cert_pem;
    let ca_hash = ca_cert_hash(&state.ca(CaId::Kubernetes).cert_der).map_err(|m| Error::crypto("ca.crt", m))?;
    let templates = Templates::load(opts.templates.as_deref())?;
    let mut plans = cluster
        .nodes
        .iter()
        .map(|node| {
            let mut p = plan_node(&cluster, &state, node, &ca_hash);
            firstboot::add(&mut p, &cluster, node, &templates)?;
            p.files.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(p)
        })
        .collect::<Result<Vec<NodePlan>>>()?;
    // One plan per pool, whatever its size: a pool's machines share their user-data.
    for pool in &cluster.worker_pools {
        let mut p = plan_pool(&cluster, &state, pool, &ca_hash);
        firstboot::add_pool(&mut p, &cluster, pool, &templates)?;
        p.files.sort_by(|a, b| a.path.cmp(&b.path));
        plans.push(p);
    }

    let operator = state.leaf(OPERATOR_STEM);
    let operator_kc = kubeconfig::for_operator(
        &cluster,
        &kubeconfig::operator_identity(&cluster),
        ca_pem,
        &operator.cert_pem,
        &operator.key_pem,
    );
    let mut files = rootfs_files(&plans);
    let mut summaries = Vec::new();
    let mut pool_summaries = Vec::new();
    // rootfs/ keeps the clear files (it is the operator's); the user-data gets them sealed.
    let sealed: Option<Vec<NodePlan>> = cluster.sealing.as_ref().map(|s| {
        let ca_key = state.ca_key_pem(CaId::Kubernetes);
        let mut tokens = vec![state.token.expose(), state.join_token.expose()];
        for t in state.pool_tokens.values() {
            tokens.extend([t.initial.expose(), t.joins.expose()]);
        }
        plans.iter().map(|p| crate::seal::seal_plan(p, &s.recipient, &ca_key, &tokens)).collect()
    });
    let bar = if opts.progress && plans.len() >= PROGRESS_FROM_NODES {
        let bar = indicatif::ProgressBar::new(plans.len() as u64);
        let style =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} nodes {msg}").expect("a valid template");
        bar.set_style(style);
        bar.set_message("rendered");
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    for p in sealed.as_ref().unwrap_or(&plans) {
        bar.inc(1);
        let user_data = render::render(&cluster, p);
        let tree = p.tree();
        let summary = NodeSummary {
            name: p.name.clone(),
            role: p.role,
            files: tree.len(),
            bytes: tree.iter().map(|f| f.contents.len()).sum(),
            format: user_data.format,
            raw: user_data.raw,
            delivered: user_data.delivered,
        };
        match &p.pool {
            None => summaries.push(summary),
            Some(pool) => {
                let tokens = &state.pool_tokens[pool];
                let from_init = tokens.joins == tokens.initial;
                pool_summaries.push(PoolSummary {
                    pool: pool.clone(),
                    user_data: summary,
                    token_id: tokens.joins.id().to_string(),
                    token_from_init: from_init,
                    token_expires: tokens.joins_expires.clone(),
                });
            }
        }
        // User-data holds every secret the node gets.
        files.extend(user_data.files.into_iter().map(|r| OutFile {
            rel: format!("{}/{}", p.name, r.name),
            bytes: r.bytes,
            mode: 0o600,
        }));
    }
    if let Some(platform) = opts.platform {
        let all: Vec<&NodeSummary> = summaries.iter().chain(pool_summaries.iter().map(|p| &p.user_data)).collect();
        check_sizes(platform, &all)?;
    }
    files.push(OutFile { rel: OPERATOR_KUBECONFIG.into(), bytes: operator_kc.to_yaml().into_bytes(), mode: 0o600 });
    bar.set_message(format!("rendered; writing {} files", files.len()));
    write_out(&opts.out, &files)?;
    bar.finish_with_message("rendered and written");

    let mut warnings = loaded.warnings;
    warnings.extend(pool_token_warnings(&cluster, &state, &state_dir, opts.now));
    Ok(Report {
        nodes: summaries,
        pools: pool_summaries,
        spec: opts.spec.clone(),
        cluster,
        warnings,
        state_dir,
        state_changes: state.changes,
        out: opts.out.clone(),
        token: state.join_token,
        ca_cert_hash: ca_hash,
    })
}

/// The state must survive a re-bake that replaces the output, so neither may hold the
/// other; and an output directory is only replaced when it is one kubebake wrote.
fn check_places(state: &Path, out: &Path) -> Result<()> {
    if is_within(state, out) || is_within(out, state) {
        return Err(Error::Usage(format!(
            "the state directory {} and the output directory {} must not contain each other: \
             the output is replaced on every bake, the state must persist",
            state.display(),
            out.display()
        )));
    }
    if out.exists() {
        if !out.is_dir() {
            return Err(Error::Output { path: out.into(), message: "exists and is not a directory".into() });
        }
        let empty = fs::read_dir(out).map_err(|e| Error::io("reading", out, e))?.next().is_none();
        if !empty && !out.join(SUMS_FILE).is_file() {
            return Err(Error::Output {
                path: out.into(),
                message: format!(
                    "exists and was not written by kubebake (no {SUMS_FILE}); refusing to replace it, choose another directory"
                ),
            });
        }
    }
    Ok(())
}

/// One warning per pool, at every bake: a pool's user-data lives as long as the pool, but
/// the token in it does not, and when it lapses the next scale-up strands its machines.
/// Each says when the token expires and how to rotate it.
fn pool_token_warnings(cluster: &Cluster, state: &state::State, state_dir: &Path, now: OffsetDateTime) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, pool) in cluster.worker_pools.iter().enumerate() {
        let tokens = &state.pool_tokens[&pool.name];
        let id = tokens.joins.id();
        let rotate = format!(
            "kubebake token rotate {} --pool {} | kubectl apply -f -, bake again and give the pool its new user-data \
             (launch template, MachineSet)",
            state_dir.display(),
            pool.name
        );
        let message = if tokens.joins == tokens.initial {
            if pool.token_ttl.is_zero() {
                format!(
                    "worker pool {}: its machines join with bootstrap token {id}, which never expires (tokenTTL 0): \
                     whoever reads the pool's user-data can join machines until the token is deleted \
                     (kubectl -n kube-system delete secret bootstrap-token-{id}); to replace it: {rotate}",
                    pool.name
                )
            } else {
                let ttl = crate::spec::format_go_duration(pool.token_ttl);
                format!(
                    "worker pool {}: its machines join with bootstrap token {id}, which kubeadm init creates with a \
                     {ttl} TTL: it expires {ttl} after the first control plane's init ({} for a cluster started \
                     now), and machines the pool launches after that cannot join. Before then, and at once if the \
                     cluster already ran before this pool was added (its init made no token for it): {rotate}",
                    pool.name,
                    crate::tokens::rfc3339(now + pool.token_ttl)
                )
            }
        } else {
            match (&tokens.joins_expires, tokens.joins_expires_unix) {
                (Some(at), Some(unix)) if unix <= now.unix_timestamp() => format!(
                    "worker pool {}: its machines join with bootstrap token {id}, which expired on {at}: machines \
                     the pool launches now cannot join; {rotate}",
                    pool.name
                ),
                (Some(at), _) => format!(
                    "worker pool {}: its machines join with bootstrap token {id}, which expires on {at}; machines \
                     the pool launches after that cannot join. Before then: {rotate}",
                    pool.name
                ),
                _ => format!(
                    "worker pool {}: its machines join with bootstrap token {id}, which never expires: whoever reads \
                     the pool's user-data can join machines until the token is deleted \
                     (kubectl -n kube-system delete secret bootstrap-token-{id}); to replace it: {rotate}",
                    pool.name
                ),
            }
        };
        out.push(Problem { path: format!("spec.workerPools[{i}]"), line: None, column: None, message });
    }
    out
}

/// Refuses user-data over the platform's limit, saying which nodes and what would help.
fn check_sizes(platform: Platform, nodes: &[&NodeSummary]) -> Result<()> {
    let over: Vec<String> = nodes
        .iter()
        .filter(|n| platform.counted(n.delivered) > platform.limit)
        .map(|n| format!("{} ({} bytes)", n.name, platform.counted(n.delivered)))
        .collect();
    if over.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "user-data over {}'s limit of {} bytes{}: {}. Smaller keys help (encryptionAlgorithm: ECDSA-P256), as do \
         fewer extra files (a local Calico manifest ships inside the first control plane's user-data); \
         otherwise deliver the files in the image (OUT/<node>/rootfs) or from a platform with a larger limit",
        platform.name,
        platform.limit,
        if platform.counts_base64 { " (counted base64-encoded)" } else { "" },
        over.join(", ")
    )))
}

/// One file of the output tree, by path relative to OUT.
pub struct OutFile {
    pub rel: String,
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// `OUT/<node>/rootfs/<path>` for every planned file (units included).
fn rootfs_files(plans: &[NodePlan]) -> Vec<OutFile> {
    let mut out = Vec::new();
    for p in plans {
        for f in p.tree() {
            out.push(OutFile { rel: format!("{}/rootfs{}", p.name, f.path), bytes: f.contents, mode: f.mode });
        }
    }
    out
}

/// Writes `files` and SHA256SUMS over all of them. The directory is private (it holds keys).
fn write_out(out: &Path, files: &[OutFile]) -> Result<()> {
    let staging = Staging::new(out, 0o700, false)?;
    for f in files {
        staging.write(&f.rel, &f.bytes, f.mode, false)?;
    }
    let sums = sha256sums(files.iter().map(|f| (f.rel.as_str(), f.bytes.as_slice())));
    staging.write(SUMS_FILE, sums.as_bytes(), 0o644, false)?;
    staging.commit()
}
