//! `kubebake bundle SPEC -o FILE`: the adapter to [`crate::deliver::bundle`], which does
//! the fetching and the archive; this reads the flags and reports.

use std::path::PathBuf;

use crate::cmd::report::{self, Report, Text};
use crate::deliver::bundle;
use crate::error::{Error, Result};

/// `kubebake bundle`'s flags, as given.
pub struct Options {
    /// The cluster spec.
    pub spec: PathBuf,
    /// The archive to write.
    pub out: PathBuf,
    /// The nodes' architecture (amd64, arm64).
    pub arch: String,
    /// `--rewrite FROM=TO`, as given.
    pub rewrite: Vec<String>,
    /// `--pins FILE`.
    pub pins: Option<PathBuf>,
    /// `--trust-origin`.
    pub trust_origin: bool,
    /// Draw progress on stderr.
    pub progress: bool,
}

/// The archive written, and how long it took.
pub struct Bundled {
    /// What [`bundle::bundle`] wrote.
    pub bundle: bundle::Report,
    /// Seconds from the start of the work to its end.
    pub seconds: f64,
}

/// Fetches, checks and archives everything the cluster's nodes would download.
pub fn run(opts: Options) -> Result<Bundled> {
    let rewrites = opts
        .rewrite
        .iter()
        .map(|r| {
            r.split_once('=')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| Error::Usage(format!("--rewrite {r}: expected FROM=TO")))
        })
        .collect::<Result<Vec<_>>>()?;
    let started = std::time::Instant::now();
    let options = bundle::Options {
        spec: opts.spec,
        out: opts.out,
        arch: opts.arch,
        rewrites,
        progress: opts.progress,
        pins: opts.pins,
        trust_origin: opts.trust_origin,
    };
    let bundle = bundle::bundle(&options)?;
    Ok(Bundled { bundle, seconds: started.elapsed().as_secs_f64() })
}

impl Report for Bundled {
    fn notes(&self) -> Vec<String> {
        self.bundle.manifest.replaced_pins.iter().map(|line| format!("note: {line}")).collect()
    }

    fn text(&self, out: &mut Text) {
        let (r, m) = (&self.bundle, &self.bundle.manifest);
        out.report(format_args!(
            "bundle {}: {} bytes, {} binaries, {} images, {} Calico manifests, in {:.1} s",
            r.out.display(),
            r.bytes,
            m.binaries.len(),
            m.images.len(),
            m.calico.len(),
            self.seconds
        ));
    }

    fn json(&self) -> Option<serde_json::Result<String>> {
        let (r, m) = (&self.bundle, &self.bundle.manifest);
        report::json(&serde_json::json!({
            "out": r.out, "bytes": r.bytes, "binaries": m.binaries.len(), "images": m.images.len(),
            "calico": m.calico.len(), "seconds": self.seconds,
        }))
    }
}
