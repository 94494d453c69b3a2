//! cloud-init: `#cloud-config` user-data (files through `write_files`), NoCloud
//! `meta-data`, and `network-config` (v2) when the spec gives static addressing.

// The structs mirror cloud-init's cloud-config modules, NoCloud meta-data and network config v2.
#![allow(missing_docs)]

use std::borrow::Cow;

use serde::Serialize;

use super::{Rendered, UserData, base64, gzip};
use crate::model::Cluster;
use crate::model::profile::Format;
use crate::node::plan::{FIRSTBOOT_UNIT, NodePlan};

#[derive(Debug, Serialize)]
pub struct WriteFile<'a> {
    pub path: String,
    pub permissions: String,
    pub owner: &'static str,
    /// None for text carried as is; `b64` or `gz+b64` for anything else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    /// Text is borrowed from the plan: most of a control plane's 50 KB.
    pub content: Cow<'a, str>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum UserEntry {
    /// `default`: keep the image's own user.
    Default(&'static str),
    Create(NewUser),
}

#[derive(Debug, Serialize)]
pub struct NewUser {
    pub name: String,
    pub groups: Vec<String>,
    pub lock_passwd: bool,
    pub shell: &'static str,
    pub ssh_authorized_keys: Vec<String>,
    pub sudo: &'static str,
}

/// The `#cloud-config` document.
#[derive(Debug, Serialize)]
pub struct CloudConfig<'a> {
    /// None for a worker pool: cloud-init sets the platform's hostname for the instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub preserve_hostname: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserEntry>,
    /// Keys for the image's default user.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ssh_authorized_keys: Vec<String>,
    pub write_files: Vec<WriteFile<'a>>,
    pub runcmd: Vec<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct MetaData {
    pub instance_id: String,
    pub local_hostname: String,
}

#[derive(Debug, Serialize)]
pub struct NetworkConfig {
    pub version: u8,
    pub ethernets: std::collections::BTreeMap<String, Ethernet>,
}

#[derive(Debug, Serialize)]
pub struct Ethernet {
    pub addresses: Vec<String>,
    pub routes: Vec<Route>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nameservers: Option<Nameservers>,
}

#[derive(Debug, Serialize)]
pub struct Route {
    pub to: String,
    pub via: String,
}

#[derive(Debug, Serialize)]
pub struct Nameservers {
    pub addresses: Vec<String>,
}

/// Text goes in as a literal block, byte for byte, so that the gzip of the whole
/// user-data can share what files have in common (the CA certificate in every
/// kubeconfig, the flags across manifests): base64 inside the document would hide it, and
/// the control plane's user-data would not fit EC2's 16 KB. What a literal block cannot
/// carry exactly is base64-encoded, gzip'd first where that is smaller.
fn write_file<'a>(path: &str, mode: u32, owner: &'static str, contents: &'a [u8]) -> WriteFile<'a> {
    let permissions = format!("{mode:04o}");
    if let Ok(text) = std::str::from_utf8(contents)
        && crate::fmt::yaml::is_literal_block(text)
    {
        return WriteFile { path: path.to_string(), permissions, owner, encoding: None, content: Cow::Borrowed(text) };
    }
    let plain = base64(contents);
    let packed = base64(&gzip(contents));
    let (encoding, content) = if packed.len() < plain.len() { ("gz+b64", packed) } else { ("b64", plain) };
    WriteFile { path: path.to_string(), permissions, owner, encoding: Some(encoding), content: Cow::Owned(content) }
}

/// The node's `#cloud-config`: its hostname, the login user and keys, every planned file
/// under `write_files`, and a `runcmd` that starts first boot without waiting for it.
pub fn cloud_config<'a>(cluster: &Cluster, plan: &'a NodePlan) -> CloudConfig<'a> {
    let login = &cluster.login;
    let (users, default_keys) = if login.create {
        let user = NewUser {
            name: login.user.clone(),
            groups: vec![cluster.os.profile.admin_group.clone()],
            lock_passwd: true,
            shell: "/bin/bash",
            ssh_authorized_keys: login.ssh_authorized_keys.clone(),
            sudo: "ALL=(ALL) NOPASSWD:ALL",
        };
        (vec![UserEntry::Default("default"), UserEntry::Create(user)], Vec::new())
    } else {
        (Vec::new(), login.ssh_authorized_keys.clone())
    };
    CloudConfig {
        hostname: plan.pool.is_none().then(|| plan.name.clone()),
        preserve_hostname: false,
        users,
        ssh_authorized_keys: default_keys,
        write_files: plan.tree().iter().map(|f| write_file(&f.path, f.mode, f.owner, f.contents)).collect(),
        runcmd: vec![
            vec!["systemctl".into(), "daemon-reload".into()],
            vec!["systemctl".into(), "enable".into(), "--now".into(), "--no-block".into(), FIRSTBOOT_UNIT.into()],
        ],
    }
}

/// The node's NoCloud seed: `user-data` (and its gzip, for platforms with a size limit),
/// `meta-data` for a named node, and `network-config` when the spec sets static addressing.
pub fn render(cluster: &Cluster, plan: &NodePlan) -> UserData {
    let config = cloud_config(cluster, plan);
    // Room for the whole document at once: growing it by doubling would copy and fault in
    // half again as much. Literal blocks indent each line; a quarter more covers it.
    let content: usize = config.write_files.iter().map(|f| f.content.len() * 5 / 4 + f.path.len() + 64).sum();
    let mut user_data = String::with_capacity(content + 4096);
    user_data.push_str("#cloud-config\n");
    crate::fmt::yaml::append(&mut user_data, &config);
    let compressed = super::gzip_to_fit(user_data.as_bytes());
    let (raw, delivered) = (user_data.len(), compressed.len().min(user_data.len()));
    let mut files = Vec::new();
    // NoCloud's meta-data names one instance; a pool's machines are many, and whatever
    // launches them (the cloud, the hypervisor) gives each its own.
    if plan.pool.is_none() {
        let meta = MetaData {
            instance_id: format!("kubebake-{}-{}", cluster.name, plan.name),
            local_hostname: plan.name.clone(),
        };
        files.push(Rendered { name: "meta-data", bytes: crate::fmt::yaml::to_string(&meta).into_bytes() });
    }
    files.push(Rendered { name: "user-data", bytes: user_data.into_bytes() });
    files.push(Rendered { name: "user-data.gz", bytes: compressed });
    let node = plan.pool.is_none().then(|| cluster.node(&plan.name)).flatten();
    if let (Some(net), Some(node)) = (&cluster.node_network, node) {
        let default = if net.gateway.is_ipv6() { "::/0" } else { "0.0.0.0/0" };
        let ethernet = Ethernet {
            addresses: vec![format!("{}/{}", node.address, net.prefix_length)],
            routes: vec![Route { to: default.into(), via: net.gateway.to_string() }],
            nameservers: (!net.nameservers.is_empty())
                .then(|| Nameservers { addresses: net.nameservers.iter().map(|a| a.to_string()).collect() }),
        };
        let config = NetworkConfig { version: 2, ethernets: [(net.interface.clone(), ethernet)].into() };
        files.push(Rendered { name: "network-config", bytes: crate::fmt::yaml::to_string(&config).into_bytes() });
    }
    UserData { format: Format::CloudInit, files, raw, delivered }
}
