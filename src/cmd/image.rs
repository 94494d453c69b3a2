//! `kubebake image SPEC -o DIR`: the adapter to [`crate::deliver::node_image`], which writes
//! the Packer template and its provisioning script; this reports what was written.

use std::path::PathBuf;

use crate::cmd::report::{self, Report, Text};
use crate::deliver::node_image;
use crate::error::Result;

/// The files written.
pub struct Written {
    /// Every file, in the order written.
    pub written: Vec<PathBuf>,
}

/// Writes the Packer template and provisioning script for a node image.
pub fn run(opts: &node_image::Options) -> Result<Written> {
    Ok(Written { written: node_image::write(opts)? })
}

impl Report for Written {
    fn text(&self, out: &mut Text) {
        for path in &self.written {
            out.report(format_args!("wrote {}", path.display()));
        }
    }

    fn json(&self) -> Option<serde_json::Result<String>> {
        report::json(&serde_json::json!({ "written": self.written }))
    }
}
