//! Writing trees of files so that readers see either the old tree or the new one, never a
//! mix: everything is built in a sibling temporary directory and swapped into place.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::error::{Error, Result};

/// Removes staging directories `<parent>/<prefix><pid>-*` left by runs that were killed
/// (their pid is no longer alive), and those of older versions that carried no pid: they
/// can hold private keys and must not outlive the failed run by more than one bake.
fn remove_stale(parent: &Path, prefix: &str) -> Result<()> {
    let entries = match fs::read_dir(parent) {
        Ok(e) => e,
        Err(_) => return Ok(()),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else { continue };
        let pid = rest.split_once('-').and_then(|(p, _)| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !alive && entry.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(entry.path()).map_err(|e| Error::io("removing the stale", entry.path(), e))?;
        }
    }
    Ok(())
}

/// Name of the checksum file at the top of an output tree (`sha256sum -c` format).
pub const SUMS_FILE: &str = "SHA256SUMS";

/// A directory being built beside its final place; dropped unfinished, it disappears.
/// Files may be written from several threads at once.
pub struct Staging {
    dir: tempfile::TempDir,
    target: PathBuf,
    fsync: bool,
    /// Directories already made: creating them again costs a failed mkdir per file, and
    /// metadata operations dominate a bake of many nodes.
    made: std::sync::Mutex<std::collections::HashSet<PathBuf>>,
    /// The tree this one replaces, when its unchanged files are to be linked rather than
    /// written again (see [`Staging::reusing_previous`]).
    previous: Option<PathBuf>,
}

/// What a write did: wrote the bytes, or linked the previous tree's identical file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    New,
    Linked,
}

/// The process's umask, read without changing it (`umask(2)` can only be read by setting
/// it, which would race with other threads creating files). None where /proc lacks it.
fn umask() -> Option<u32> {
    static UMASK: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(line.trim(), 8).ok()
    })
}

impl Staging {
    /// Starts a tree that will replace `target`; the root gets `root_mode`.
    pub fn new(target: &Path, root_mode: u32, fsync: bool) -> Result<Self> {
        let parent = parent_of(target);
        fs::create_dir_all(&parent).map_err(|e| Error::io("creating", &parent, e))?;
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let prefix = format!(".{name}.tmp-");
        remove_stale(&parent, &prefix)?;
        // The pid in the name tells a later run whether its writer is still alive.
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}{}-", std::process::id()))
            .tempdir_in(&parent)
            .map_err(|e| Error::io("creating a temporary directory in", &parent, e))?;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(root_mode))
            .map_err(|e| Error::io("setting permissions on", dir.path(), e))?;
        Ok(Staging { dir, target: target.to_path_buf(), fsync, made: Default::default(), previous: None })
    }

    /// Files equal to the replaced tree's (same bytes, same mode) become hard links to
    /// them instead of new files: on a disk, a re-bake that changes a few nodes then
    /// allocates, writes and later frees no data for the others. The old tree is read,
    /// not trusted: a file changed by hand there is written anew.
    pub fn reusing_previous(mut self) -> Self {
        self.previous = Some(self.target.clone()).filter(|t| t.is_dir());
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `bytes` at `rel` with exactly `mode` (whatever the umask), creating parent
    /// directories 0755, or 0700 when `private_dirs` is set.
    pub fn write(&self, rel: &str, bytes: &[u8], mode: u32, private_dirs: bool) -> Result<Written> {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            self.make_dirs(parent, if private_dirs { 0o700 } else { 0o755 })?;
        }
        if let Some(old) = self.previous.as_ref().map(|p| p.join(rel))
            && same_file_contents(&old, bytes, mode)
            && fs::hard_link(&old, &path).is_ok()
        {
            return Ok(Written::Linked);
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode_compat(mode)
            .open(&path)
            .map_err(|e| Error::io("writing", &path, e))?;
        // open() already applied `mode` less the umask; only a umask that took bits away
        // needs the extra call (one of four syscalls per file).
        if umask().is_none_or(|m| mode & m != 0) {
            f.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(|e| Error::io("setting permissions on", &path, e))?;
        }
        f.write_all(bytes).map_err(|e| Error::io("writing", &path, e))?;
        if self.fsync {
            f.sync_all().map_err(|e| Error::io("syncing", &path, e))?;
        }
        Ok(Written::New)
    }

    /// Creates `dir` and its missing ancestors inside the staging root, top down, so each
    /// costs exactly one mkdir (std's recursive builder fails its way up first).
    fn make_dirs(&self, dir: &Path, mode: u32) -> Result<()> {
        if dir == self.dir.path() || self.made.lock().expect("no panics while held").contains(dir) {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            self.make_dirs(parent, mode)?;
        }
        match fs::DirBuilder::new().mode(mode).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("creating", dir, e)),
        }
        self.made.lock().expect("no panics while held").insert(dir.to_path_buf());
        Ok(())
    }

    /// Puts the tree in place of the target, atomically when the target exists (Linux
    /// `RENAME_EXCHANGE`); the previous tree is removed afterwards.
    pub fn commit(self) -> Result<()> {
        let Staging { dir, target, .. } = self;
        if !target.exists() {
            let staged = dir.keep();
            return fs::rename(&staged, &target).map_err(|e| Error::io("moving output into place at", &target, e));
        }
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            dir.path(),
            rustix::fs::CWD,
            &target,
            rustix::fs::RenameFlags::EXCHANGE,
        ) {
            // `dir` now holds the old tree, which its drop removes.
            Ok(()) => Ok(()),
            Err(_) => {
                // A filesystem without RENAME_EXCHANGE: a short window with no tree at all,
                // but never a mixed one.
                let old = dir.path().with_extension("old");
                fs::rename(&target, &old).map_err(|e| Error::io("moving aside", &target, e))?;
                let staged = dir.keep();
                fs::rename(&staged, &target).map_err(|e| Error::io("moving output into place at", &target, e))?;
                fs::remove_dir_all(&old).map_err(|e| Error::io("removing", &old, e))
            }
        }
    }
}

trait ModeCompat {
    fn mode_compat(&mut self, mode: u32) -> &mut Self;
}

impl ModeCompat for fs::OpenOptions {
    fn mode_compat(&mut self, mode: u32) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        // Created with the final mode so a secret is never readable by others, even briefly.
        self.mode(mode)
    }
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether the regular file at `path` holds exactly `bytes` with exactly `mode`.
pub fn same_file_contents(path: &Path, bytes: &[u8], mode: u32) -> bool {
    use std::io::Read;
    let Ok(mut f) = fs::File::open(path) else { return false };
    let Ok(meta) = f.metadata() else { return false };
    if !meta.is_file() || meta.len() != bytes.len() as u64 || meta.permissions().mode() & 0o7777 != mode {
        return false;
    }
    let mut old = Vec::with_capacity(bytes.len());
    f.read_to_end(&mut old).is_ok() && old == bytes
}

/// `sha256sum`-format lines for `files` (relative path, bytes), sorted by path.
pub fn sha256sums<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    sha256sums_of(files.into_iter().map(|(path, bytes)| (path.to_string(), digest(bytes))))
}

pub fn digest(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

/// `sha256sum`-format lines for files already hashed, sorted by path.
pub fn sha256sums_of(files: impl IntoIterator<Item = (String, [u8; 32])>) -> String {
    let mut lines: Vec<(String, [u8; 32])> = files.into_iter().collect();
    lines.sort();
    lines.into_iter().map(|(path, sum)| format!("{}  {path}\n", crate::pki::hex(&sum))).collect()
}

/// Whether `inner` is `outer` or lies beneath it, comparing absolute, normalised paths.
pub fn is_within(inner: &Path, outer: &Path) -> bool {
    let (Ok(inner), Ok(outer)) = (absolute_normal(inner), absolute_normal(outer)) else {
        return false;
    };
    inner.starts_with(outer)
}

/// Whether either of two places is the other or lies beneath it ([`is_within`] both ways,
/// each path resolved once).
pub fn nested(a: &Path, b: &Path) -> bool {
    let (Ok(a), Ok(b)) = (absolute_normal(a), absolute_normal(b)) else {
        return false;
    };
    a.starts_with(&b) || b.starts_with(&a)
}

fn absolute_normal(p: &Path) -> std::io::Result<PathBuf> {
    // `absolute` keeps `..`; resolve it lexically so `out/../state` is not "inside" out.
    let mut abs = PathBuf::new();
    for c in std::path::absolute(p)?.components() {
        match c {
            std::path::Component::ParentDir => {
                abs.pop();
            }
            std::path::Component::CurDir => {}
            c => abs.push(c),
        }
    }
    // Resolve symlinks on the part that exists so two spellings of one place compare equal.
    let mut existing = abs.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_owned());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    Ok(out)
}

/// Writes `bytes` to `path` with `mode` through a temporary file in the same directory and
/// a rename, so `path` is either its old self or complete; creates missing parents.
pub fn write_file_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io("creating a file in", dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io("writing", path, e))?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(|e| Error::io("writing", path, e))?;
    tmp.persist(path).map_err(|e| Error::io("writing", path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_a_tree_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        let s = Staging::new(&target, 0o700, false).unwrap();
        s.write("a/old.txt", b"old", 0o644, false).unwrap();
        s.commit().unwrap();
        let s = Staging::new(&target, 0o700, false).unwrap();
        s.write("a/new.key", b"new", 0o600, true).unwrap();
        s.commit().unwrap();
        assert!(!target.join("a/old.txt").exists());
        assert_eq!(fs::read(target.join("a/new.key")).unwrap(), b"new");
        let mode = fs::metadata(target.join("a/new.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Nothing but the target is left beside it.
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_abandoned_tree_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Staging::new(&tmp.path().join("out"), 0o700, false).unwrap();
        s.write("x", b"x", 0o644, false).unwrap();
        drop(s);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn sums_are_sorted_and_sha256sum_shaped() {
        let s = sha256sums([("b", &b""[..]), ("a", &b"abc"[..])]);
        assert_eq!(
            s,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  b\n"
        );
    }

    #[test]
    fn nesting_is_detected_across_spellings() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        assert!(is_within(&out.join("state"), &out));
        assert!(is_within(&out.join("x/../state"), &out));
        assert!(!is_within(&tmp.path().join("state"), &out));
        assert!(!is_within(&out.join("../state"), &out));
    }
}
