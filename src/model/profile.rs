//! OS profiles: what differs between the operating systems kubebake targets, as data
//! (`profiles/*.yaml`; [`crate::spec::profile`] reads and checks them).

use serde::Deserialize;

/// The profile a spec without `os` gets.
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
    /// What `kubebake image`'s Packer template starts from unless told otherwise.
    #[serde(default)]
    pub base_image: Option<BaseImage>,
}

/// The OS vendor's own images that a node image is built from: the defaults of the Packer
/// template's variables, so that `packer validate` and `packer build` work as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BaseImage {
    /// The cloud image (qcow2) for the QEMU builder.
    pub qcow2: String,
    /// What Packer checks it against: `file:URL` of the vendor's checksum list, or
    /// `sha256:HEX` / `sha512:HEX` of one release.
    pub checksum: String,
    /// The AWS account that publishes the vendor's AMIs.
    pub ami_owner: String,
    /// The AMI name pattern (`*` and `?` wildcards); the newest match is used.
    pub ami_name: String,
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
