//! kubebake: bakes a kubeadm cluster into per-node files, offline and reproducibly.
//!
//! The pipeline: [`spec`] (the user's file) → [`model::Cluster`] → [`state`] (PKI and
//! token, created once and reused) → [`node::plan`] (the files each node gets) →
//! [`deliver`] (user-data in each format) → [`files`] (the output tree, written atomically).

pub mod cmd;
pub mod deliver;
pub mod error;
pub mod files;
pub mod fmt;
pub mod model;
pub mod node;
pub mod pki;
pub mod spec;
pub mod state;

pub use error::{Error, Result};

/// How many threads parallel work uses: the size of rayon's pool (the CPUs this process
/// may run on, unless RAYON_NUM_THREADS says otherwise).
pub fn cpus() -> usize {
    rayon::current_num_threads()
}

/// Runs `f` over `items` on every core, results in the order of `items`: key generation
/// and the rendering of nodes are each nearly all of some bake. The work runs on rayon's
/// pool, whose threads are made once per process: on a small VM a new thread costs as much
/// as signing a few certificates, and a bake asks for parallel work several times.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    items.par_iter().map(f).collect()
}

/// Starts the worker threads and the crypto library on them, and returns at once: called
/// as soon as the command line is parsed, so that what the first key and certificate of a
/// process cost (aws-lc seeds its random generator and builds its P-256 tables) is paid
/// while the spec is read, off a small bake's critical path. The process must not exit
/// while it runs (aws-lc's exit-time cleanup would pull its state from under it): wait on
/// the handle before returning from `main`; by the end of any command it is long done.
pub fn warm_up_in_background() -> WarmUp {
    start_pool();
    let (done, wait) = std::sync::mpsc::channel();
    rayon::spawn(move || {
        pki::warm_up();
        let _ = done.send(());
    });
    WarmUp(wait)
}

/// Sizes rayon's pool by the CPUs this process may run on. rayon's own default asks std,
/// which also reads the cgroup's CPU quota: on cgroup v1 that is six files opened and read
/// on the main thread before any work starts. RAYON_NUM_THREADS still decides when set.
fn start_pool() {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is a valid empty set, filled in by the kernel.
    let n = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            libc::CPU_COUNT(&set)
        } else {
            0
        }
    };
    if n > 0 {
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n as usize).build_global();
    }
}

/// See [`warm_up_in_background`].
pub struct WarmUp(std::sync::mpsc::Receiver<()>);

impl WarmUp {
    /// Blocks until the warm-up is done: call it before `main` returns.
    pub fn wait(self) {
        let _ = self.0.recv();
    }
}
