//! Writing trees of files so that readers see either the old tree or the new one, never a
//! mix: everything is built in a sibling temporary directory and swapped into place.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::Digest;

pub mod cleanup;
use crate::error::{Error, Result};

/// Removes what runs that were killed left beside a target: staging directories and
/// temporary files named `<prefix><pid>-…` whose pid no longer runs (or is this process's,
/// reused, and not registered by it), and staging directories of older versions that
/// carried no pid. They can hold private keys, and must not outlive the killed run by more
/// than the next one that writes the same target. Runs under `held`, so a path another
/// thread of this process is creating is registered before it can be looked at.
fn remove_stale(parent: &Path, prefix: &str, held: &cleanup::Held) -> Result<()> {
    let entries = match fs::read_dir(parent) {
        Ok(e) => e,
        Err(_) => return Ok(()),
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else { continue };
        let Ok(kind) = entry.file_type() else { continue };
        let pid = rest.split_once('-').and_then(|(p, _)| p.parse::<u32>().ok());
        let path = entry.path();
        let stale = match pid {
            Some(p) if p == me => !held.registered(&path),
            Some(p) => !Path::new(&format!("/proc/{p}")).exists(),
            // Only directories were ever staged without a pid; a file so named is not ours.
            None => kind.is_dir(),
        };
        if !stale {
            continue;
        }
        let removed = if kind.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        removed.map_err(|e| Error::io("removing the stale", &path, e))?;
    }
    Ok(())
}

/// Removes what killed runs left beside `target` (see `remove_stale`), for a run that
/// does not rewrite `target` and so never makes a [`Staging`] for it.
pub fn remove_stale_staging(target: &Path) -> Result<()> {
    let held = cleanup::hold()?;
    remove_stale(&parent_of(target), &staging_prefix(target), &held)
}

/// `.<name>.tmp-`: what every temporary sibling of `target` is called, followed by the pid
/// of the process writing it.
fn staging_prefix(target: &Path) -> String {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!(".{name}.tmp-")
}

/// Name of the checksum file at the top of an output tree (`sha256sum -c` format).
pub const SUMS_FILE: &str = "SHA256SUMS";

/// A directory being built beside its final place; dropped unfinished, or when a signal
/// ends the process, it disappears. Files may be written from several threads at once.
pub struct Staging {
    dir: cleanup::Guard,
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
    /// The bytes were written to a new file.
    New,
    /// A hard link to the previous tree's identical file was made instead.
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
        let prefix = staging_prefix(target);
        // Created and registered as one step: a signal in between would leave it behind.
        let mut held = cleanup::hold()?;
        remove_stale(&parent, &prefix, &held)?;
        // The pid in the name tells a later run whether its writer is still alive.
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}{}-", std::process::id()))
            .tempdir_in(&parent)
            .map_err(|e| Error::io("creating a temporary directory in", &parent, e))?
            .keep();
        let dir = held.register(dir);
        drop(held);
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

    /// The staging directory, where files go until [`Staging::commit`] puts it in place.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `bytes` at `rel` with exactly `mode` (whatever the umask), creating parent
    /// directories 0755, or 0700 when `private_dirs` is set.
    pub fn write(&self, rel: &str, bytes: &[u8], mode: u32, private_dirs: bool) -> Result<Written> {
        // The process is ending and the tree is being removed: adding to it only slows that.
        if cleanup::abandoned() {
            return Err(Error::Interrupted);
        }
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
    /// `RENAME_EXCHANGE`); the previous tree is removed afterwards. Refused once a signal
    /// has ended the run: the target is then left as it was.
    pub fn commit(self) -> Result<()> {
        let Staging { dir, target, .. } = self;
        let mut held = cleanup::hold()?;
        if !target.exists() {
            fs::rename(dir.path(), &target).map_err(|e| Error::io("moving output into place at", &target, e))?;
            held.release(&dir);
            return Ok(());
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
                // but never a mixed one. Both renames happen under `held`: a signal between
                // them would otherwise remove the new tree and the old one, leaving none.
                // The old tree is named after the staging, so that SIGKILL leaves it to
                // the next run to remove, like the staging itself.
                let mut old = dir.path().as_os_str().to_owned();
                old.push(".old");
                let old = PathBuf::from(old);
                fs::rename(&target, &old).map_err(|e| Error::io("moving aside", &target, e))?;
                let old = held.register(old);
                if let Err(e) = fs::rename(dir.path(), &target) {
                    // The old tree back rather than none.
                    if fs::rename(old.path(), &target).is_ok() {
                        held.release(&old);
                    }
                    return Err(Error::io("moving output into place at", &target, e));
                }
                held.release(&dir);
                // `old` drops after `held`, and removes the previous tree.
                drop(held);
                Ok(())
            }
        }
    }
}

/// A file being written beside its final place, as `.<name>.tmp-<pid>-…` (private until
/// renamed), then renamed over it whole: readers see the old file or the new one. Dropped
/// unfinished, or when a signal ends the process, it disappears.
pub struct PendingFile {
    file: fs::File,
    guard: cleanup::Guard,
}

impl PendingFile {
    /// Starts a file that will replace `path`; creates missing parents.
    pub fn beside(path: &Path) -> Result<Self> {
        let dir = parent_of(path);
        fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        let prefix = staging_prefix(path);
        let mut held = cleanup::hold()?;
        remove_stale(&dir, &prefix, &held)?;
        let (file, tmp) = tempfile::Builder::new()
            .prefix(&format!("{prefix}{}-", std::process::id()))
            .tempfile_in(&dir)
            .and_then(|f| f.keep().map_err(|e| e.error))
            .map_err(|e| Error::io("creating a file in", &dir, e))?;
        let guard = held.register(tmp);
        Ok(PendingFile { file, guard })
    }

    /// The open temporary file, to write the contents to.
    pub fn file(&self) -> &fs::File {
        &self.file
    }

    /// Renames the file over `path`.
    pub fn persist(self, path: &Path) -> Result<()> {
        let mut held = cleanup::hold()?;
        fs::rename(self.guard.path(), path).map_err(|e| Error::io("writing", path, e))?;
        held.release(&self.guard);
        Ok(())
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

/// The sha256 of `bytes`, raw (hex it for `SHA256SUMS`).
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

/// The sha256 of the file at `path` (read in pieces: a bundle is hundreds of megabytes), hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).map_err(|e| Error::io("reading", path, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(|e| Error::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(crate::fmt::hex(&hasher.finalize()))
}

/// `sha256sum`-format lines for files already hashed, sorted by path.
pub fn sha256sums_of(files: impl IntoIterator<Item = (String, [u8; 32])>) -> String {
    let mut lines: Vec<(String, [u8; 32])> = files.into_iter().collect();
    lines.sort();
    lines.into_iter().map(|(path, sum)| format!("{}  {path}\n", crate::fmt::hex(&sum))).collect()
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

/// Writes `bytes` to `path` with `mode` through a [`PendingFile`], so `path` is either its
/// old self or complete; creates missing parents.
pub fn write_file_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let pending = PendingFile::beside(path)?;
    let mut file = pending.file();
    file.write_all(bytes).map_err(|e| Error::io("writing", path, e))?;
    file.set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| Error::io("writing", path, e))?;
    pending.persist(path)
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
    fn what_dead_runs_left_is_removed_and_what_live_ones_are_writing_is_not() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        let me = std::process::id();
        // No such process: pids stop below 2^22 on Linux.
        let dead = format!(".out.tmp-{}-aaaaaa", 1u32 << 23);
        // pid 1 runs as long as the system does.
        let alive = ".out.tmp-1-bbbbbb".to_string();
        // This process's pid, not registered: a killed run's whose pid was given to us.
        let reused = format!(".out.tmp-{me}-cccccc");
        let older = ".out.tmp-dddddd".to_string();
        for dir in [&dead, &alive, &reused, &older] {
            fs::create_dir(tmp.path().join(dir)).unwrap();
            fs::write(tmp.path().join(dir).join("ca.key"), "key").unwrap();
        }
        let dead_file = format!(".out.tmp-{}-eeeeee", 1u32 << 23);
        fs::write(tmp.path().join(&dead_file), "token").unwrap();
        // Not ours: another target's, and a file without a pid.
        for file in [".output.tmp-1-x", ".out.tmp-notes"] {
            fs::write(tmp.path().join(file), "x").unwrap();
        }
        let live = Staging::new(&target, 0o700, false).unwrap();
        let live_name = live.path().file_name().unwrap().to_string_lossy().into_owned();
        // A second tree for the same target, from this process, leaves the first one alone.
        let second = Staging::new(&target, 0o700, false).unwrap();
        let mut left: Vec<String> =
            fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        let second_name = second.path().file_name().unwrap().to_string_lossy().into_owned();
        let mut want = vec![".out.tmp-notes".to_string(), ".output.tmp-1-x".to_string(), alive, live_name, second_name];
        want.sort();
        assert_eq!(left, want);
    }

    #[test]
    fn a_pending_file_is_private_until_put_in_place_and_gone_if_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("t.yaml");
        let pending = PendingFile::beside(&path).unwrap();
        let name = pending.guard.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&format!(".t.yaml.tmp-{}-", std::process::id())), "{name}");
        let mode = fs::metadata(pending.guard.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(pending);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
        write_file_atomic(&path, b"secret", 0o640).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"secret");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
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
