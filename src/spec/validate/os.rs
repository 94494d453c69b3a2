//! The nodes' operating system (`spec.os`, `format`, `ignitionVersion`, `packages`), as its
//! profile describes it, and the login the user gets on it (`spec.login`).

use std::path::Path;

use crate::model::profile::{DEFAULT, Format, Packages, Profile};
use crate::model::{ExtraArgs, Login, NodeOs};
use crate::spec::checker::Checker;
use crate::spec::grammar;
use crate::spec::profile::{LoadError, load as load_profile};
use crate::spec::{LoginSpec, Spec};

/// The profile, and the user-data format, Ignition version and package source it allows.
pub(super) fn check_os(c: &mut Checker, spec: &Spec, base_dir: &Path) -> Option<NodeOs> {
    let name = spec.os.as_deref().unwrap_or(DEFAULT);
    let profile = match load_profile(name, base_dir) {
        Ok(p) => p,
        Err(LoadError::Name(m)) => {
            c.error("spec.os", m);
            return None;
        }
        Err(LoadError::Profile(problems)) => {
            c.problems.extend(problems);
            return None;
        }
    };
    let format = check_format(c, spec.format.as_deref(), &profile)?;
    let ignition_version = spec.ignition_version.clone().unwrap_or_else(|| "3.3.0".into());
    if !["3.3.0", "3.4.0"].contains(&ignition_version.as_str()) {
        c.error(
            "spec.ignitionVersion",
            format!("{ignition_version:?} is not a supported Ignition spec (3.3.0 or 3.4.0)"),
        );
    }
    let packages = check_packages(c, spec.packages.as_deref(), &profile)?;
    Some(NodeOs { profile, format, ignition_version, packages, bundle_sha256: None })
}

/// A format the profile's OS reads; its first when the spec names none.
fn check_format(c: &mut Checker, name: Option<&str>, profile: &Profile) -> Option<Format> {
    let Some(f) = name else {
        return Some(profile.formats[0]);
    };
    let format = match f {
        "cloud-init" => Format::CloudInit,
        "ignition" => Format::Ignition,
        other => {
            c.error("spec.format", format!("{other:?} is not a format (cloud-init or ignition)"));
            return None;
        }
    };
    if !profile.formats.contains(&format) {
        c.error("spec.format", format!("{} does not take {f} user-data", profile.name));
        return None;
    }
    Some(format)
}

/// Where the Kubernetes packages come from; apt only where the profile names containerd's.
fn check_packages(c: &mut Checker, name: Option<&str>, profile: &Profile) -> Option<Packages> {
    match name {
        None => Some(profile.packages),
        Some("apt") if profile.containerd_package.is_some() => Some(Packages::Apt),
        Some("apt") => {
            c.error("spec.packages", format!("{} has no apt (its profile names no containerd package)", profile.name));
            None
        }
        Some("download") => Some(Packages::Download),
        Some("prebaked") => Some(Packages::Prebaked),
        Some("bundle") => Some(Packages::Bundle),
        Some(other) => {
            c.error("spec.packages", format!("{other:?} is not a package source (apt, download, prebaked or bundle)"));
            None
        }
    }
}

/// The OS's /usr is read-only: the controller manager (and the kubelet) use the profile's
/// flexvolume directory unless the spec says otherwise.
pub(super) fn apply_flex_volume_dir(extra_args: &mut ExtraArgs, os: Option<&NodeOs>) {
    if let Some(dir) = os.and_then(|o| o.profile.flex_volume_dir.clone()) {
        extra_args.controller_manager.entry("flex-volume-plugin-dir".into()).or_insert(dir);
    }
}

/// Ignition writes static addressing only where the profile says how.
pub(super) fn check_static_network_support(c: &mut Checker, spec: &Spec, os: Option<&NodeOs>) {
    if let Some(o) = os.filter(|o| o.format == Format::Ignition)
        && spec.node_network.is_some()
        && o.profile.network_config.is_none()
    {
        c.error(
            "spec.nodeNetwork",
            format!("profile {} says how to write no static network configuration (networkConfig)", o.profile.name),
        );
    }
}

/// The login's fields are checked whether or not the profile could be had, so that a spec
/// with a bad profile still hears about every other problem at once.
pub(super) fn check_login(c: &mut Checker, spec: Option<&LoginSpec>, profile: Option<&Profile>) -> Option<Login> {
    // The profile's own user was checked with the profile.
    let given = spec.and_then(|l| l.user.clone());
    if let Some(user) = &given {
        c.rule("spec.login.user", grammar::user_name(user));
    }
    let keys = spec.map(|l| l.ssh_authorized_keys.clone()).unwrap_or_default();
    for (i, k) in keys.iter().enumerate() {
        c.rule(&format!("spec.login.sshAuthorizedKeys[{i}]"), grammar::ssh_authorized_key(k));
    }
    let profile = profile?;
    let user = given.unwrap_or_else(|| profile.login_user.clone());
    Some(Login { create: user != profile.login_user, user, ssh_authorized_keys: keys })
}
