//! OS profiles: what differs between the operating systems kubebake targets, as data
//! (`profiles/*.yaml`; [`crate::spec::profile`] reads and checks them).

use serde::Deserialize;

/// The profile a spec without `os` gets.
pub const DEFAULT: &str = "ubuntu-24.04";

/// `spec.format`: the kind of user-data the node's first boot reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Format {
    /// `#cloud-config` user-data with NoCloud meta-data (Ubuntu, Debian).
    #[serde(rename = "cloud-init")]
    CloudInit,
    /// An Ignition `config.ign` (Flatcar, Fedora CoreOS).
    #[serde(rename = "ignition")]
    Ignition,
}

impl Format {
    /// The spelling the spec and profiles use.
    pub fn name(self) -> &'static str {
        match self {
            Format::CloudInit => "cloud-init",
            Format::Ignition => "ignition",
        }
    }
}

/// `spec.packages`: how a node gets containerd, kubeadm, the kubelet and kubectl.
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
    /// The spelling the spec and profiles use.
    pub fn name(self) -> &'static str {
        match self {
            Packages::Apt => "apt",
            Packages::Download => "download",
            Packages::Prebaked => "prebaked",
            Packages::Bundle => "bundle",
        }
    }
}

/// The host firewall an OS runs, which first boot opens Kubernetes' ports in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Firewall {
    /// Ubuntu's `ufw`.
    Ufw,
    /// `firewalld`, as RHEL and its relatives run it.
    Firewalld,
    /// No firewall to open.
    None,
}

impl Firewall {
    /// The spelling profiles use.
    pub fn name(self) -> &'static str {
        match self {
            Firewall::Ufw => "ufw",
            Firewall::Firewalld => "firewalld",
            Firewall::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
/// One operating system's profile: a built-in `profiles/*.yaml` or the user's own file.
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Profile {
    /// The profile's name, e.g. `ubuntu-24.04`; what `spec.os` names.
    pub name: String,
    /// User-data formats the OS consumes; the first is the default.
    pub formats: Vec<Format>,
    /// The `packages` a spec for this OS gets unless it says otherwise.
    pub packages: Packages,
    /// The distribution's containerd package, for `packages: apt`.
    #[serde(default)]
    pub containerd_package: Option<String>,
    /// The firewall the image runs, if any.
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

/// How an OS takes static addressing (`spec.nodeNetwork`) from a file kubebake writes.
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
