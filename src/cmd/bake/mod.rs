//! `kubebake bake`: spec → state → plans → output tree, each step all-or-nothing.
//!
//! The steps, in `bake_with`'s order: `prepare` reads the spec and the state (and refuses
//! what `checks` refuses), the `node` baker plans and renders each machine, `write` puts
//! the files where they go and commits them, and the `report` says what was done.

mod checks;
mod node;
mod report;
mod warnings;
mod write;

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::deliver::Platform;
use crate::deliver::seed::MediaKind;
use crate::error::{Error, Problem, Result};
use crate::model::Cluster;
use crate::model::profile::Packages;
use crate::model::releases::Releases;
use crate::node::templates::Templates;
use crate::pki::kubeconfig;
use crate::pki::{CaId, ca_cert_hash};
use crate::spec;
use crate::state::seal_seed::SealSeed;
use crate::state::{self, OPERATOR_STEM, State};

pub use report::{NodeSummary, PoolSummary, Report, Shown};

use node::{BakedNode, Baker, Machine, progress_bar};

/// The operator's kubeconfig at the top of the output.
pub const OPERATOR_KUBECONFIG: &str = "admin.conf";

/// What to bake, and how.
pub struct Options {
    /// The cluster spec.
    pub spec: PathBuf,
    /// The output directory, replaced whole.
    pub out: PathBuf,
    /// Defaults to [`default_state_dir`].
    pub state: Option<PathBuf>,
    /// A directory of templates overriding the built-in ones.
    pub templates: Option<PathBuf>,
    /// The platform whose user-data size limit every node must meet.
    pub platform: Option<Platform>,
    /// Bake control planes' keys in clear for a platform whose metadata service serves the
    /// user-data (refused otherwise).
    pub allow_clear_secrets: bool,
    /// `packages: bundle`: the bundle the nodes' image carries, whose sha256 first boot
    /// checks (kept in the state, so later bakes need it only when it changes).
    pub bundle: Option<PathBuf>,
    /// Also write each node's NoCloud seed medium beside its user-data (cloud-init only).
    pub media: Option<MediaKind>,
    /// The time certificates are issued at and tokens judged by.
    pub now: OffsetDateTime,
    /// Draw a progress bar on stderr for large bakes (the caller knows it is a terminal).
    pub progress: bool,
}

/// From this many nodes on, a bake shows its progress (when asked to).
pub const PROGRESS_FROM_NODES: usize = 50;

/// `<spec dir>/<spec file stem>.state`: beside the spec, so it travels with it.
pub fn default_state_dir(spec: &Path) -> PathBuf {
    let stem = spec.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "cluster".into());
    spec.with_file_name(format!("{stem}.state"))
}

/// Bakes the spec into the output directory (replaced whole, or left as it is when
/// nothing would change), with the state created or brought up to date and saved.
pub fn bake(opts: &Options) -> Result<Report> {
    bake_into(opts, Target::Out)
}

/// What [`bake`] would write, without writing anything: each file of the output (its path
/// relative to OUT, its bytes) goes to `visit` instead, from any thread and in no
/// particular order. The state is synchronised in memory and not saved (what would change
/// is in the report), no lock is taken, and OUT is neither read nor written.
pub fn bake_to(opts: &Options, visit: &(dyn Fn(&str, &[u8]) + Sync)) -> Result<Report> {
    bake_into(opts, Target::Visit(visit))
}

/// Where a bake's files go.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// The output directory, replaced whole; the state is saved.
    Out,
    /// A function that looks at each file; nothing is saved.
    Visit(&'a (dyn Fn(&str, &[u8]) + Sync)),
}

fn bake_into(opts: &Options, target: Target) -> Result<Report> {
    let templates = Templates::load(opts.templates.as_deref())?;
    // Two first-time costs of the process are paid on another core while this one reads
    // the spec and the state: the crypto library's setup (its random generator seeded and
    // its P-256 tables built, for the first key) and compiling the first-boot script, the
    // largest template. About 1.5 ms of a one-node bake's 5 (docs/benchmarks.md).
    std::thread::scope(|scope| {
        scope.spawn(|| {
            crate::pki::warm_up();
            templates.warm_up(crate::node::firstboot::SCRIPT_TEMPLATE);
        });
        bake_with(opts, &templates, target)
    })
}

/// `kubebake bake`: bakes, and keeps `--show-token` for the report.
pub fn run(opts: &Options, show_token: bool) -> Result<Shown> {
    Ok(Shown { report: bake(opts)?, show_token })
}

/// The spec, checked and loaded, and the state brought up to date with it (saved later,
/// with the output).
struct Prepared {
    cluster: Cluster,
    warnings: Vec<Problem>,
    state_dir: PathBuf,
    /// Held until the output is written, so the output always matches the state.
    lock: Option<state::Lock>,
    state: State,
    /// What the state gained, to be saved; None when it is used as it was.
    unsaved: Option<state::Unsaved>,
    /// The bundle's sha256 when the state must record it (written with the output, once
    /// everything else has been).
    bundle_record: Option<String>,
}

/// Reads the spec, refuses what must not be baked, and synchronises the state.
fn prepare(opts: &Options, writes: bool) -> Result<Prepared> {
    let loaded = spec::load(&opts.spec)?;
    let mut cluster = loaded.cluster;
    checks::check_secrets_at_rest(opts, &cluster)?;
    let bundle_sha256 = checks::bundle_digest(opts, &cluster)?;
    let state_dir = opts.state.clone().unwrap_or_else(|| default_state_dir(&opts.spec));
    if writes {
        checks::check_places(&state_dir, &opts.out)?;
    }
    let lock = writes.then(|| state::lock(&state_dir)).transpose()?;
    let (state, unsaved) = state::sync(&state_dir, &mut cluster, opts.now)?;
    let mut bundle_record = None;
    if cluster.os.packages == Packages::Bundle {
        let (digest, new) = checks::pin_bundle(&state_dir, bundle_sha256)?;
        bundle_record = new.then(|| digest.clone());
        cluster.os.bundle_sha256 = Some(digest);
    }
    // What a killed run left beside the state (its keys among it) is removed by the next
    // bake: by the state's Staging when the state changes, here when it does not.
    if writes && unsaved.is_none() {
        crate::files::remove_stale_staging(&state_dir)?;
    }
    Ok(Prepared { cluster, warnings: loaded.warnings, state_dir, lock, state, unsaved, bundle_record })
}

/// The operator's kubeconfig (OUT/admin.conf), as YAML.
fn operator_kubeconfig(cluster: &Cluster, state: &State) -> String {
    let operator = state.leaf(OPERATOR_STEM);
    kubeconfig::for_operator(
        cluster,
        &kubeconfig::operator_identity(cluster),
        &state.ca(CaId::Kubernetes).cert_pem,
        &operator.cert_pem,
        &operator.key_pem,
    )
    .to_yaml()
}

/// How user-data is sealed when the spec seals: the spec's recipient, the state's seed,
/// and every token the state knows (no file outside the sealed pack may hold one). The
/// rootfs keeps the clear files (it is the operator's); the user-data gets them sealed.
fn sealing<'a>(
    cluster: &'a Cluster,
    state: &'a State,
    state_dir: &Path,
) -> Result<Option<(&'a crate::model::Sealing, &'a SealSeed, Vec<String>)>> {
    let Some(s) = &cluster.sealing else { return Ok(None) };
    let seed = state
        .seal_seed()
        .ok_or_else(|| Error::state(state_dir, "has no seal seed for a spec that seals; the state is damaged"))?;
    let mut tokens = vec![state.token.expose(), state.join_token.expose()];
    for t in state.pool_tokens.values() {
        tokens.extend([t.initial.expose(), t.joins.expose()]);
    }
    Ok(Some((s, seed, tokens)))
}

fn bake_with(opts: &Options, templates: &Templates, target: Target) -> Result<Report> {
    let writes = matches!(target, Target::Out);
    let Prepared { cluster, warnings, state_dir, lock: _lock, state, unsaved, bundle_record } = prepare(opts, writes)?;
    let ca_hash = ca_cert_hash(&state.ca(CaId::Kubernetes).cert_der).map_err(|m| Error::crypto("ca.crt", m))?;
    let operator_yaml = operator_kubeconfig(&cluster, &state);
    let sealing = sealing(&cluster, &state, &state_dir)?;
    // Every node, then one user-data per pool, whatever its size: a pool's machines share it.
    let machines: Vec<Machine> =
        cluster.nodes.iter().map(Machine::Node).chain(cluster.worker_pools.iter().map(Machine::Pool)).collect();
    let bar = progress_bar(opts.progress, machines.len());
    let media = checks::media(opts.media, &cluster)?;
    let releases = Releases::of(&cluster);
    let baker = Baker {
        cluster: &cluster,
        releases: &releases,
        state: &state,
        ca_hash: &ca_hash,
        templates,
        sealing,
        media,
        bar: &bar,
    };
    let (baked, staging) = write::bake_machines(opts, target, &baker, &machines, unsaved, &operator_yaml)?;
    let (nodes, pools, sums) = summarise(baked, &state)?;
    if let Some(platform) = opts.platform {
        let all: Vec<&NodeSummary> = nodes.iter().chain(pools.iter().map(|p| &p.user_data)).collect();
        checks::check_sizes(platform, &cluster, &all)?;
    }
    write::finish(target, staging, &operator_yaml, sums)?;
    let mut state_changes = state.changes.clone();
    if let Some(digest) = bundle_record {
        if writes {
            let path = state_dir.join(checks::BUNDLE_SHA256);
            crate::files::write_file_atomic(&path, format!("{digest}\n").as_bytes(), 0o644)?;
        }
        state_changes.push(format!("recorded the bundle's sha256 {}… (nodes check it before using it)", &digest[..16]));
    }
    bar.finish_with_message("rendered and written");
    let mut warnings = warnings;
    warnings.extend(warnings::pool_token_warnings(&cluster, &state, &state_dir, opts.now));
    let (out, spec) = (opts.out.clone(), opts.spec.clone());
    let token = state.join_token;
    Ok(Report { nodes, pools, spec, cluster, warnings, state_dir, state_changes, out, token, ca_cert_hash: ca_hash })
}

/// The nodes' summaries, the pools' (with their tokens), and every file's sum; the first
/// machine that failed is the error.
fn summarise(baked: write::Baked, state: &State) -> Result<(Vec<NodeSummary>, Vec<PoolSummary>, Vec<node::Sum>)> {
    let mut summaries = Vec::new();
    let mut pool_summaries = Vec::new();
    let mut sums = Vec::new();
    for node in baked {
        let BakedNode { summary, pool, sums: node_sums } = node?;
        sums.extend(node_sums);
        let Some(pool) = pool else {
            summaries.push(summary);
            continue;
        };
        let tokens = &state.pool_tokens[&pool];
        pool_summaries.push(PoolSummary {
            token_id: tokens.joins.id().to_string(),
            token_from_init: tokens.joins == tokens.initial,
            token_expires: tokens.joins_expires.clone(),
            pool,
            user_data: summary,
        });
    }
    Ok((summaries, pool_summaries, sums))
}
