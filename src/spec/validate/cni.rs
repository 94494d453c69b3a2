//! The pod network (`spec.cni`): Calico's release, mode and settings, and where the first
//! control plane gets its manifest; or none, for a CNI the user installs.

use std::path::Path;

use crate::model::{Calico, CalicoMode, Cni, Encapsulation, ManifestSource};
use crate::spec::checker::Checker;
use crate::spec::grammar::{self, UrlUse};
use crate::spec::{CniSpec, ManifestSource as ManifestSourceSpec};

/// The Calico release installed when the spec names none.
pub const DEFAULT_CALICO_VERSION: &str = "v3.30.3";

/// Calico by default; `none` leaves the pod network to the user.
pub(super) fn check_cni(c: &mut Checker, spec: Option<&CniSpec>, base_dir: &Path) -> Option<Cni> {
    let default = CniSpec::default();
    let spec = spec.unwrap_or(&default);
    match spec.plugin.as_deref().unwrap_or("calico") {
        "none" => return Some(Cni::None),
        "calico" => {}
        other => {
            c.error("spec.cni.plugin", format!("{other:?} is not supported (calico, or none to install your own)"));
            return None;
        }
    }
    let version = check_calico_version(c, spec.version.as_deref());
    let mode = match spec.mode.as_deref().unwrap_or("operator") {
        "operator" => Some(CalicoMode::Operator),
        "manifest" => Some(CalicoMode::Manifest),
        other => {
            c.error("spec.cni.mode", format!("{other:?} is not a mode (operator or manifest)"));
            None
        }
    };
    let encapsulation = check_encapsulation(c, spec.encapsulation.as_deref());
    check_mtu(c, spec.mtu, mode);
    if let Some(r) = &spec.registry {
        c.rule("spec.cni.registry", grammar::image_repository(r));
    }
    let source = check_manifest_source(c, &spec.manifest, &version, mode, base_dir);
    Some(Cni::Calico(Calico {
        version,
        mode: mode?,
        encapsulation: encapsulation?,
        mtu: spec.mtu,
        registry: spec.registry.clone(),
        source: source?,
    }))
}

/// A release tag as Calico names them, `vX.Y.Z`.
fn check_calico_version(c: &mut Checker, version: Option<&str>) -> String {
    let version = version.unwrap_or(DEFAULT_CALICO_VERSION).to_string();
    let version_ok = version.strip_prefix('v').is_some_and(|v| {
        let parts: Vec<&str> = v.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    if !version_ok {
        c.error("spec.cni.version", format!("{version:?} is not a Calico release like {DEFAULT_CALICO_VERSION}"));
    }
    version
}

fn check_encapsulation(c: &mut Checker, name: Option<&str>) -> Option<Encapsulation> {
    let Some(name) = name else {
        return Some(Encapsulation::VxlanCrossSubnet);
    };
    let e = Encapsulation::ALL.into_iter().find(|e| e.name() == name);
    if e.is_none() {
        let names: Vec<_> = Encapsulation::ALL.iter().map(|e| e.name()).collect();
        c.error("spec.cni.encapsulation", format!("{name:?} is not one of {}", names.join(", ")));
    }
    e
}

/// An MTU a link can have, and only where the operator's Installation can carry it.
fn check_mtu(c: &mut Checker, mtu: Option<u32>, mode: Option<CalicoMode>) {
    if let Some(mtu) = mtu
        && !(576..=9000).contains(&mtu)
    {
        c.error(
            "spec.cni.mtu",
            format!("{mtu} is not an MTU between 576 and 9000 (leave it out to let Calico detect it)"),
        );
    }
    if mtu.is_some() && mode == Some(CalicoMode::Manifest) {
        c.error("spec.cni.mtu", "is set through the operator's Installation; in manifest mode Calico detects the MTU");
    }
}

/// A URL, a local file (read now, its checksum checked), or Calico's own manifests for the
/// release and mode.
fn check_manifest_source(
    c: &mut Checker,
    m: &ManifestSourceSpec,
    version: &str,
    mode: Option<CalicoMode>,
    base_dir: &Path,
) -> Option<ManifestSource> {
    let sha256 = m.sha256.clone();
    if let Some(h) = &sha256 {
        c.rule("spec.cni.manifest.sha256", grammar::sha256(h));
    }
    match (&m.url, &m.file) {
        (Some(_), Some(_)) => {
            c.error("spec.cni.manifest", "give either url or file, not both");
            None
        }
        (_, Some(file)) => read_manifest_file(c, file, sha256.as_deref(), base_dir),
        (Some(url), None) => {
            c.rule("spec.cni.manifest.url", grammar::url(url, UrlUse::Download { checked: sha256.is_some() }));
            Some(ManifestSource::Url { urls: vec![url.clone()], sha256 })
        }
        (None, None) => {
            if sha256.is_some() {
                c.error(
                    "spec.cni.manifest.sha256",
                    "checks a url or file the spec names; the default is several files",
                );
            }
            Some(calico_manifests(version, mode.unwrap_or(CalicoMode::Operator)))
        }
    }
}

/// The file is shipped with the user-data, so it is read (and checked) at bake time.
fn read_manifest_file(c: &mut Checker, file: &str, sha256: Option<&str>, base_dir: &Path) -> Option<ManifestSource> {
    if !c.rule("spec.cni.manifest.file", grammar::local_path(file)) {
        return None;
    }
    let path = base_dir.join(file);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => {
            c.error("spec.cni.manifest.file", format!("cannot read {}: {e}", path.display()));
            return None;
        }
    };
    use sha2::Digest;
    let actual = crate::fmt::hex(&sha2::Sha256::digest(&bytes));
    match sha256 {
        Some(h) if h != actual => {
            c.error("spec.cni.manifest.sha256", format!("{} has sha256 {actual}, not {h}", path.display()));
            None
        }
        _ => Some(ManifestSource::File { bytes }),
    }
}

/// Calico's published manifests for `version` and `mode`, in the order they are applied.
fn calico_manifests(version: &str, mode: CalicoMode) -> ManifestSource {
    let base = format!("https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests");
    // Since v3.30 the operator's CRDs come in a file of their own, applied first.
    let minor = version.trim_start_matches('v').split('.').nth(1).and_then(|m| m.parse::<u32>().ok());
    let mut urls = Vec::new();
    if mode == CalicoMode::Operator && minor.is_none_or(|m| m >= 30) {
        urls.push(format!("{base}/operator-crds.yaml"));
    }
    urls.push(format!("{base}/{}", mode.manifest_name()));
    ManifestSource::Url { urls, sha256: None }
}
