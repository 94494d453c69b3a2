//! kubebake: bakes a kubeadm cluster into per-node files, offline and reproducibly.
//!
//! The pipeline: [`spec`] (the user's file) → [`model::Cluster`] → [`state`] (PKI and
//! token, created once and reused) → [`plan`] (the files each node gets) → [`output`].

pub mod bake;
pub mod bundle;
pub mod check;
pub mod cni;
pub mod error;
pub mod firstboot;
pub mod images;
pub mod init;
pub mod inspect;
pub mod invocation;
pub mod kubeadm_config;
pub mod kubeconfig;
pub mod manifests;
pub mod model;
pub mod output;
pub mod pack;
pub mod packer;
pub mod pki;
pub mod plan;
pub mod profile;
pub mod render;
pub mod seal;
pub mod spec;
pub mod state;
pub mod templates;
pub mod token;
pub mod tokens;
pub mod versions;
pub mod yaml;

pub use error::{Error, Result};

/// How many threads parallel work uses: the CPUs this process may run on, asked once
/// (the answer reads cgroup files, which costs a small bake measurable time).
pub fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `f` over `items` on every core, results in the order of `items`: key generation
/// and the rendering of nodes are each nearly all of some bake. The calling thread works too.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = cpus().min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            let r = f(item);
            results.lock().expect("no panics while held")[i] = Some(r);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    results.into_inner().expect("threads joined").into_iter().map(|r| r.expect("every item ran")).collect()
}
