//! Ignition: `config.ign` (spec 3.3.0 by default), files under `storage.files` as data
//! URLs, gzip-compressed where that makes them smaller, units under `systemd.units`.

use serde::Serialize;

use super::{Rendered, UserData, base64, gzip};
use crate::model::Cluster;
use crate::plan::NodePlan;
use crate::profile::Format;

#[derive(Debug, Serialize)]
pub struct Config {
    pub ignition: Meta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passwd: Option<Passwd>,
    pub storage: Storage,
    pub systemd: Systemd,
}

#[derive(Debug, Serialize)]
pub struct Meta {
    pub version: String,
}

#[derive(Debug, Serialize)]
pub struct Passwd {
    pub users: Vec<User>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    pub ssh_authorized_keys: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Storage {
    pub files: Vec<File>,
}

/// A file; owner and group are left out, which Ignition takes as root.
#[derive(Debug, Serialize)]
pub struct File {
    pub path: String,
    pub mode: u32,
    pub overwrite: bool,
    pub contents: Resource,
}

#[derive(Debug, Serialize)]
pub struct Resource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<&'static str>,
    pub source: String,
}

#[derive(Debug, Serialize)]
pub struct Systemd {
    pub units: Vec<Unit>,
}

#[derive(Debug, Serialize)]
pub struct Unit {
    pub contents: String,
    pub enabled: bool,
    pub name: String,
}

fn resource(contents: &[u8]) -> Resource {
    let packed = gzip(contents);
    if packed.len() < contents.len() {
        Resource { compression: Some("gzip"), source: format!("data:;base64,{}", base64(&packed)) }
    } else {
        Resource { compression: None, source: format!("data:;base64,{}", base64(contents)) }
    }
}

pub fn config(cluster: &Cluster, plan: &NodePlan) -> Config {
    let login = &cluster.login;
    let passwd = (login.create || !login.ssh_authorized_keys.is_empty()).then(|| Passwd {
        users: vec![User {
            name: login.user.clone(),
            groups: if login.create { vec![cluster.os.profile.admin_group.clone()] } else { Vec::new() },
            ssh_authorized_keys: login.ssh_authorized_keys.clone(),
        }],
    });
    Config {
        ignition: Meta { version: cluster.os.ignition_version.clone() },
        passwd,
        storage: Storage {
            files: plan
                .files
                .iter()
                .map(|f| File { path: f.path.clone(), mode: f.mode, overwrite: true, contents: resource(&f.contents) })
                .collect(),
        },
        systemd: Systemd {
            units: plan
                .units
                .iter()
                .map(|u| Unit { contents: u.contents.clone(), enabled: u.enabled, name: u.name.clone() })
                .collect(),
        },
    }
}

pub fn render(cluster: &Cluster, plan: &NodePlan) -> UserData {
    let mut json = serde_json::to_vec(&config(cluster, plan)).expect("the config serialises");
    json.push(b'\n');
    let raw = json.len();
    UserData {
        format: Format::Ignition,
        files: vec![Rendered { name: "config.ign", bytes: json }],
        raw,
        delivered: raw,
    }
}
