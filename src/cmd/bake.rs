//! `kubebake bake`: spec → state → plans → output tree, each step all-or-nothing.

use std::fs;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::deliver::{self, Platform};
use crate::error::{Error, Problem, Result};
use crate::files::{SUMS_FILE, Staging, digest, nested, sha256sums_of};
use crate::model::profile::{Format, Packages};
use crate::model::{Cluster, Role};
use crate::node::firstboot;
use crate::node::plan::{plan_node, plan_pool};
use crate::node::templates::Templates;
use crate::pki::kubeconfig;
use crate::pki::{CaId, ca_cert_hash};
use crate::spec;
use crate::state::token::BootstrapToken;
use crate::state::{self, OPERATOR_STEM};

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
    /// Bake control planes' keys in clear for a platform whose metadata service serves the
    /// user-data (refused otherwise).
    pub allow_clear_secrets: bool,
    /// `packages: bundle`: the bundle the nodes' image carries, whose sha256 first boot
    /// checks (kept in the state, so later bakes need it only when it changes).
    pub bundle: Option<PathBuf>,
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
    bake_with(opts, &templates, target)
}

fn bake_with(opts: &Options, templates: &Templates, target: Target) -> Result<Report> {
    let loaded = spec::load(&opts.spec)?;
    let mut cluster = loaded.cluster;
    check_secrets_at_rest(opts, &cluster)?;
    let bundle_sha256 = bundle_digest(opts, &cluster)?;
    let state_dir = opts.state.clone().unwrap_or_else(|| default_state_dir(&opts.spec));
    let writes = matches!(target, Target::Out);
    if writes {
        check_places(&state_dir, &opts.out)?;
    }

    // Held until the output is written, so the output always matches the state.
    let _lock = writes.then(|| state::lock(&state_dir)).transpose()?;
    let (state, unsaved) = state::sync(&state_dir, &cluster, opts.now)?;
    // The bundle's sha256, and a record of it for the state when it is new (written with
    // the output, once everything else has been).
    let mut bundle_record = None;
    if cluster.os.packages == Packages::Bundle {
        let (digest, new) = pin_bundle(&state_dir, bundle_sha256)?;
        bundle_record = new.then(|| digest.clone());
        cluster.os.bundle_sha256 = Some(digest);
    }
    // What a killed run left beside the state (its keys among it) is removed by the next
    // bake: by the state's Staging when the state changes, here when it does not.
    if writes && unsaved.is_none() {
        crate::files::remove_stale_staging(&state_dir)?;
    }
    let ca_pem = &state.ca(CaId::Kubernetes).cert_pem;
    let ca_hash = ca_cert_hash(&state.ca(CaId::Kubernetes).cert_der).map_err(|m| Error::crypto("ca.crt", m))?;
    let operator = state.leaf(OPERATOR_STEM);
    let operator_kc = kubeconfig::for_operator(
        &cluster,
        &kubeconfig::operator_identity(&cluster),
        ca_pem,
        &operator.cert_pem,
        &operator.key_pem,
    );
    // rootfs/ keeps the clear files (it is the operator's); the user-data gets them sealed.
    let sealing = match &cluster.sealing {
        None => None,
        Some(s) => {
            let seed = state.seal_seed().ok_or_else(|| {
                Error::state(&state_dir, "has no seal seed for a spec that seals; the state is damaged")
            })?;
            let mut tokens = vec![state.token.expose(), state.join_token.expose()];
            for t in state.pool_tokens.values() {
                tokens.extend([t.initial.expose(), t.joins.expose()]);
            }
            Some((s, seed, tokens))
        }
    };
    // Every node, then one user-data per pool, whatever its size: a pool's machines share it.
    let machines: Vec<Machine> =
        cluster.nodes.iter().map(Machine::Node).chain(cluster.worker_pools.iter().map(Machine::Pool)).collect();
    let bar = progress_bar(opts.progress, machines.len());

    // Nodes are planned, rendered and written on every core, one node at a time per core,
    // so memory holds a few nodes' files rather than the whole output.
    let node_baked = |machine: &Machine, sink: &Sink| -> Result<BakedNode> {
        let mut plan = match machine {
            Machine::Node(node) => {
                let mut plan = plan_node(&cluster, &state, node, &ca_hash)?;
                firstboot::add(&mut plan, &cluster, node, templates)?;
                plan
            }
            Machine::Pool(pool) => {
                let mut plan = plan_pool(&cluster, &state, pool, &ca_hash)?;
                firstboot::add_pool(&mut plan, &cluster, pool, templates)?;
                plan
            }
        };
        plan.files.sort_by(|a, b| a.path.cmp(&b.path));
        let write_all = |files: Vec<(String, &[u8], u32)>| -> Result<Vec<Sum>> {
            let mut sums = Vec::with_capacity(files.len());
            for (rel, bytes, mode) in files {
                sink.put(&rel, bytes, mode)?;
                sums.push((rel, digest(bytes)));
            }
            Ok(sums)
        };
        let tree = plan.tree();
        let rootfs = || {
            write_all(tree.iter().map(|f| (format!("{}/rootfs{}", plan.name, f.path), f.contents, f.mode)).collect())
        };
        let user_data = || -> Result<(NodeSummary, Vec<Sum>)> {
            let transformed = if firstboot::packs_files(&cluster) {
                let packed = crate::deliver::pack::pack_plan(&plan, firstboot::packs_with_xz(&cluster));
                Some(match &sealing {
                    Some((s, seed, tokens)) => crate::deliver::seal::seal_plan(packed, &s.recipient, seed, tokens)
                        .map_err(|m| Error::crypto(format!("sealing {}'s user-data", plan.name), m))?,
                    None => packed,
                })
            } else {
                None
            };
            let delivered = transformed.as_ref().unwrap_or(&plan);
            let user_data = deliver::render(&cluster, delivered);
            let delivered_tree = delivered.tree();
            let summary = NodeSummary {
                name: plan.name.clone(),
                role: plan.role,
                files: delivered_tree.len(),
                bytes: delivered_tree.iter().map(|f| f.contents.len()).sum(),
                format: user_data.format,
                raw: user_data.raw,
                delivered: user_data.delivered,
            };
            // User-data holds every secret the node gets.
            let files = user_data.files.iter().map(|r| (format!("{}/{}", plan.name, r.name), &r.bytes[..], 0o600));
            Ok((summary, write_all(files.collect())?))
        };
        let mut sums = rootfs()?;
        let (summary, user_data_sums) = user_data()?;
        sums.extend(user_data_sums);
        bar.inc(1);
        Ok(BakedNode { summary, pool: plan.pool.clone(), sums })
    };
    let operator_yaml = operator_kc.to_yaml();

    let (baked, staging) = match target {
        Target::Visit(visit) => {
            // Nothing is saved: what the state would gain is in the report.
            drop(unsaved);
            (crate::parallel_map(&machines, |m| node_baked(m, &Sink::Visit(visit))), None)
        }
        Target::Out => {
            // A re-bake that changes nothing (same state, same output) writes nothing: the
            // nodes are rendered and compared with the output in place first. On a disk,
            // building a tree of a thousand nodes is mostly its 16,000 mkdirs, whatever is
            // linked or written.
            let mut in_place = None;
            if unsaved.is_none()
                && let Ok(old_sums) = fs::read(opts.out.join(SUMS_FILE))
            {
                let differs = std::sync::atomic::AtomicBool::new(false);
                let sink = Sink::Compare { out: &opts.out, differs: &differs };
                let baked: Vec<Option<Result<BakedNode>>> = crate::parallel_map(&machines, |m| {
                    (!differs.load(std::sync::atomic::Ordering::Relaxed)).then(|| node_baked(m, &sink))
                });
                sink.put(OPERATOR_KUBECONFIG, operator_yaml.as_bytes(), 0o600)?;
                if !differs.into_inner() {
                    let baked =
                        baked.into_iter().map(|b| b.expect("rendered, as nothing differed")).collect::<Vec<_>>();
                    let mut sums = Vec::new();
                    for node in baked.iter().flatten() {
                        sums.extend(node.sums.iter().cloned());
                    }
                    sums.push((OPERATOR_KUBECONFIG.to_string(), digest(operator_yaml.as_bytes())));
                    if sha256sums_of(sums).into_bytes() == old_sums {
                        in_place = Some(baked);
                    }
                }
                bar.reset();
            }
            match in_place {
                Some(baked) => {
                    // The output's Staging removes what killed runs left beside it; a bake
                    // that writes nothing must too, not leave it for the next change.
                    crate::files::remove_stale_staging(&opts.out)?;
                    (baked, None)
                }
                None => {
                    let staging = Staging::new(&opts.out, 0o700, false)?.reusing_previous();
                    let sink = Sink::Staging(&staging);
                    // The state is saved before the output is committed, so the output
                    // never refers to a state that is not on disk.
                    unsaved.map(state::Unsaved::save).transpose()?;
                    (crate::parallel_map(&machines, |m| node_baked(m, &sink)), Some(staging))
                }
            }
        }
    };
    let mut summaries = Vec::new();
    let mut pool_summaries = Vec::new();
    let mut sums = Vec::new();
    for node in baked {
        let node = node?;
        sums.extend(node.sums);
        let Some(pool) = node.pool else {
            summaries.push(node.summary);
            continue;
        };
        let tokens = &state.pool_tokens[&pool];
        pool_summaries.push(PoolSummary {
            token_id: tokens.joins.id().to_string(),
            token_from_init: tokens.joins == tokens.initial,
            token_expires: tokens.joins_expires.clone(),
            pool,
            user_data: node.summary,
        });
    }
    if let Some(platform) = opts.platform {
        let all: Vec<&NodeSummary> = summaries.iter().chain(pool_summaries.iter().map(|p| &p.user_data)).collect();
        check_sizes(platform, &cluster, &all)?;
    }
    let sink = match target {
        Target::Visit(visit) => Some(Sink::Visit(visit)),
        Target::Out => staging.as_ref().map(Sink::Staging),
    };
    if let Some(sink) = sink {
        sink.put(OPERATOR_KUBECONFIG, operator_yaml.as_bytes(), 0o600)?;
        sums.push((OPERATOR_KUBECONFIG.to_string(), digest(operator_yaml.as_bytes())));
        sink.put(SUMS_FILE, sha256sums_of(sums).as_bytes(), 0o644)?;
    }
    if let Some(staging) = staging {
        staging.commit()?;
    }
    let mut state_changes = state.changes.clone();
    if let Some(digest) = bundle_record {
        if writes {
            let path = state_dir.join(BUNDLE_SHA256);
            crate::files::write_file_atomic(&path, format!("{digest}\n").as_bytes(), 0o644)?;
        }
        state_changes.push(format!("recorded the bundle's sha256 {}… (nodes check it before using it)", &digest[..16]));
    }
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
        state_changes,
        out: opts.out.clone(),
        token: state.join_token,
        ca_cert_hash: ca_hash,
    })
}

/// The state must survive a re-bake that replaces the output, so neither may hold the
/// other; and an output directory is only replaced when it is one kubebake wrote.
fn check_places(state: &Path, out: &Path) -> Result<()> {
    if nested(state, out) {
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
                let ttl = crate::fmt::duration::format_go_duration(pool.token_ttl);
                format!(
                    "worker pool {}: its machines join with bootstrap token {id}, which kubeadm init creates with a \
                     {ttl} TTL: it expires {ttl} after the first control plane's init ({} for a cluster started \
                     now), and machines the pool launches after that cannot join. Before then, and at once if the \
                     cluster already ran before this pool was added (its init made no token for it): {rotate}",
                    pool.name,
                    crate::state::tokens::rfc3339(now + pool.token_ttl)
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
        out.push(Problem { path: format!("spec.workerPools[{i}]"), line: None, column: None, message, file: None });
    }
    out
}

/// The state's record of the bundle the nodes' image carries.
const BUNDLE_SHA256: &str = "bundle.sha256";

/// The sha256 of `--bundle FILE`, when given (for any spec: a bundle of another spec is
/// caught on the node, by its manifest).
fn bundle_digest(opts: &Options, cluster: &Cluster) -> Result<Option<String>> {
    let Some(file) = &opts.bundle else { return Ok(None) };
    if cluster.os.packages != Packages::Bundle {
        return Err(Error::Usage(format!(
            "--bundle {}: the spec's nodes do not install from a bundle (spec.packages is {})",
            file.display(),
            cluster.os.packages.name()
        )));
    }
    crate::files::file_sha256(file).map(Some)
}

/// The bundle's sha256 for the nodes: the one just given (and whether the state must
/// record it), or the one the state recorded. Neither is an error: a node of
/// `packages: bundle` must know which bundle it may run.
fn pin_bundle(state_dir: &Path, given: Option<String>) -> Result<(String, bool)> {
    let path = state_dir.join(BUNDLE_SHA256);
    let recorded = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("reading", &path, e)),
    };
    match (given, recorded) {
        (Some(new), old) => {
            let changed = old.as_deref() != Some(new.as_str());
            Ok((new, changed))
        }
        (None, Some(old)) => Ok((old, false)),
        (None, None) => Err(Error::Usage(
            "spec.packages is bundle: give the bundle the nodes' image carries (--bundle FILE), so that first boot \
             runs nothing from a bundle other than that one"
                .into(),
        )),
    }
}

/// Refuses, before anything is written, a control plane's keys in clear in user-data that
/// the platform serves to anything on the instance: on a cloud, the metadata service hands
/// the user-data to any process (a pod included) that can reach it, and cloud-init keeps a
/// copy on disk until first boot is done. Sealed secrets, or the user's say-so, let it be.
fn check_secrets_at_rest(opts: &Options, cluster: &Cluster) -> Result<()> {
    let Some(platform) = opts.platform else { return Ok(()) };
    let Some(service) = platform.metadata_service else { return Ok(()) };
    if cluster.sealing.is_some() || opts.allow_clear_secrets || cluster.pki.external_ca {
        return Ok(());
    }
    let names: Vec<&str> = cluster.control_planes().map(|n| n.name.as_str()).collect();
    Err(Error::Usage(format!(
        "--platform {}: the user-data of {} would hold the cluster's CA keys in clear, and on {} {} serves it to \
         anything on the instance that reaches it (a pod included), while cloud-init keeps a copy on disk until first \
         boot is done. Seal them to a key the image holds (spec.secrets.encryptTo: README, Sealed secrets), keep the \
         CA keys off the nodes (spec.pki.externalCA), or bake them in clear knowingly with --allow-clear-secrets \
         (then limit who reaches the metadata service: README, Secrets at rest)",
        platform.name,
        names.join(", "),
        platform.name,
        service
    )))
}

/// Refuses user-data over the platform's limit, saying which nodes, why, and which
/// choices fit (README "Sizes" has the measurements behind the advice, from
/// `cargo bench --bench bake -- sizes`).
fn check_sizes(platform: Platform, cluster: &Cluster, nodes: &[&NodeSummary]) -> Result<()> {
    let over: Vec<&NodeSummary> =
        nodes.iter().copied().filter(|n| platform.counted(n.delivered) > platform.limit).collect();
    if over.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> =
        over.iter().map(|n| format!("{} ({} bytes)", n.name, platform.counted(n.delivered))).collect();
    let mut advice = Vec::new();
    if cluster.pki.algorithm.is_rsa() {
        advice.push(format!(
            "{} keys are random bytes that no compression shrinks: an RSA control plane's user-data is about \
             40 KB gzip'd whatever else is chosen; encryptionAlgorithm: ECDSA-P256 makes it 3 times smaller",
            cluster.pki.algorithm
        ));
    }
    advice.push(
        "fewer extra files help (a local Calico manifest rides in the first control plane's user-data); \
         otherwise put the files in the image (OUT/<node>/rootfs) or use a platform with a larger limit"
            .to_string(),
    );
    Err(Error::Usage(format!(
        "user-data over {}'s limit of {} bytes{}: {}. {}",
        platform.name,
        platform.limit,
        if platform.counts_base64 { " (counted base64-encoded)" } else { "" },
        listed.join(", "),
        advice.join("; ")
    )))
}

/// What gets a user-data of its own: a node, or a pool of identical workers.
enum Machine<'a> {
    Node(&'a crate::model::Node),
    Pool(&'a crate::model::WorkerPool),
}

/// Where a node's files go.
enum Sink<'a> {
    /// Into the tree that will replace the output.
    Staging(&'a Staging),
    /// To a function that looks at it ([`bake_to`]).
    Visit(&'a (dyn Fn(&str, &[u8]) + Sync)),
    /// Nowhere, but checked against the output in place: `differs` is set at the first
    /// file that is not there as it would be written, and the rest is not read.
    Compare { out: &'a Path, differs: &'a std::sync::atomic::AtomicBool },
}

impl Sink<'_> {
    fn put(&self, rel: &str, bytes: &[u8], mode: u32) -> Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        match self {
            Sink::Staging(staging) => staging.write(rel, bytes, mode, false).map(|_| ()),
            Sink::Visit(visit) => {
                visit(rel, bytes);
                Ok(())
            }
            Sink::Compare { out, differs } => {
                if !differs.load(Relaxed) && !crate::files::same_file_contents(&out.join(rel), bytes, mode) {
                    differs.store(true, Relaxed);
                }
                Ok(())
            }
        }
    }
}

/// A file written, by path relative to OUT, with its SHA-256.
type Sum = (String, [u8; 32]);

/// One node's part of the bake: its summary and the digests of the files it wrote.
struct BakedNode {
    summary: NodeSummary,
    /// The pool whose user-data this is, if it is a pool's.
    pool: Option<String>,
    sums: Vec<Sum>,
}

/// A bar on stderr for bakes of many nodes, when the caller asked for one (it knows
/// whether stderr is a terminal); hidden otherwise.
fn progress_bar(wanted: bool, nodes: usize) -> indicatif::ProgressBar {
    if !wanted || nodes < PROGRESS_FROM_NODES {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(nodes as u64);
    let style = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} nodes {msg}").expect("a valid template");
    bar.set_style(style);
    bar.set_message("rendered and written");
    bar
}
