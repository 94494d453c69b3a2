//! Reads and checks OS profiles, built-in or a user's own file.

use std::path::Path;

use crate::error::Problem;
use crate::model::profile::{Packages, Profile};
use crate::spec::Locator;
use crate::spec::checker::Checker;
use crate::spec::grammar;
use crate::spec::yaml;

/// The profiles shipped with kubebake, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("ubuntu-24.04", include_str!("../../profiles/ubuntu-24.04.yaml")),
    ("debian-12", include_str!("../../profiles/debian-12.yaml")),
    ("flatcar", include_str!("../../profiles/flatcar.yaml")),
    ("fedora-coreos", include_str!("../../profiles/fedora-coreos.yaml")),
];

/// Why a profile could not be had.
#[derive(Debug)]
pub enum LoadError {
    /// About the spec's `os` value itself: no such built-in profile, or a file that
    /// cannot be read.
    Name(String),
    /// The profile file's own problems, each with its line and column in that file.
    Profile(Vec<Problem>),
}

/// kubeadm's CA directories: the ones it mounts into the control plane when the OS has them.
const KUBEADM_CA_DIRS: [&str; 4] =
    ["/etc/ca-certificates", "/etc/pki", "/usr/share/ca-certificates", "/usr/local/share/ca-certificates"];

/// Reads and checks a profile; `file` names it in its problems. A profile is input
/// like the spec (a user may bring their own) and goes into the same scripts, units
/// and templates, so every field has a grammar, as the spec's fields do.
pub fn parse(text: &str, file: &Path) -> Result<Profile, Vec<Problem>> {
    let in_file = |p: Problem| Problem { file: Some(file.to_path_buf()), ..p };
    let locator = Locator::new(text);
    let p: Profile = yaml::from_str(text).map_err(|e| vec![in_file(yaml::problem(&e, &locator))])?;
    let mut c = Checker::new(&locator, Some(file));
    // The name is shown in messages and names the image kubebake image builds.
    c.rule("name", grammar::dns1123_subdomain(&p.name));
    if p.formats.is_empty() {
        c.error("formats", "lists none; give the user-data formats the OS reads (cloud-init, ignition)");
    }
    match &p.containerd_package {
        Some(pkg) => {
            c.rule("containerdPackage", grammar::debian_package(pkg));
        }
        None if p.packages == Packages::Apt => {
            c.error("packages", "apt needs containerdPackage, the distribution's containerd package");
        }
        None => {}
    }
    c.rule("loginUser", grammar::user_name(&p.login_user));
    c.rule("adminGroup", grammar::group_name(&p.admin_group));
    c.rule("binDir", grammar::node_path(&p.bin_dir));
    for (i, d) in p.ca_dirs.iter().enumerate() {
        let path = format!("caDirs[{i}]");
        if !c.rule(&path, grammar::node_path(d)) {
            continue;
        }
        if !KUBEADM_CA_DIRS.contains(&d.as_str()) {
            c.error(&path, format!("{d} is not one of kubeadm's CA directories ({})", KUBEADM_CA_DIRS.join(", ")));
        } else if let Some(j) = p.ca_dirs[..i].iter().position(|o| o == d) {
            // Each becomes a volume named after it: twice would be an invalid pod.
            c.error(&path, format!("{d} is already caDirs[{j}]"));
        }
    }
    if let Some(d) = &p.flex_volume_dir {
        c.rule("flexVolumeDir", grammar::node_path(d));
    }
    if let Some(b) = &p.base_image {
        c.rule("baseImage.qcow2", grammar::url(&b.qcow2, grammar::UrlUse::Download { checked: true }));
        c.rule("baseImage.checksum", packer_checksum(&b.checksum));
        c.rule("baseImage.amiOwner", aws_account(&b.ami_owner));
        c.rule("baseImage.amiName", ami_name_pattern(&b.ami_name));
    }
    if c.problems.is_empty() { Ok(p) } else { Err(c.problems) }
}

/// A built-in profile by name, or a profile file (a path, relative to `base_dir`).
pub fn load(name_or_path: &str, base_dir: &Path) -> Result<Profile, LoadError> {
    if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
        return parse(text, Path::new(&format!("<built-in profile {name_or_path}>"))).map_err(LoadError::Profile);
    }
    if name_or_path.contains('/') || name_or_path.ends_with(".yaml") || name_or_path.ends_with(".yml") {
        grammar::local_path(name_or_path).map_err(LoadError::Name)?;
        let path = base_dir.join(name_or_path);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| LoadError::Name(format!("cannot read {}: {e}", path.display())))?;
        return parse(&text, &path).map_err(LoadError::Profile);
    }
    let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
    Err(LoadError::Name(format!(
        "{name_or_path:?} is not a built-in profile ({}) or a profile file path (one with a '/', or ending in .yaml or .yml)",
        names.join(", ")
    )))
}

/// Packer's `iso_checksum`: the vendor's checksum list by https URL, or one digest.
fn packer_checksum(s: &str) -> Result<(), String> {
    if let Some(list) = s.strip_prefix("file:") {
        return grammar::url(list, grammar::UrlUse::Download { checked: false });
    }
    let hex_of = |len: usize, hex: &str| {
        hex.len() == len && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match s.split_once(':') {
        Some(("sha256", hex)) if hex_of(64, hex) => Ok(()),
        Some(("sha512", hex)) if hex_of(128, hex) => Ok(()),
        _ => Err(format!(
            "{s:?} is not file:URL (the vendor's checksum list, https), sha256:HEX (64 lower-case hex digits) or \
             sha512:HEX (128)"
        )),
    }
}

/// An AWS account ID: twelve digits.
fn aws_account(s: &str) -> Result<(), String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("{s:?} is not an AWS account ID (12 digits)"))
    }
}

/// An AMI name, as AWS allows them (3 to 128 of letters, digits and `( ) [ ] . / - ' @ _`
/// and spaces; the quote is left out, as HCL would need it escaped), with the filter's `*`
/// and `?` wildcards.
fn ami_name_pattern(s: &str) -> Result<(), String> {
    let ok =
        (3..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"()[]./-@_ *?".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an AMI name pattern: 3 to 128 of letters, digits, spaces and ( ) [ ] . / - @ _, with * and ? \
             as wildcards"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_parse() {
        for (name, text) in BUILT_IN {
            let p = parse(text, Path::new(name)).unwrap();
            assert_eq!(&p.name, name);
        }
    }
}
