//! Where a bake's files go: to a visitor, or to the output directory, which is replaced
//! whole (or left as it is when the bake would change nothing in it).

use std::fs;

use crate::error::Result;
use crate::files::{SUMS_FILE, Staging, digest, sha256sums_of};
use crate::state;

use super::node::{BakedNode, Baker, Machine, Sink, Sum};
use super::{OPERATOR_KUBECONFIG, Options, Target};

/// Every machine baked, each its own result, in the order of `machines`.
pub(super) type Baked = Vec<Result<BakedNode>>;

/// Bakes every machine to the target. For the output directory, the staging tree that
/// will replace it, or None when the output in place is already what this bake gives;
/// the state is saved before this returns, if it changed.
pub(super) fn bake_machines(
    opts: &Options,
    target: Target,
    baker: &Baker,
    machines: &[Machine],
    unsaved: Option<state::Unsaved>,
    operator_yaml: &str,
) -> Result<(Baked, Option<Staging>)> {
    match target {
        Target::Visit(visit) => {
            // Nothing is saved: what the state would gain is in the report.
            drop(unsaved);
            Ok((crate::parallel_map(machines, |m| baker.bake(m, &Sink::Visit(visit))), None))
        }
        Target::Out => {
            if unsaved.is_none()
                && let Some(baked) = unchanged_in_place(opts, baker, machines, operator_yaml)?
            {
                // The output's Staging removes what killed runs left beside it; a bake
                // that writes nothing must too, not leave it for the next change.
                crate::files::remove_stale_staging(&opts.out)?;
                return Ok((baked, None));
            }
            staged(opts, baker, machines, unsaved)
        }
    }
}

/// A re-bake that changes nothing (same state, same output) writes nothing: the nodes are
/// rendered and compared with the output in place first. On a disk, building a tree of a
/// thousand nodes is mostly its 16,000 mkdirs, whatever is linked or written. Returns the
/// machines baked when everything, SHA256SUMS included, is as it would be written.
fn unchanged_in_place(
    opts: &Options,
    baker: &Baker,
    machines: &[Machine],
    operator_yaml: &str,
) -> Result<Option<Baked>> {
    let Ok(old_sums) = fs::read(opts.out.join(SUMS_FILE)) else { return Ok(None) };
    let differs = std::sync::atomic::AtomicBool::new(false);
    let sink = Sink::Compare { out: &opts.out, differs: &differs };
    let baked: Vec<Option<Result<BakedNode>>> = crate::parallel_map(machines, |m| {
        (!differs.load(std::sync::atomic::Ordering::Relaxed)).then(|| baker.bake(m, &sink))
    });
    sink.put(OPERATOR_KUBECONFIG, operator_yaml.as_bytes(), 0o600)?;
    let mut in_place = None;
    if !differs.into_inner() {
        let baked = baked.into_iter().map(|b| b.expect("rendered, as nothing differed")).collect::<Vec<_>>();
        let mut sums = Vec::new();
        for node in baked.iter().flatten() {
            sums.extend(node.sums.iter().cloned());
        }
        sums.push((OPERATOR_KUBECONFIG.to_string(), digest(operator_yaml.as_bytes())));
        if sha256sums_of(sums).into_bytes() == old_sums {
            in_place = Some(baked);
        }
    }
    baker.bar.reset();
    Ok(in_place)
}

/// Bakes every machine into a staging tree for the output, saving the state meanwhile.
fn staged(
    opts: &Options,
    baker: &Baker,
    machines: &[Machine],
    unsaved: Option<state::Unsaved>,
) -> Result<(Baked, Option<Staging>)> {
    let staging = Staging::new(&opts.out, 0o700, false)?.reusing_previous();
    let sink = Sink::Staging(&staging);
    // The state is saved before the output is committed, so the output never refers to a
    // state that is not on disk.
    unsaved.map(state::Unsaved::save).transpose()?;
    Ok((crate::parallel_map(machines, |m| baker.bake(m, &sink)), Some(staging)))
}

/// Adds the operator's kubeconfig and SHA256SUMS to what the machines wrote, and commits
/// the staging tree (if any) as the output.
pub(super) fn finish(target: Target, staging: Option<Staging>, operator_yaml: &str, mut sums: Vec<Sum>) -> Result<()> {
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
    Ok(())
}
