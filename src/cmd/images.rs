//! `kubebake images SPEC`: every container image the cluster will run, pinned.

use std::path::{Path, PathBuf};

use crate::cmd::report::{self, Report, Text};
use crate::error::{Problem, Result};
use crate::model::images::ClusterImage;

/// The spec's images, and its warnings.
pub struct Images {
    /// The spec, for the warnings' locations.
    pub spec: PathBuf,
    /// The spec's warnings, shown whether or not its images could be listed.
    pub warnings: Vec<Problem>,
    /// The images, kubeadm's first; or why they could not be listed (an error shown after
    /// the warnings).
    pub images: std::result::Result<Vec<ClusterImage>, String>,
}

/// Loads the spec and lists its images. A spec that does not load is the error; one that
/// loads but whose images cannot be listed still has its warnings shown.
pub fn images(spec: &Path) -> Result<Images> {
    let loaded = crate::spec::load(spec)?;
    let images = crate::model::images::images(&loaded.cluster).map_err(|e| e.to_string());
    Ok(Images { spec: spec.to_path_buf(), warnings: loaded.warnings, images })
}

impl Report for Images {
    fn notes(&self) -> Vec<String> {
        self.warnings.iter().map(|w| format!("warning: {}", w.located(&self.spec))).collect()
    }

    fn text(&self, out: &mut Text) {
        for i in self.images.iter().flatten() {
            out.data(&i.image);
        }
    }

    fn json(&self) -> Option<serde_json::Result<String>> {
        let images = self.images.as_ref().ok()?;
        report::json(&serde_json::json!({ "images": images }))
    }

    fn failure(&self) -> Option<String> {
        self.images.as_ref().err().cloned()
    }
}
