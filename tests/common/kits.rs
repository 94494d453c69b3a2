//! The e2e kits on this machine (../shared/e2e-kit/build.sh): real Kubernetes binaries
//! and images of one release each, found per minor.

use std::path::PathBuf;
use std::process::Command;

/// One kit: its directory and the release its kubeadm reports.
#[derive(Debug, Clone)]
pub struct Kit {
    pub dir: PathBuf,
    /// `v1.36.3`.
    pub version: String,
    pub minor: u32,
}

impl Kit {
    /// The kit at `dir`, if it holds a kubeadm that reports its version.
    fn at(dir: PathBuf) -> Option<Kit> {
        let kubeadm = dir.join("bin/kubeadm");
        if !kubeadm.exists() {
            return None;
        }
        let out = Command::new(&kubeadm).args(["version", "-o", "short"]).output().ok()?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let minor = version.strip_prefix("v1.")?.split('.').next()?.parse().ok()?;
        Some(Kit { dir, version, minor })
    }
}

/// Where the kit of `minor` is looked for: `KUBEBAKE_E2E_DIR_1_<minor>`, else
/// `/opt/k8s-e2e-1.<minor>`; then `KUBEBAKE_E2E_DIR` or `/opt/k8s-e2e` (one kit of any
/// release, as the tier found its one kit before) if its kubeadm is of that minor.
pub fn kit_dirs(minor: u32) -> Vec<PathBuf> {
    let own =
        std::env::var(format!("KUBEBAKE_E2E_DIR_1_{minor}")).unwrap_or_else(|_| format!("/opt/k8s-e2e-1.{minor}"));
    let any = std::env::var("KUBEBAKE_E2E_DIR").unwrap_or_else(|_| "/opt/k8s-e2e".into());
    vec![PathBuf::from(own), PathBuf::from(any)]
}

/// The kit of `minor` on this machine, if there is one.
pub fn kit(minor: u32) -> Option<Kit> {
    kit_dirs(minor).into_iter().filter_map(Kit::at).find(|k| k.minor == minor)
}

/// The kit of the default minor (what a spec without `kubernetesVersion` runs).
pub fn default_kit() -> Option<Kit> {
    kit(kubebake::model::versions::DEFAULT_VERSION.minor)
}

/// The default minor's kit directory for scripts that take one (`KUBEBAKE_E2E_DIR`): a
/// directory that does not exist when there is no such kit, so they run without one.
pub fn default_kit_dir() -> PathBuf {
    default_kit().map(|k| k.dir).unwrap_or_else(|| PathBuf::from("/nonexistent/no-e2e-kit"))
}
