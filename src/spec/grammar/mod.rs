//! What each free-text field of a spec or an OS profile may hold, as grammars: each
//! function accepts what its field can mean and nothing else, and its error names the rule
//! (and the part of the value that broke it), never a list of refused characters.
//!
//! The values end up on the node in shell scripts, systemd units, YAML, TOML, JSON,
//! Packer templates and file names. Quoting in each of those is the writers' job; the
//! grammars make sure that a value which is not what its field means never gets that far,
//! so one missed quote cannot turn a spec or a profile into a command.
//!
//! One file per kind of thing recognised: Kubernetes names (`dns`), registries and images
//! (`oci`), URLs (`url`), paths (`path`), the OS's own names (`os`), kubeadm's flags and
//! checks (`kubeadm`), SSH keys (`ssh`).

mod dns;
mod kubeadm;
mod oci;
mod os;
mod path;
mod ssh;
mod url;

pub use dns::{dns1123_label, dns1123_subdomain};
pub use kubeadm::{flag_name, flag_value, preflight_check};
pub use oci::{image_reference, image_repository, registry_host, sha256};
pub use os::{debian_package, group_name, interface_name, user_name};
pub use path::{local_path, node_path};
pub use ssh::ssh_authorized_key;
pub use url::{UrlUse, url};

/// Unicode's line and paragraph separators, which YAML 1.1 (the kubelet's and kubeadm's
/// YAML) reads as line breaks.
fn line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}
