//! Paths that must not outlive the process: the staging directories and temporary files
//! that hold private keys and tokens on their way into place (`output::Staging`,
//! `output::PendingFile`). Each is registered here from the moment it is created until it
//! is renamed into place or removed, and is removed by whichever comes first: its owner
//! (dropped: after an error, or a panic that unwinds), or [`abandon`], which runs when
//! SIGINT, SIGTERM or SIGHUP arrives, and from the panic hook (a release build aborts on a
//! panic, and drops nothing).
//!
//! **How signals are taken.** A signal handler may only call async-signal-safe functions:
//! no allocation, no lock, no `remove_dir_all`. One could only set a flag that the bake
//! polls (key generation and downloads would not), or write to a pipe that some thread
//! reads anyway. So instead the three signals are blocked in every thread (the mask is
//! inherited, so it is set before the first thread starts) and one thread waits for them
//! with sigwait(2). It is an ordinary thread: it takes this module's locks and removes
//! directories like any other code, and no system call anywhere is interrupted (EINTR).
//! Then it dies of the same signal (default action, raised again), so a shell sees
//! "killed by SIGINT" and stops a script, as it would have without the cleanup. The
//! signal-hook crate would do the same with a self-pipe and a thread of its own: a
//! dependency for about twenty lines of libc calls.
//!
//! SIGKILL cannot be caught: what a killed run left is recognised by its name
//! (`.<target>.tmp-<pid>-…`, the pid no longer running) and removed by the next run that
//! writes the same target (`output::remove_stale`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use crate::error::{Error, Result};

/// Every path registered and neither removed nor put in place yet, by guard id. Guards
/// remove their path while holding it, so [`abandon`] waits for a removal under way
/// rather than letting the process die half-way through it.
static PATHS: Mutex<Paths> = Mutex::new(Paths { next: 0, by_id: BTreeMap::new() });

/// Held while a path is created and registered, and while it is renamed into place and
/// released ([`hold`]), and by [`abandon`]: abandoning never sees a path created and not
/// yet registered, or one already in place (the output itself) and still registered.
/// Always taken before `PATHS`, never while holding it.
static GATE: Mutex<()> = Mutex::new(());

/// Set once everything has been abandoned: nothing new is created or put in place after.
static ABANDONED: AtomicBool = AtomicBool::new(false);

/// The signal that arrived, 0 until one does.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

struct Paths {
    next: u64,
    by_id: BTreeMap<u64, PathBuf>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data is a list of paths: a panic elsewhere leaves it usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A registered path (a directory or a file): removed when the guard drops, unless it was
/// put in place ([`Held::release`]) or already removed by [`abandon`].
pub struct Guard {
    id: u64,
    path: PathBuf,
}

impl Guard {
    /// The registered path, removed on drop unless released.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut paths = lock(&PATHS);
        if paths.by_id.remove(&self.id).is_some() {
            remove(&self.path);
        }
    }
}

/// Creating a path and registering it, or putting a registered path in place and releasing
/// it, as one step that [`abandon`] sees whole or not at all.
pub struct Held {
    _gate: MutexGuard<'static, ()>,
}

/// Starts such a step; fails once everything was abandoned (the process is ending).
pub fn hold() -> Result<Held> {
    let gate = lock(&GATE);
    if abandoned() {
        return Err(Error::Interrupted);
    }
    Ok(Held { _gate: gate })
}

impl Held {
    /// Registers `path`, which the caller has just created.
    pub fn register(&mut self, path: PathBuf) -> Guard {
        let mut paths = lock(&PATHS);
        let id = paths.next;
        paths.next += 1;
        paths.by_id.insert(id, path.clone());
        Guard { id, path }
    }

    /// `guard`'s path is no longer the process's to remove: it was renamed into place.
    pub fn release(&mut self, guard: &Guard) {
        lock(&PATHS).by_id.remove(&guard.id);
    }

    /// Whether this process registered `path` and still holds it.
    pub fn registered(&self, path: &Path) -> bool {
        lock(&PATHS).by_id.values().any(|p| p == path)
    }
}

/// Whether everything was abandoned: long loops that fill a registered directory stop.
pub fn abandoned() -> bool {
    ABANDONED.load(Ordering::SeqCst)
}

/// Removes every registered path and refuses any new one: the process is about to end.
pub fn abandon() {
    ABANDONED.store(true, Ordering::SeqCst);
    let _gate = lock(&GATE);
    remove_all(&mut lock(&PATHS));
}

/// [`abandon`] from a panic hook, without waiting: the panicking thread may hold a lock
/// itself (it would wait forever), and another thread holding one is putting a path in
/// place or removing it. Then what is left is the next run's to remove, as after SIGKILL.
pub fn abandon_after_panic() {
    ABANDONED.store(true, Ordering::SeqCst);
    let gate = match GATE.try_lock() {
        Ok(g) => g,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return,
    };
    let mut paths = match PATHS.try_lock() {
        Ok(p) => p,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return,
    };
    remove_all(&mut paths);
    drop(gate);
}

fn remove_all(paths: &mut Paths) {
    for path in std::mem::take(&mut paths.by_id).into_values() {
        remove(&path);
    }
}

fn remove(path: &Path) {
    // A writer already past its check of `abandoned()` may still add a file or a directory
    // while the tree is being removed, and the removal then finds a directory not empty;
    // going again finishes it. Each writer adds at most one file and its directories, so
    // a few rounds do; the bound only keeps a tree that cannot be removed (permissions)
    // from holding the process forever.
    for _ in 0..100 {
        let done = match fs::symlink_metadata(path) {
            Err(_) => true,
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).is_ok(),
            Ok(_) => fs::remove_file(path).is_ok(),
        };
        if done {
            return;
        }
    }
}

/// The signals that end a run with its staging removed, blocked in the calling thread.
pub struct Blocked(libc::sigset_t);

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and in every thread it starts
/// from now on: call it first in `main`, before any thread exists. A signal the process
/// was started with ignored (`nohup` ignores SIGHUP, a shell's `cmd &` SIGINT) stays
/// ignored: blocked, it would be queued and taken.
pub fn block_signals() -> Blocked {
    // SAFETY: the set is initialised by sigemptyset before use; sigaction with a null new
    // action only reads the current one; pthread_sigmask changes this thread's mask only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let mut current: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut current) == 0 && current.sa_sigaction != libc::SIG_IGN {
                libc::sigaddset(&mut set, sig);
            }
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        Blocked(set)
    }
}

impl Blocked {
    /// Starts the thread that takes the signals; a signal that arrives before it waits,
    /// blocked, until it is taken.
    pub fn watch_in_background(self) {
        let set = self.0;
        // SAFETY: `set` is an initialised signal set.
        let none =
            [libc::SIGINT, libc::SIGTERM, libc::SIGHUP].iter().all(|&s| unsafe { libc::sigismember(&set, s) } != 1);
        if none {
            // All three were ignored when the process started: nothing to take.
            return;
        }
        let watcher = std::thread::Builder::new().name("signals".into()).spawn(move || {
            loop {
                let mut sig = 0;
                // SAFETY: `set` is an initialised signal set; sigwait writes `sig`.
                if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                    SIGNAL.store(sig, Ordering::SeqCst);
                    abandon();
                    die(sig);
                }
            }
        });
        if let Err(e) = watcher {
            // Every thread has the signals blocked and none takes them: say so.
            eprintln!("warning: cannot start the thread that takes signals ({e}); only SIGKILL stops this run");
        }
    }
}

/// Called last in `main`, after every guard is dropped: if a signal arrived, finishes the
/// removal (waiting for the signal thread's) and dies of that signal, rather than exiting
/// normally while the signal thread is half-way through a tree.
pub fn finish() {
    let sig = SIGNAL.load(Ordering::SeqCst);
    if sig != 0 {
        abandon();
        die(sig);
    }
}

/// Ends the process by `sig`'s default action, as if it had never been caught.
fn die(sig: libc::c_int) -> ! {
    // SAFETY: restoring the default action of a catchable signal, unblocking it in this
    // thread and raising it there; _exit (no atexit handlers: aws-lc's would run while
    // other threads use it) only if the process somehow survives that.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut one: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut one);
        libc::sigaddset(&mut one, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &one, std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(128 + sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_removes_its_path_unless_released() {
        let tmp = tempfile::tempdir().unwrap();
        let (kept, dropped) = (tmp.path().join("kept"), tmp.path().join("dropped"));
        fs::create_dir(&kept).unwrap();
        fs::create_dir(&dropped).unwrap();
        fs::write(dropped.join("key"), "secret").unwrap();
        let mut held = hold().unwrap();
        let (a, b) = (held.register(kept.clone()), held.register(dropped.clone()));
        assert!(held.registered(&kept) && held.registered(&dropped));
        held.release(&a);
        assert!(!held.registered(&kept));
        drop(held);
        drop((a, b));
        assert!(kept.is_dir(), "a released path was removed");
        assert!(!dropped.exists(), "a dropped guard left its path");
    }
}
