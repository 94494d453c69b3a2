//! Ignition: `config.ign` (spec 3.3.0 by default), in one of two shapes. A packed node
//! (`pack`: its hostname, network file, the unpacker and the already compressed pack) gets
//! the config itself, each text file gzip'd on its own where that is shorter: wrapping it
//! would base64 the pack twice. Any other (a sealed node's many files): a small outer config
//! that replaces itself with the whole config gzip'd (`ignition.config.replace`, spec 3.1+),
//! as one compression over all files shares what they have in common.

use serde::Serialize;

use super::{Rendered, UserData, base64};
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

/// The outer config: nothing but the reference to the real one.
#[derive(Debug, Serialize)]
pub struct Outer {
    pub ignition: OuterMeta,
}

#[derive(Debug, Serialize)]
pub struct OuterMeta {
    pub config: ConfigRefs,
    pub version: String,
}

#[derive(Debug, Serialize)]
pub struct ConfigRefs {
    pub replace: Resource,
}

/// A file's contents inside the (compressed) inner config: text percent-encoded, so that
/// the compression over the whole config sees the text itself; anything else (the node
/// pack, compressed already) base64.
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

/// The whole config gzip'd inside one that replaces itself with it.
fn wrapped(cluster: &Cluster, inner: &Config) -> Vec<u8> {
    let inner = serde_json::to_vec(inner).expect("the config serialises");
    let outer = Outer {
        ignition: OuterMeta {
            config: ConfigRefs {
                replace: Resource {
                    compression: Some("gzip"),
                    source: format!("data:;base64,{}", base64(&super::gzip_document(&inner))),
                },
            },
            version: cluster.os.ignition_version.clone(),
        },
    };
    serde_json::to_vec(&outer).expect("the config serialises")
}

pub fn render(cluster: &Cluster, plan: &NodePlan) -> UserData {
    let mut config = config(cluster, plan);
    let packed = plan.files.iter().any(|f| [crate::pack::PACK_XZ, crate::pack::PACK_GZ].contains(&f.path.as_str()));
    let mut json = if packed {
        for (file, planned) in config.storage.files.iter_mut().zip(&plan.files) {
            file.contents = standalone_resource(&planned.contents);
        }
        serde_json::to_vec(&config).expect("the config serialises")
    } else {
        wrapped(cluster, &config)
    };
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
