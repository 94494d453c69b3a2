//! Kubeconfig files: the identities kubeadm gives each control-plane component and user,
//! and the typed file format they are written in.

// Kubeconfig and the types below it mirror client-go's kubeconfig v1 format (`kind: Config`).
#![allow(missing_docs)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::model::{Cluster, Node, local_api_url};
use crate::pki::Profile;

/// Where a kubeconfig points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// `controlPlaneEndpoint`: what admins and load-balanced clients use.
    Endpoint,
    /// The node's own API server (`https://<advertise address>:6443`).
    Local,
}

/// One kubeconfig kubeadm writes on a control plane, with the client certificate it holds.
#[derive(Debug, Clone)]
pub struct Identity {
    /// File name under `/etc/kubernetes` is `<file_stem>.conf`.
    pub file_stem: &'static str,
    /// The kubeconfig's user name: the certificate's CN, as kubeadm names it.
    pub user: String,
    /// Which API server address the file points at.
    pub server: Server,
    /// The client certificate to issue: CN is the Kubernetes user, O its groups.
    pub profile: Profile,
}

/// The kubeconfigs of a control-plane node, as kubeadm of every supported minor writes
/// them: admin and super-admin point at the endpoint; the kubelet
/// (ControlPlaneKubeletLocalMode: on by default in 1.33 and 1.34, always from 1.35),
/// controller manager and scheduler at the node's own API server.
/// super-admin.conf (system:masters, past RBAC) only on the first control plane, as
/// `kubeadm init` writes it and `kubeadm join` does not.
pub fn node_identities(cluster: &Cluster, node: &Node) -> Vec<Identity> {
    let id = |file_stem, cn: &str, orgs: &[&str], server| Identity {
        file_stem,
        user: cn.to_string(),
        server,
        profile: Profile::kubernetes_client(cluster, cn, orgs),
    };
    let first = cluster.is_init_node(node);
    let mut ids = vec![id("admin", "kubernetes-admin", &["kubeadm:cluster-admins"], Server::Endpoint)];
    if first {
        ids.push(id("super-admin", "kubernetes-super-admin", &["system:masters"], Server::Endpoint));
    }
    ids.extend([
        id("controller-manager", "system:kube-controller-manager", &[], Server::Local),
        id("scheduler", "system:kube-scheduler", &[], Server::Local),
        id("kubelet", &format!("system:node:{}", node.name), &["system:nodes"], Server::Local),
    ]);
    ids
}

/// A worker's kubelet identity, pre-issued for external-CA clusters (elsewhere a worker's
/// kubelet gets it through the bootstrap token and a CSR). It reaches the API through the
/// endpoint, as a joined worker's kubelet.conf does.
pub fn worker_kubelet_identity(cluster: &Cluster, node: &Node) -> Identity {
    let cn = format!("system:node:{}", node.name);
    Identity {
        file_stem: "kubelet",
        profile: Profile::kubernetes_client(cluster, &cn, &["system:nodes"]),
        user: cn,
        server: Server::Endpoint,
    }
}

/// The kubeconfig for the person who baked the cluster: a cluster-admin identity of its
/// own, whose key never lands on any node.
pub fn operator_identity(cluster: &Cluster) -> Identity {
    Identity {
        file_stem: "admin",
        user: format!("{}-admin", cluster.name),
        server: Server::Endpoint,
        profile: Profile::kubernetes_client(cluster, "kubebake-operator", &["kubeadm:cluster-admins"]),
    }
}

/// A kubeconfig file (`kind: Config`), fields in the order client-go writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kubeconfig {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub clusters: Vec<NamedCluster>,
    pub contexts: Vec<NamedContext>,
    #[serde(rename = "current-context")]
    pub current_context: String,
    pub kind: String,
    /// Empty; written by client-go until 1.33 (kubeadm's kubeconfigs carry it then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferences: Option<Preferences>,
    pub users: Vec<NamedUser>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Preferences {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub cluster: ClusterEntry,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterEntry {
    #[serde(rename = "certificate-authority-data")]
    pub certificate_authority_data: String,
    pub server: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    pub context: Context,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub cluster: String,
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    pub user: UserEntry,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEntry {
    #[serde(rename = "client-certificate-data", skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    #[serde(rename = "client-key-data", skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// What goes into one kubeconfig.
pub struct Contents<'a> {
    /// Whether to write `preferences: {}`, as client-go did until 1.33.
    pub preferences: bool,
    /// The name of the one cluster entry, which the context refers to.
    pub cluster_name: &'a str,
    /// The name of the one user entry, which the context refers to.
    pub user: &'a str,
    /// The one context's name, which is also the current context.
    pub context: String,
    /// The API server URL, `https://host:port`.
    pub server: String,
    /// The cluster CA certificate clients verify the API server against (PEM).
    pub ca_pem: &'a str,
    /// How the user authenticates: a client certificate and its key.
    pub credentials: UserEntry,
}

impl Kubeconfig {
    /// A kubeconfig with one cluster, one user and one context joining them, made current.
    pub fn new(c: Contents<'_>) -> Self {
        Kubeconfig {
            api_version: "v1".into(),
            clusters: vec![NamedCluster {
                cluster: ClusterEntry { certificate_authority_data: B64.encode(c.ca_pem), server: c.server },
                name: c.cluster_name.to_string(),
            }],
            contexts: vec![NamedContext {
                context: Context { cluster: c.cluster_name.to_string(), user: c.user.to_string() },
                name: c.context.clone(),
            }],
            current_context: c.context,
            kind: "Config".into(),
            preferences: c.preferences.then_some(Preferences {}),
            users: vec![NamedUser { name: c.user.to_string(), user: c.credentials }],
        }
    }

    /// The file's text, as it is written to the node or the operator's directory.
    pub fn to_yaml(&self) -> String {
        crate::fmt::yaml::to_string(self)
    }
}

/// Client-certificate credentials from PEM texts.
pub fn client_cert(cert_pem: &str, key_pem: &str) -> UserEntry {
    UserEntry {
        client_certificate_data: Some(B64.encode(cert_pem)),
        client_key_data: Some(B64.encode(key_pem)),
        token: None,
    }
}

/// A control plane's kubeconfig for `identity`, with kubeadm's names
/// (`<user>@<clusterName>` contexts).
pub fn for_node(
    cluster: &Cluster,
    node: &Node,
    identity: &Identity,
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Kubeconfig {
    let server = match identity.server {
        Server::Endpoint => cluster.endpoint.url(),
        Server::Local => local_api_url(node.address),
    };
    Kubeconfig::new(Contents {
        preferences: cluster.kubernetes_version.kubeadm().kubeconfig_preferences,
        cluster_name: &cluster.cluster_name,
        user: &identity.user,
        context: format!("{}@{}", identity.user, cluster.cluster_name),
        server,
        ca_pem,
        credentials: client_cert(cert_pem, key_pem),
    })
}

/// The operator's kubeconfig, named after the spec's cluster so it merges cleanly with
/// other kubeconfigs.
pub fn for_operator(cluster: &Cluster, identity: &Identity, ca_pem: &str, cert_pem: &str, key_pem: &str) -> Kubeconfig {
    Kubeconfig::new(Contents {
        preferences: cluster.kubernetes_version.kubeadm().kubeconfig_preferences,
        cluster_name: &cluster.name,
        user: &identity.user,
        context: cluster.name.clone(),
        server: cluster.endpoint.url(),
        ca_pem,
        credentials: client_cert(cert_pem, key_pem),
    })
}
