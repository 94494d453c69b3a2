//! NoCloud seed media: a cloud-init node's `user-data`, `meta-data` and `network-config` on
//! a small disk labelled `cidata`, which cloud-init's NoCloud datasource finds by its label
//! (`blkid`: a vfat or iso9660 filesystem labelled `cidata` or `CIDATA`) and mounts. What
//! `cloud-localds` makes (genisoimage, or mkfs.vfat and mcopy), written here without them
//! and with no clock in it: the same files give the same bytes. docs/seed-media.md says
//! which platform attaches which.

mod fat;
mod iso9660;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The volume label NoCloud looks for. Lower case, as cloud-localds writes it: every
/// cloud-init release matches it, the older ones no other case.
pub const LABEL: &str = "cidata";

/// The files a NoCloud medium carries, in the order they are written; the first two are
/// required by NoCloud, `network-config` is there when the node has one.
pub const SEED_FILES: [&str; 3] = ["user-data", "meta-data", "network-config"];

/// Which medium: an ISO 9660 CD image or a FAT disk image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// `seed.iso`: ISO 9660 with Joliet names, for a virtual CD drive.
    Iso,
    /// `seed.img`: FAT12 with long names, for a virtual disk (or a USB stick).
    Vfat,
}

impl MediaKind {
    /// The medium's file name in `OUT/<node>/`.
    pub fn file_name(self) -> &'static str {
        match self {
            MediaKind::Iso => "seed.iso",
            MediaKind::Vfat => "seed.img",
        }
    }

    /// `iso` or `vfat`, as a command line names them.
    pub fn parse(name: &str) -> Option<MediaKind> {
        match name {
            "iso" => Some(MediaKind::Iso),
            "vfat" => Some(MediaKind::Vfat),
            _ => None,
        }
    }
}

/// One file on a medium, at its root.
#[derive(Debug, Clone, Copy)]
pub struct SeedFile<'a> {
    /// The file's name (for a seed, one of [`SEED_FILES`]).
    pub name: &'a str,
    /// Its contents.
    pub bytes: &'a [u8],
}

/// The bytes of a `kind` medium labelled [`LABEL`] holding `files` at its root, under
/// their names. `files` must have unique names; their order is kept on the FAT image.
/// Fails only when they are too large for the medium (a FAT image holds about 125 MB).
pub fn image(kind: MediaKind, files: &[SeedFile]) -> Result<Vec<u8>> {
    let built = match kind {
        MediaKind::Iso => iso9660::image(LABEL, files),
        MediaKind::Vfat => fat::image(LABEL, files),
    };
    built.map_err(|message| Error::Output { path: PathBuf::from(kind.file_name()), message })
}

/// A baked node's seed files from `node_dir` (`OUT/<node>`), in [`SEED_FILES`] order,
/// as `(name, bytes)`. Fails, naming the file, when `user-data` or `meta-data` is
/// missing: an Ignition node has neither and boots from its `config.ign`.
pub fn read_node(node_dir: &Path) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let mut found = Vec::new();
    for name in SEED_FILES {
        let path = node_dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => found.push((name, bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name == "network-config" => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Output {
                    path,
                    message: "missing: NoCloud media are for cloud-init nodes (an Ignition node boots from its \
                              config.ign)"
                        .into(),
                });
            }
            Err(e) => return Err(Error::io("reading", path, e)),
        }
    }
    Ok(found)
}

/// Writes `node_dir/seed.iso` or `node_dir/seed.img` (per `kind`) from the node's baked
/// seed files ([`read_node`]) and returns its path. The file is written beside its place
/// and renamed over it, mode 0600 like the user-data it holds: readers see the old medium
/// or the new one, never part of one.
pub fn write(node_dir: &Path, kind: MediaKind) -> Result<PathBuf> {
    let found = read_node(node_dir)?;
    let files: Vec<SeedFile> = found.iter().map(|(name, bytes)| SeedFile { name, bytes }).collect();
    let path = node_dir.join(kind.file_name());
    let bytes = image(kind, &files).map_err(|e| match e {
        Error::Output { message, .. } => Error::Output { path: path.clone(), message },
        other => other,
    })?;
    crate::files::write_file_atomic(&path, &bytes, 0o600)?;
    Ok(path)
}
