//! `kubebake validate SPEC`: every problem in a spec, or a summary of a valid one.

use std::path::{Path, PathBuf};

use crate::cmd::report::{self, Report, Text};
use crate::error::{Error, Problem, Problems, Result};
use crate::spec::Loaded;

/// A spec, checked.
pub enum Validation {
    /// It loads: the cluster and its warnings.
    Valid {
        /// The spec file.
        spec: PathBuf,
        /// What it loaded as.
        loaded: Box<Loaded>,
    },
    /// Its problems, kept as the report (for `--json`) rather than returned as the error.
    Invalid {
        /// The spec file.
        spec: PathBuf,
        /// Every problem found.
        problems: Problems,
    },
}

/// Loads the spec. With `keep_problems`, a spec's problems are the report (which then
/// fails once shown); otherwise they are the error, as with any other command.
pub fn run(spec: &Path, keep_problems: bool) -> Result<Validation> {
    match crate::spec::load(spec) {
        Ok(loaded) => Ok(Validation::Valid { spec: spec.to_path_buf(), loaded: Box::new(loaded) }),
        Err(Error::Spec(problems)) if keep_problems => Ok(Validation::Invalid { spec: spec.to_path_buf(), problems }),
        Err(e) => Err(e),
    }
}

/// A problem as JSON; `file` is set when the problem is in another file than the spec
/// (an OS profile).
fn problem(p: &Problem) -> serde_json::Value {
    serde_json::json!({"path": p.path, "line": p.line, "column": p.column, "message": p.message, "file": p.file})
}

impl Report for Validation {
    fn text(&self, out: &mut Text) {
        let Validation::Valid { spec, loaded } = self else { return };
        for w in &loaded.warnings {
            out.note(format_args!("warning: {}", w.located(spec)));
        }
        let c = &loaded.cluster;
        out.report(format_args!(
            "{}: valid: cluster {:?}, Kubernetes {}, {} control plane(s), {} worker(s), endpoint {}",
            spec.display(),
            c.name,
            c.kubernetes_version,
            c.control_planes().count(),
            c.nodes.len() - c.control_planes().count(),
            c.endpoint.host_port()
        ));
    }

    fn json(&self) -> Option<serde_json::Result<String>> {
        let value = match self {
            Validation::Valid { loaded, .. } => {
                let c = &loaded.cluster;
                serde_json::json!({
                    "valid": true, "problems": [],
                    "warnings": loaded.warnings.iter().map(problem).collect::<Vec<_>>(),
                    "cluster": c.name, "kubernetesVersion": c.kubernetes_version.to_string(),
                    "controlPlanes": c.control_planes().count(),
                    "workers": c.nodes.len() - c.control_planes().count(),
                    "workerPools": c.worker_pools.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
                    "endpoint": c.endpoint.host_port(),
                })
            }
            Validation::Invalid { problems, .. } => serde_json::json!({
                "valid": false, "problems": problems.problems.iter().map(problem).collect::<Vec<_>>(),
            }),
        };
        report::json(&value)
    }

    fn failure(&self) -> Option<String> {
        match self {
            Validation::Invalid { spec, .. } => Some(format!("{}: not a valid cluster spec", spec.display())),
            Validation::Valid { .. } => None,
        }
    }
}
