//! What the state remembers of the cluster's machines from bake to bake: the release each
//! named node and worker pool was first baked for, and which control plane ran `kubeadm
//! init`. A running node is replaced, never upgraded in place (docs/day-2.md): after
//! `kubernetesVersion` moves up, a re-bake keeps every recorded node at its release (its
//! files do not change) and bakes only new machines at the new one. Kubernetes' version
//! skew rules are checked here, against what the cluster runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Cluster, Role, Version};

/// The record of the cluster's machines, kept in the state's record file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct History {
    /// The control plane that ran `kubeadm init`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_node: Option<String>,
    /// Each named node of the last bake.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, Baked>,
    /// Each worker pool of the last bake.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub worker_pools: BTreeMap<String, Baked>,
}

/// What one machine (or pool) was first baked as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Baked {
    /// The release, `v1.36.3`.
    pub kubernetes_version: String,
    /// Whether it is a control plane (whose release the API server's is).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub control_plane: bool,
    /// The older control planes' release the cluster had when this control plane was baked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_from: Option<String>,
}

impl History {
    /// Whether nothing is recorded (a state from before kubebake kept a history).
    pub fn is_empty(&self) -> bool {
        self.init_node.is_none() && self.nodes.is_empty() && self.worker_pools.is_empty()
    }

    /// What `cluster` (with [`apply`] done) leaves for the next bake.
    pub fn of(cluster: &Cluster) -> History {
        let nodes = cluster
            .nodes
            .iter()
            .map(|n| {
                let baked = Baked {
                    kubernetes_version: cluster.release_of(n).to_string(),
                    control_plane: n.role == Role::ControlPlane,
                    upgrade_from: n.upgrade_from.map(|v| v.to_string()),
                };
                (n.name.clone(), baked)
            })
            .collect();
        let worker_pools = cluster
            .worker_pools
            .iter()
            .map(|p| {
                let v = p.release.unwrap_or(cluster.kubernetes_version).to_string();
                (p.name.clone(), Baked { kubernetes_version: v, control_plane: false, upgrade_from: None })
            })
            .collect();
        let init_node = cluster.initialized_by.clone().or_else(|| cluster.init_node().map(|n| n.name.clone()));
        History { init_node, nodes, worker_pools }
    }
}

/// A recorded release, which this kubebake may no longer support.
fn release(what: &str, text: &str) -> Result<Version> {
    Version::parse(text).map_err(|m| {
        Error::Usage(format!(
            "the state records {what} at {text}, which this kubebake cannot bake ({m}): replace it with a \
             kubebake that still supports that release first"
        ))
    })
}

/// Gives each node and pool of `cluster` the release the state recorded for it, and the
/// cluster its init node; refuses a `kubernetesVersion` that breaks the version skew rules
/// against what the cluster runs (the recorded control planes included, as a node that
/// replaces one is baked while the old one still runs).
pub fn apply(cluster: &mut Cluster, stored: &History) -> Result<()> {
    let target = cluster.kubernetes_version;
    cluster.initialized_by = stored.init_node.clone();
    // The oldest control plane the cluster may still run: in the spec, or recorded and
    // about to be replaced.
    let mut oldest_control_plane: Option<(Version, String)> = None;
    for (name, baked) in stored.nodes.iter().filter(|(_, b)| b.control_plane) {
        let v = release(&format!("control plane {name}"), &baked.kubernetes_version)?;
        if oldest_control_plane.as_ref().is_none_or(|(o, _)| v < *o) {
            oldest_control_plane = Some((v, name.clone()));
        }
    }
    for node in &mut cluster.nodes {
        let Some(baked) = stored.nodes.get(&node.name) else {
            if node.role == Role::ControlPlane {
                node.upgrade_from = oldest_control_plane.as_ref().map(|(v, _)| *v).filter(|v| *v < target);
            }
            continue;
        };
        let v = release(&format!("node {}", node.name), &baked.kubernetes_version)?;
        refuse_downgrade(target, v, &node.name)?;
        node.release = (v != target).then_some(v);
        node.upgrade_from =
            baked.upgrade_from.as_deref().map(|u| release(&format!("node {}", node.name), u)).transpose()?;
    }
    for pool in &mut cluster.worker_pools {
        if let Some(baked) = stored.worker_pools.get(&pool.name) {
            let v = release(&format!("worker pool {}", pool.name), &baked.kubernetes_version)?;
            refuse_downgrade(target, v, &format!("worker pool {}", pool.name))?;
            pool.release = (v != target).then_some(v);
        }
    }
    check_skew(cluster, stored, oldest_control_plane)
}

fn refuse_downgrade(target: Version, recorded: Version, what: &str) -> Result<()> {
    if target < recorded {
        return Err(Error::Usage(format!(
            "spec.kubernetesVersion: {target} is older than {recorded}, which {what} was baked for: kubeadm \
             does not downgrade a cluster"
        )));
    }
    Ok(())
}

/// Kubernetes' version skew policy, for a cluster that moves one minor at a time by
/// replacing machines: the API servers at most one minor apart, and a kubelet never newer
/// than any API server nor more than three minors older.
fn check_skew(cluster: &Cluster, stored: &History, oldest: Option<(Version, String)>) -> Result<()> {
    let target = cluster.kubernetes_version;
    let Some((oldest, name)) = oldest else { return Ok(()) };
    if target.minor > oldest.minor + 1 {
        return Err(Error::Usage(format!(
            "spec.kubernetesVersion: {target} is more than one minor past {oldest}, which control plane {name} \
             runs: kubeadm upgrades one minor at a time (bake v{}.{}, replace every control plane of {oldest}, \
             then go on)",
            oldest.major,
            oldest.minor + 1
        )));
    }
    let upgrading = oldest.minor < target.minor;
    for (i, node) in cluster.nodes.iter().enumerate() {
        let v = cluster.release_of(node);
        if node.role == Role::Worker && v.minor + 3 < target.minor {
            return Err(Error::Usage(format!(
                "spec.nodes[{i}]: worker {} runs {v}, more than three minors older than {target}: a kubelet may be \
                 at most three minors older than the API server; replace it first",
                node.name
            )));
        }
        if upgrading && node.role == Role::Worker && !stored.nodes.contains_key(&node.name) {
            return Err(Error::Usage(format!(
                "spec.nodes[{i}]: a new worker {} would run {target} while control plane {name} still runs {oldest}: \
                 a kubelet may not be newer than the API server; replace the control planes first, then the workers",
                node.name
            )));
        }
    }
    for (i, pool) in cluster.worker_pools.iter().enumerate() {
        let v = pool.release.unwrap_or(target);
        if v.minor + 3 < target.minor {
            return Err(Error::Usage(format!(
                "spec.workerPools[{i}]: worker pool {} runs {v}, more than three minors older than {target}: a \
                 kubelet may be at most three minors older than the API server; replace it with a new pool first",
                pool.name
            )));
        }
        if upgrading && !stored.worker_pools.contains_key(&pool.name) {
            return Err(Error::Usage(format!(
                "spec.workerPools[{i}]: a new worker pool {} would run {target} while control plane {name} still \
                 runs {oldest}: a kubelet may not be newer than the API server; replace the control planes first",
                pool.name
            )));
        }
    }
    Ok(())
}
