//! The state directory's files: their names, the record of what each certificate was
//! issued for, reading them all, the lock two bakes of one state share, and swapping a
//! changed state in whole.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::Staging;
use crate::pki::Profile;
use crate::state::bootstrap_token::BootstrapToken;
use crate::state::history::History;

/// What each certificate was issued for; its presence marks a state a bake finished.
pub const RECORD_FILE: &str = "kubebake-state.json";
/// The first bootstrap token, the one `kubeadm init` puts in the cluster.
pub const TOKEN_FILE: &str = "token";
/// 32 random bytes, made by the first bake that seals (`secrets.encryptTo`) and kept: every
/// seal's ephemeral key, file key and nonce derive from it, and from nothing else secret.
pub const SEAL_SEED_FILE: &str = "seal.seed";
pub(super) const RECORD_VERSION: u32 = 1;

/// A state's files by path relative to it, as read.
pub(crate) type Files = BTreeMap<String, Vec<u8>>;
/// Files to write by relative path, with their modes.
pub(crate) type NewFiles = BTreeMap<String, (Vec<u8>, u32)>;

/// The contents of [`RECORD_FILE`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Record {
    pub(super) version: u32,
    pub(super) cluster: String,
    /// Each machine's release and the init node (absent in states from before it was kept).
    #[serde(default, skip_serializing_if = "History::is_empty")]
    pub(super) history: History,
    pub(super) certificates: BTreeMap<String, Profile>,
}

impl Record {
    /// Reads [`RECORD_FILE`]'s bytes; any other shape is a damaged state.
    pub(super) fn parse(dir: &Path, bytes: &[u8]) -> Result<Record> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::state(dir, format!("{RECORD_FILE} is unreadable ({e}); the state is damaged")))
    }

    /// The file's bytes: pretty JSON and a final newline.
    pub(super) fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("serialisable");
        json.push(b'\n');
        json
    }
}

/// An exclusive lock on a state directory, held for a whole bake: two bakes of one state at
/// once could otherwise each create a CA, and one output would not match the state.
pub struct Lock {
    _file: fs::File,
}

/// Takes the lock beside `dir` (`.<name>.lock`: inside it, it would be part of the state),
/// failing at once, with a message, when another bake holds it.
pub fn lock(dir: &Path) -> Result<Lock> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "state".into());
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| Error::io("creating", &parent, e))?;
    let path = parent.join(format!(".{name}.lock"));
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("opening lock file", &path, e))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(|_| {
        Error::state(dir, "another kubebake is baking with this state right now; try again when it is done")
    })?;
    Ok(Lock { _file: file })
}

/// The files of a state a bake made (commands other than bake work on such a state only).
pub(crate) fn read_initialized(dir: &Path) -> Result<Files> {
    if !dir.is_dir() {
        return Err(Error::state(dir, "no such state directory (kubebake bake makes it)"));
    }
    let files = read_tree(dir)?;
    if !files.contains_key(RECORD_FILE) {
        return Err(Error::state(dir, format!("has no {RECORD_FILE}: not a state a bake made")));
    }
    Ok(files)
}

/// The state's first token.
pub(crate) fn first_token(dir: &Path, files: &Files) -> Result<BootstrapToken> {
    let text = files.get(TOKEN_FILE).ok_or_else(|| Error::state(dir, format!("{TOKEN_FILE} is missing")))?;
    BootstrapToken::parse(String::from_utf8_lossy(text).trim_end_matches('\n'))
        .map_err(|m| Error::state(dir, format!("{TOKEN_FILE} is {m}; the state is damaged")))
}

/// Every regular file under `dir` by relative path; hidden entries (our own temporary
/// directories among them) are skipped. A missing directory is an empty state.
pub(super) fn read_tree(dir: &Path) -> Result<Files> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return Ok(out);
    }
    if !dir.is_dir() {
        return Err(Error::state(dir, "is not a directory"));
    }
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let entries = fs::read_dir(&abs).map_err(|e| Error::io("reading state directory", &abs, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("reading state directory", &abs, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let child = rel.join(&name);
            let path = dir.join(&child);
            let kind = entry.file_type().map_err(|e| Error::io("reading state directory", &path, e))?;
            // A link would be read through and written back as a real copy: a link to
            // nodes/ became a second directory of every node's private keys (tests/fuzz.rs).
            if kind.is_symlink() {
                return Err(Error::state(
                    dir,
                    format!("{} is a symbolic link; a state holds only its own files and directories", child.display()),
                ));
            }
            if kind.is_dir() {
                stack.push(child);
            } else {
                let bytes = fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
                out.insert(child.to_string_lossy().into_owned(), bytes);
            }
        }
    }
    Ok(out)
}

/// The mode a state file has on disk, to carry it over unchanged (0600 if unreadable).
pub(super) fn existing_mode(path: &Path) -> u32 {
    fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o600)
}

/// Writes the state `files` were read from with `new` in place of (or beside) them, swapped
/// in whole like a bake's: a crash leaves the old state or the new one.
pub(super) fn rewrite(dir: &Path, files: &Files, new: &NewFiles) -> Result<()> {
    let staging = Staging::new(dir, 0o700, true)?;
    for (rel, bytes) in files {
        if !new.contains_key(rel) {
            staging.write(rel, bytes, existing_mode(&dir.join(rel)), true)?;
        }
    }
    for (rel, (bytes, mode)) in new {
        staging.write(rel, bytes, *mode, true)?;
    }
    staging.commit()
}
