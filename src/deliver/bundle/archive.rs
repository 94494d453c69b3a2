//! The tar files a bundle writes: each image's OCI layout and the bundle itself, both
//! with sorted entries, mtime 0 and owner 0:0, so the same inputs give the same bytes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Manifest, sha256_hex, write_atomic};
use crate::error::{Error, Result};

/// The archive's top directory, and where first boot expects it on the node.
pub const ROOT: &str = "kubebake-bundle";

/// One platform's image, fetched and checked, to be written as an OCI image layout.
pub(super) struct OciImage<'a> {
    /// The reference it was pulled by, which `ctr images import` names it.
    pub image: &'a str,
    pub tag: &'a str,
    pub media_type: &'a str,
    /// The manifest's digest and its bytes.
    pub digest: &'a str,
    pub manifest: &'a [u8],
    /// Its config and layers, by their path in the layout (`blobs/sha256/<hex>`).
    pub blobs: BTreeMap<String, Vec<u8>>,
}

/// `image` as an OCI image layout in a tar file at `target`, with an `index.json` naming
/// its one manifest.
pub(super) fn write_oci_layout(target: &Path, image: OciImage) -> Result<()> {
    let mut layout = image.blobs;
    let manifest_hex = image.digest.strip_prefix("sha256:").unwrap_or(image.digest);
    layout.insert(format!("blobs/sha256/{manifest_hex}"), image.manifest.to_vec());
    layout.insert("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": image.media_type,
            "digest": image.digest,
            "size": image.manifest.len(),
            "annotations": {
                "io.containerd.image.name": image.image,
                "org.opencontainers.image.ref.name": image.tag,
            },
        }],
    });
    layout.insert("index.json".into(), serde_json::to_vec(&index).expect("json"));
    let mut tar = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut tar);
        for (name, bytes) in &layout {
            append(&mut builder, name, bytes, 0o644)?;
        }
        builder.finish().map_err(|e| Error::io("writing", target, e))?;
    }
    write_atomic(target, &tar)
}

fn append<W: Write>(builder: &mut tar::Builder<W>, name: &str, bytes: &[u8], mode: u32) -> Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, name, bytes).map_err(|e| Error::io("archiving", name, e))?;
    Ok(())
}

/// The bundle: `files` (path in the bundle → where it waits) under [`ROOT`], with
/// `manifest.json` and `SHA256SUMS`, written beside `out` and renamed over it. Returns
/// its size.
pub(super) fn write_archive(out: &Path, manifest: &Manifest, files: &BTreeMap<String, PathBuf>) -> Result<u64> {
    let mut sums = String::new();
    let mut entries: BTreeMap<String, (Vec<u8>, u32)> = BTreeMap::new();
    for (rel, path) in files {
        let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
        sums.push_str(&format!("{}  {rel}\n", sha256_hex(&bytes)));
        let mode = if rel.starts_with("bin/") || rel == "install.sh" { 0o755 } else { 0o644 };
        entries.insert(format!("{ROOT}/{rel}"), (bytes, mode));
    }
    let json = serde_json::to_vec_pretty(manifest).expect("json");
    sums.push_str(&format!("{}  manifest.json\n", sha256_hex(&json)));
    entries.insert(format!("{ROOT}/manifest.json"), (json, 0o644));
    entries.insert(format!("{ROOT}/SHA256SUMS"), (sums.into_bytes(), 0o644));

    let tmp = crate::files::PendingFile::beside(out)?;
    {
        let mut builder = tar::Builder::new(std::io::BufWriter::new(tmp.file()));
        for (name, (bytes, mode)) in &entries {
            append(&mut builder, name, bytes, *mode)?;
        }
        builder.into_inner().and_then(|mut w| w.flush()).map_err(|e| Error::io("writing", out, e))?;
    }
    let size = tmp.file().metadata().map_err(|e| Error::io("writing", out, e))?.len();
    tmp.persist(out)?;
    Ok(size)
}
