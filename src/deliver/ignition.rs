//! Ignition: `config.ign` (spec 3.3.0 by default). Every Ignition node is packed (`pack`:
//! its hostname, network file, the unpacker and the already compressed pack, sealed or
//! not), so the config is written as it is, each text file gzip'd on its own where that is
//! shorter: wrapping the config in a compressed one would base64 the pack twice.

// The structs mirror the Ignition 3.x config spec field for field.
#![allow(missing_docs)]

use serde::Serialize;

use super::{Rendered, UserData, base64};
use crate::model::Cluster;
use crate::model::profile::Format;
use crate::node::plan::NodePlan;

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

/// A file's contents as a data URL: text percent-encoded, anything else (the node pack,
/// compressed already) base64.
fn resource(contents: &[u8]) -> Resource {
    match std::str::from_utf8(contents) {
        Ok(text) => Resource { compression: None, source: format!("data:,{}", percent_encode(text)) },
        Err(_) => Resource { compression: None, source: format!("data:;base64,{}", base64(contents)) },
    }
}

/// RFC 3986 percent-encoding of all but unreserved characters and the sub-delimiters
/// and separators PEM, YAML and scripts are full of (`/ : = , ; @ ! $ ' ( ) *`), which
/// a data URL carries as they are. `+` is encoded: some decoders read it as a space.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/:=,;@!$'()*".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The node's config: its login, files and units, each file as short as a data URL makes it.
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
                .map(|f| File {
                    path: f.path.clone(),
                    mode: f.mode,
                    overwrite: true,
                    contents: standalone_resource(&f.contents),
                })
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

/// A file's contents as the config itself carries them: for text, the shorter of the text
/// percent-encoded and the bytes gzip'd and base64-encoded.
fn standalone_resource(contents: &[u8]) -> Resource {
    let plain = resource(contents);
    // Binary here is compressed or sealed already.
    if plain.source.starts_with("data:;base64,") {
        return plain;
    }
    let gzipped =
        Resource { compression: Some("gzip"), source: format!("data:;base64,{}", base64(&super::gzip(contents))) };
    if plain.source.len() <= gzipped.source.len() { plain } else { gzipped }
}

/// The node's `config.ign`, one line of JSON, delivered uncompressed: its files carry
/// their own compression.
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

#[cfg(test)]
mod tests {
    #[test]
    fn percent_encoding_keeps_pem_and_yaml_readable_and_escapes_the_rest() {
        assert_eq!(super::percent_encode("a: b/c=d+e\n#x%"), "a:%20b/c=d%2Be%0A%23x%25");
    }
}
