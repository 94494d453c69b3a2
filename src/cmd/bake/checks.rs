//! What a bake refuses before it writes anything: an output it may not replace, keys in
//! clear where a metadata service serves them, user-data over a platform's limit, a
//! bundled spec with no bundle to pin.

use std::fs;
use std::path::Path;

use crate::deliver::Platform;
use crate::deliver::seed::MediaKind;
use crate::error::{Error, Result};
use crate::files::{SUMS_FILE, nested};
use crate::model::Cluster;
use crate::model::profile::{Format, Packages};

use super::{NodeSummary, Options};

/// The state must survive a re-bake that replaces the output, so neither may hold the
/// other; and an output directory is only replaced when it is one kubebake wrote.
pub(super) fn check_places(state: &Path, out: &Path) -> Result<()> {
    if nested(state, out) {
        return Err(Error::Usage(format!(
            "the state directory {} and the output directory {} must not contain each other: \
             the output is replaced on every bake, the state must persist",
            state.display(),
            out.display()
        )));
    }
    if out.exists() {
        if !out.is_dir() {
            return Err(Error::Output { path: out.into(), message: "exists and is not a directory".into() });
        }
        let empty = fs::read_dir(out).map_err(|e| Error::io("reading", out, e))?.next().is_none();
        if !empty && !out.join(SUMS_FILE).is_file() {
            return Err(Error::Output {
                path: out.into(),
                message: format!(
                    "exists and was not written by kubebake (no {SUMS_FILE}); refusing to replace it, choose another directory"
                ),
            });
        }
    }
    Ok(())
}

/// The state's record of the bundle the nodes' image carries.
pub(super) const BUNDLE_SHA256: &str = "bundle.sha256";

/// The sha256 of `--bundle FILE`, when given (for any spec: a bundle of another spec is
/// caught on the node, by its manifest).
pub(super) fn bundle_digest(opts: &Options, cluster: &Cluster) -> Result<Option<String>> {
    let Some(file) = &opts.bundle else { return Ok(None) };
    if cluster.os.packages != Packages::Bundle {
        return Err(Error::Usage(format!(
            "--bundle {}: the spec's nodes do not install from a bundle (spec.packages is {})",
            file.display(),
            cluster.os.packages.name()
        )));
    }
    crate::files::file_sha256(file).map(Some)
}

/// The bundle's sha256 for the nodes: the one just given (and whether the state must
/// record it), or the one the state recorded. Neither is an error: a node of
/// `packages: bundle` must know which bundle it may run.
pub(super) fn pin_bundle(state_dir: &Path, given: Option<String>) -> Result<(String, bool)> {
    let path = state_dir.join(BUNDLE_SHA256);
    let recorded = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("reading", &path, e)),
    };
    match (given, recorded) {
        (Some(new), old) => {
            let changed = old.as_deref() != Some(new.as_str());
            Ok((new, changed))
        }
        (None, Some(old)) => Ok((old, false)),
        (None, None) => Err(Error::Usage(
            "spec.packages is bundle: give the bundle the nodes' image carries (--bundle FILE), so that first boot \
             runs nothing from a bundle other than that one"
                .into(),
        )),
    }
}

/// Refuses, before anything is written, a control plane's keys in clear in user-data that
/// the platform serves to anything on the instance: on a cloud, the metadata service hands
/// the user-data to any process (a pod included) that can reach it, and cloud-init keeps a
/// copy on disk until first boot is done. Sealed secrets, or the user's say-so, let it be.
pub(super) fn check_secrets_at_rest(opts: &Options, cluster: &Cluster) -> Result<()> {
    let Some(platform) = opts.platform else { return Ok(()) };
    let Some(service) = platform.metadata_service else { return Ok(()) };
    if cluster.sealing.is_some() || opts.allow_clear_secrets || cluster.pki.external_ca {
        return Ok(());
    }
    let names: Vec<&str> = cluster.control_planes().map(|n| n.name.as_str()).collect();
    Err(Error::Usage(format!(
        "--platform {}: the user-data of {} would hold the cluster's CA keys in clear, and on {} {} serves it to \
         anything on the instance that reaches it (a pod included), while cloud-init keeps a copy on disk until first \
         boot is done. Seal them to a key the image holds (spec.secrets.encryptTo: docs/sealed-secrets.md), keep \
         the CA keys off the nodes (spec.pki.externalCA), or bake them in clear knowingly with \
         --allow-clear-secrets (then limit who reaches the metadata service: docs/sealed-secrets.md, \
         \"Secrets at rest\")",
        platform.name,
        names.join(", "),
        platform.name,
        service
    )))
}

/// Refuses user-data over the platform's limit, saying which nodes, why, and which
/// choices fit (docs/vm-user-data.md, "Sizes and platform limits", has the measurements
/// behind the advice, from `cargo bench --bench bake -- sizes`).
pub(super) fn check_sizes(platform: Platform, cluster: &Cluster, nodes: &[&NodeSummary]) -> Result<()> {
    let over: Vec<&NodeSummary> =
        nodes.iter().copied().filter(|n| platform.counted(n.delivered) > platform.limit).collect();
    if over.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> =
        over.iter().map(|n| format!("{} ({} bytes)", n.name, platform.counted(n.delivered))).collect();
    let mut advice = Vec::new();
    if cluster.pki.algorithm.is_rsa() {
        advice.push(format!(
            "{} keys are random bytes that no compression shrinks: an RSA control plane's user-data is about \
             40 KB gzip'd whatever else is chosen; encryptionAlgorithm: ECDSA-P256 makes it 3 times smaller",
            cluster.pki.algorithm
        ));
    }
    advice.push(
        "fewer extra files help (a local Calico manifest rides in the first control plane's user-data); \
         otherwise put the files in the image (OUT/<node>/rootfs) or use a platform with a larger limit"
            .to_string(),
    );
    Err(Error::Usage(format!(
        "user-data over {}'s limit of {} bytes{}: {}. {}",
        platform.name,
        platform.limit,
        if platform.counts_base64 { " (counted base64-encoded)" } else { "" },
        listed.join(", "),
        advice.join("; ")
    )))
}

/// `--media`: seed media carry cloud-init's NoCloud files, which an Ignition node has none of.
pub(super) fn media(media: Option<MediaKind>, cluster: &Cluster) -> Result<Option<MediaKind>> {
    match media {
        Some(kind) if cluster.os.format != Format::CloudInit => Err(Error::Usage(format!(
            "--media {}: a seed medium holds cloud-init's NoCloud files, and spec.os {} is baked as Ignition \
             (give Ignition its config.ign as the platform's user-data)",
            if kind == MediaKind::Iso { "iso" } else { "vfat" },
            cluster.os.profile.name
        ))),
        _ => Ok(media),
    }
}
