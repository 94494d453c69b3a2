//! What lands on each node: files at their absolute paths with mode and owner. Every
//! writer renders from this, so every output format lands the same files.

use crate::kubeconfig;
use crate::model::{Cluster, Node, Role};
use crate::pki::CaId;
use crate::state::{State, node_kubeconfig_stem, node_pki_stem};

pub const PKI_DIR: &str = "/etc/kubernetes/pki";
pub const KUBERNETES_DIR: &str = "/etc/kubernetes";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Absolute path on the node.
    pub path: String,
    pub mode: u32,
    pub owner: &'static str,
    pub contents: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct NodePlan {
    pub name: String,
    pub role: Role,
    pub files: Vec<PlannedFile>,
}

impl NodePlan {
    fn add(&mut self, path: String, mode: u32, contents: impl Into<Vec<u8>>) {
        debug_assert!(!self.files.iter().any(|f| f.path == path), "{path} planned twice");
        self.files.push(PlannedFile { path, mode, owner: "root:root", contents: contents.into() });
    }

    fn cert(&mut self, stem: &str, cert_pem: &str) {
        self.add(format!("{PKI_DIR}/{stem}.crt"), 0o644, cert_pem);
    }

    fn key(&mut self, stem: &str, key_pem: &str) {
        self.add(format!("{PKI_DIR}/{stem}.key"), 0o600, key_pem);
    }
}

/// The plan for every node, in spec order.
pub fn plan(cluster: &Cluster, state: &State) -> Vec<NodePlan> {
    cluster.nodes.iter().map(|node| plan_node(cluster, state, node)).collect()
}

fn plan_node(cluster: &Cluster, state: &State, node: &Node) -> NodePlan {
    let mut p = NodePlan { name: node.name.clone(), role: node.role, files: Vec::new() };
    let ca_pem = &state.ca(CaId::Kubernetes).cert_pem;
    match node.role {
        // A worker trusts the cluster CA and holds no key: its kubelet gets a client
        // certificate through the bootstrap token and a CSR.
        Role::Worker => p.cert("ca", ca_pem),
        Role::ControlPlane => {
            for id in CaId::ALL {
                p.cert(id.stem(), &state.ca(id).cert_pem);
                p.key(id.stem(), &state.ca_key_pem(id));
            }
            p.key("sa", state.sa_key_pem());
            p.add(format!("{PKI_DIR}/sa.pub"), 0o600, state.sa_pub_pem());
            for leaf in crate::pki::control_plane_leaves(cluster, node) {
                let stored = state.leaf(&node_pki_stem(&node.name, leaf.stem));
                p.cert(leaf.stem, &stored.cert_pem);
                p.key(leaf.stem, &stored.key_pem);
            }
            for identity in kubeconfig::node_identities(cluster, node) {
                let stored = state.leaf(&node_kubeconfig_stem(&node.name, identity.file_stem));
                let kc = kubeconfig::for_node(cluster, node, &identity, ca_pem, &stored.cert_pem, &stored.key_pem);
                p.add(format!("{KUBERNETES_DIR}/{}.conf", identity.file_stem), 0o600, kc.to_yaml());
            }
        }
    }
    p.files.sort_by(|a, b| a.path.cmp(&b.path));
    p
}
