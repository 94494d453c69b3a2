//! kubebake: bakes a kubeadm cluster into per-node files, offline and reproducibly.
//!
//! The pipeline: [`spec`] (the user's file) → [`model::Cluster`] → [`state`] (PKI and
//! token, created once and reused) → [`node::plan`] (the files each node gets) →
//! [`deliver`] (user-data in each format) → [`files`] (the output tree, written atomically).

// Kept so by the compiler: every public item says what it is (a module mirroring an
// upstream schema field for field says so and allows it), and a function over 80 lines
// (clippy.toml) is split or says above it why not.
#![warn(missing_docs)]
#![warn(clippy::too_many_lines)]

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
