//! The cluster as each of its releases sees it. While a cluster moves to a newer minor by
//! replacing machines, nodes first baked for the older release keep it (and their files);
//! whatever renders a node's files reads the cluster through [`Releases::of_node`], whose
//! `kubernetes_version` is that node's own.

use std::collections::BTreeMap;

use crate::model::{Cluster, Node, Version, WorkerPool};

/// The spec's cluster, and one copy of it per older release a node or pool keeps.
pub struct Releases<'a> {
    current: &'a Cluster,
    older: BTreeMap<Version, Cluster>,
}

impl<'a> Releases<'a> {
    /// One view per release in use; no copy at all while every node runs the spec's.
    pub fn of(cluster: &'a Cluster) -> Releases<'a> {
        let kept =
            cluster.nodes.iter().filter_map(|n| n.release).chain(cluster.worker_pools.iter().filter_map(|p| p.release));
        let mut older = BTreeMap::new();
        for release in kept {
            older.entry(release).or_insert_with(|| Cluster { kubernetes_version: release, ..cluster.clone() });
        }
        Releases { current: cluster, older }
    }

    /// The cluster at `release` (None: the spec's).
    pub fn at(&self, release: Option<Version>) -> &Cluster {
        release.and_then(|r| self.older.get(&r)).unwrap_or(self.current)
    }

    /// The cluster as `node` runs it.
    pub fn of_node(&self, node: &Node) -> &Cluster {
        self.at(node.release)
    }

    /// The cluster as `pool`'s machines run it.
    pub fn of_pool(&self, pool: &WorkerPool) -> &Cluster {
        self.at(pool.release)
    }
}
