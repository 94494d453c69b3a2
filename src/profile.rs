//! OS profiles: what differs between the operating systems kubebake targets, as data
//! (`profiles/*.yaml`, embedded at build time; a user's own file works the same way).

use std::path::Path;

use serde::Deserialize;

/// The profiles shipped with kubebake, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("ubuntu-24.04", include_str!("../profiles/ubuntu-24.04.yaml")),
    ("debian-12", include_str!("../profiles/debian-12.yaml")),
    ("flatcar", include_str!("../profiles/flatcar.yaml")),
    ("fedora-coreos", include_str!("../profiles/fedora-coreos.yaml")),
];

pub const DEFAULT: &str = "ubuntu-24.04";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Format {
    #[serde(rename = "cloud-init")]
    CloudInit,
    #[serde(rename = "ignition")]
    Ignition,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::CloudInit => "cloud-init",
            Format::Ignition => "ignition",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Packages {
    /// Install and hold the pinned packages from the Kubernetes apt repository.
    Apt,
    /// Download the pinned release binaries and check them against their sha256.
    Download,
    /// The image already has them: check versions, install nothing.
    Prebaked,
    /// The image carries a `kubebake bundle` archive: install the binaries and import the
    /// images from it, with no network at all.
    Bundle,
}

impl Packages {
    pub fn name(self) -> &'static str {
        match self {
            Packages::Apt => "apt",
            Packages::Download => "download",
            Packages::Prebaked => "prebaked",
            Packages::Bundle => "bundle",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Firewall {
    Ufw,
    Firewalld,
    None,
}

impl Firewall {
    pub fn name(self) -> &'static str {
        match self {
            Firewall::Ufw => "ufw",
            Firewall::Firewalld => "firewalld",
            Firewall::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Profile {
    pub name: String,
    /// User-data formats the OS consumes; the first is the default.
    pub formats: Vec<Format>,
    pub packages: Packages,
    /// The distribution's containerd package, for `packages: apt`.
    #[serde(default)]
    pub containerd_package: Option<String>,
    pub firewall: Firewall,
    /// The image's default login user, given the SSH keys when the spec sets no user.
    pub login_user: String,
    /// The group that grants sudo, given to a login user kubebake creates.
    #[serde(default = "default_admin_group")]
    pub admin_group: String,
    /// Where kubeadm, kubelet and kubectl are (or go).
    pub bin_dir: String,
    /// CA directories the OS has, which kubeadm mounts into the control plane.
    #[serde(default)]
    pub ca_dirs: Vec<String>,
    /// Flexvolume plugin directory when the default under /usr is read-only.
    #[serde(default)]
    pub flex_volume_dir: Option<String>,
    /// containerd.service needs a drop-in to read /etc/containerd/config.toml.
    #[serde(default)]
    pub containerd_config_drop_in: bool,
    /// How static addressing is written where cloud-init's network-config does not apply.
    #[serde(default)]
    pub network_config: Option<NetworkConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkConfig {
    /// A systemd-networkd `.network` file.
    Networkd,
    /// A NetworkManager keyfile.
    NetworkManager,
}

fn default_admin_group() -> String {
    "sudo".into()
}

impl Profile {
    /// Reads a profile; `label` names it in errors.
    pub fn parse(text: &str, label: &str) -> Result<Profile, String> {
        let p: Profile = serde_yaml::from_str(text).map_err(|e| format!("profile {label}: {e}"))?;
        if p.formats.is_empty() {
            return Err(format!("profile {label}: formats lists none"));
        }
        if p.packages == Packages::Apt && p.containerd_package.is_none() {
            return Err(format!("profile {label}: packages: apt needs containerdPackage"));
        }
        const KNOWN: [&str; 4] =
            ["/etc/ca-certificates", "/etc/pki", "/usr/share/ca-certificates", "/usr/local/share/ca-certificates"];
        if let Some(d) = p.ca_dirs.iter().find(|d| !KNOWN.contains(&d.as_str())) {
            return Err(format!(
                "profile {label}: caDirs: {d} is not one of kubeadm's CA directories ({})",
                KNOWN.join(", ")
            ));
        }
        Ok(p)
    }

    /// A built-in profile by name, or a profile file (a path, relative to `base_dir`).
    pub fn load(name_or_path: &str, base_dir: &Path) -> Result<Profile, String> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            return Profile::parse(text, name_or_path);
        }
        if name_or_path.contains('/') || name_or_path.ends_with(".yaml") || name_or_path.ends_with(".yml") {
            let path = base_dir.join(name_or_path);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            return Profile::parse(&text, &path.display().to_string());
        }
        let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
        Err(format!("{name_or_path:?} is not a built-in profile ({}) or a profile file path", names.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_parse() {
        for (name, text) in BUILT_IN {
            let p = Profile::parse(text, name).unwrap();
            assert_eq!(&p.name, name);
        }
    }
}
