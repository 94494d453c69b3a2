//! One machine's part of a bake: its plan, its rootfs and its user-data, rendered and put
//! where the bake's files go.

use std::path::Path;

use crate::deliver;
use crate::deliver::seed::{self, MediaKind, SeedFile};
use crate::error::{Error, Result};
use crate::files::{Staging, digest};
use crate::model::releases::Releases;
use crate::model::{Cluster, Sealing};
use crate::node::firstboot;
use crate::node::plan::{NodePlan, plan_node, plan_pool};
use crate::node::templates::Templates;
use crate::state::State;
use crate::state::seal_seed::SealSeed;

use super::{NodeSummary, PROGRESS_FROM_NODES};

/// What every machine's files are made from.
pub(super) struct Baker<'a> {
    pub(super) cluster: &'a Cluster,
    /// The cluster at each release a node keeps (the spec's, and older ones mid-upgrade).
    pub(super) releases: &'a Releases<'a>,
    pub(super) state: &'a State,
    pub(super) ca_hash: &'a str,
    pub(super) templates: &'a Templates,
    /// How user-data is sealed, when the spec seals: to whom, with the state's seed, and
    /// the tokens no file outside the sealed pack may hold.
    pub(super) sealing: Option<(&'a Sealing, &'a SealSeed, Vec<String>)>,
    /// The NoCloud seed medium each node also gets, if any.
    pub(super) media: Option<MediaKind>,
    /// Counts machines done.
    pub(super) bar: &'a indicatif::ProgressBar,
}

impl Baker<'_> {
    /// Plans, renders and writes one machine. Nodes are baked on every core, one node at a
    /// time per core, so memory holds a few nodes' files rather than the whole output.
    pub(super) fn bake(&self, machine: &Machine, sink: &Sink) -> Result<BakedNode> {
        let plan = self.plan(machine)?;
        let mut sums = rootfs(&plan, sink)?;
        let (summary, user_data_sums) = self.user_data(&plan, sink)?;
        sums.extend(user_data_sums);
        self.bar.inc(1);
        Ok(BakedNode { summary, pool: plan.pool.clone(), sums })
    }

    /// The machine's files, first boot's included, sorted by path.
    fn plan(&self, machine: &Machine) -> Result<NodePlan> {
        let (state, templates) = (self.state, self.templates);
        let mut plan = match machine {
            Machine::Node(node) => {
                let cluster = self.releases.of_node(node);
                let mut plan = plan_node(cluster, state, node, self.ca_hash)?;
                firstboot::add(&mut plan, cluster, node, templates)?;
                plan
            }
            Machine::Pool(pool) => {
                let cluster = self.releases.of_pool(pool);
                let mut plan = plan_pool(cluster, state, pool, self.ca_hash)?;
                firstboot::add_pool(&mut plan, cluster, pool, templates)?;
                plan
            }
        };
        plan.files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(plan)
    }

    /// The plan as the user-data delivers it: packed (and sealed) where the OS takes a pack.
    fn delivered(&self, plan: &NodePlan) -> Result<Option<NodePlan>> {
        if !firstboot::packs_files(self.cluster) {
            return Ok(None);
        }
        let packed = crate::deliver::pack::pack_plan(plan, firstboot::packs_with_xz(self.cluster));
        Ok(Some(match &self.sealing {
            Some((s, seed, tokens)) => crate::deliver::seal::seal_plan(packed, &s.recipient, seed, tokens)
                .map_err(|m| Error::crypto(format!("sealing {}'s user-data", plan.name), m))?,
            None => packed,
        }))
    }

    /// Renders and writes the user-data; its summary and the files' sums.
    fn user_data(&self, plan: &NodePlan, sink: &Sink) -> Result<(NodeSummary, Vec<Sum>)> {
        let transformed = self.delivered(plan)?;
        let delivered = transformed.as_ref().unwrap_or(plan);
        let user_data = deliver::render(self.cluster, delivered);
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
        // User-data holds every secret the node gets, and so does its seed medium.
        let mut files: Vec<(String, &[u8], u32)> =
            user_data.files.iter().map(|r| (format!("{}/{}", plan.name, r.name), &r.bytes[..], 0o600)).collect();
        // A pool's machines are many, each named by whatever launches it: no one medium.
        let media = self.media.filter(|_| plan.pool.is_none());
        let medium = media.map(|kind| seed_medium(kind, &user_data)).transpose()?;
        if let Some((name, bytes)) = &medium {
            files.push((format!("{}/{name}", plan.name), bytes, 0o600));
        }
        Ok((summary, write_all(sink, files)?))
    }
}

/// The node's NoCloud seed medium, made from the files a NoCloud seed holds, in the order
/// [`seed::write`] puts them, so that both give the same bytes.
fn seed_medium(kind: MediaKind, user_data: &deliver::UserData) -> Result<(&'static str, Vec<u8>)> {
    let files: Vec<SeedFile> = seed::SEED_FILES
        .iter()
        .filter_map(|name| user_data.files.iter().find(|r| r.name == *name))
        .map(|r| SeedFile { name: r.name, bytes: &r.bytes })
        .collect();
    Ok((kind.file_name(), seed::image(kind, &files)?))
}

/// The clear files under `<node>/rootfs/` (the operator's; the user-data gets them sealed).
fn rootfs(plan: &NodePlan, sink: &Sink) -> Result<Vec<Sum>> {
    let tree = plan.tree();
    write_all(sink, tree.iter().map(|f| (format!("{}/rootfs{}", plan.name, f.path), f.contents, f.mode)).collect())
}

/// Puts each file, and returns their sums.
fn write_all(sink: &Sink, files: Vec<(String, &[u8], u32)>) -> Result<Vec<Sum>> {
    let mut sums = Vec::with_capacity(files.len());
    for (rel, bytes, mode) in files {
        sink.put(&rel, bytes, mode)?;
        sums.push((rel, digest(bytes)));
    }
    Ok(sums)
}

/// What gets a user-data of its own: a node, or a pool of identical workers.
pub(super) enum Machine<'a> {
    Node(&'a crate::model::Node),
    Pool(&'a crate::model::WorkerPool),
}

/// Where a node's files go.
pub(super) enum Sink<'a> {
    /// Into the tree that will replace the output.
    Staging(&'a Staging),
    /// To a function that looks at it ([`super::bake_to`]).
    Visit(&'a (dyn Fn(&str, &[u8]) + Sync)),
    /// Nowhere, but checked against the output in place: `differs` is set at the first
    /// file that is not there as it would be written, and the rest is not read.
    Compare { out: &'a Path, differs: &'a std::sync::atomic::AtomicBool },
}

impl Sink<'_> {
    pub(super) fn put(&self, rel: &str, bytes: &[u8], mode: u32) -> Result<()> {
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
pub(super) type Sum = (String, [u8; 32]);

/// One node's part of the bake: its summary and the digests of the files it wrote.
pub(super) struct BakedNode {
    pub(super) summary: NodeSummary,
    /// The pool whose user-data this is, if it is a pool's.
    pub(super) pool: Option<String>,
    pub(super) sums: Vec<Sum>,
}

/// A bar on stderr for bakes of many nodes, when the caller asked for one (it knows
/// whether stderr is a terminal); hidden otherwise.
pub(super) fn progress_bar(wanted: bool, nodes: usize) -> indicatif::ProgressBar {
    if !wanted || nodes < PROGRESS_FROM_NODES {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(nodes as u64);
    let style = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} nodes {msg}").expect("a valid template");
    bar.set_style(style);
    bar.set_message("rendered and written");
    bar
}
