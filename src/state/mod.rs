//! The state directory: the cluster's CAs, service-account key pair, token and every
//! issued certificate, in kubeadm's file layout. Created by the first bake and reused by
//! every later one, so the same spec always yields the same bytes.
//!
//! Layout (all directories 0700, keys and the token 0600):
//! ```text
//! ca.crt ca.key front-proxy-ca.* etcd/ca.* sa.key sa.pub token   shared, as in /etc/kubernetes/pki
//! nodes/<node>/pki/…            each control plane's leaf certificates
//! nodes/<node>/kubeconfig/…     client certificates of its kubeconfigs
//! operator/admin.*              the operator's kubeconfig identity
//! kubebake-state.json           what each certificate was issued for
//! tokens/<id> tokens.json join-token   later tokens, and each worker pool's (join_tokens.rs)
//! seal.seed                     what secrets.encryptTo's seals derive from (deliver/seal.rs)
//! ```
//! Changes are built beside the directory and swapped in whole: a crash leaves the old
//! state or the new one, never a mix.
//!
//! `sync.rs` brings the directory in line with a spec, `renew.rs` reissues expiring
//! certificates, `dir.rs` reads, locks and rewrites the directory's files.

pub mod bootstrap_token;
mod dir;
pub mod history;
pub mod join_tokens;
mod renew;
pub mod seal_seed;
mod sync;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::Result;
use crate::files::Staging;
use crate::pki::{Ca, CaId};
use crate::state::bootstrap_token::BootstrapToken;
use crate::state::dir::NewFiles;
use crate::state::join_tokens::PoolTokens;
use crate::state::seal_seed::SealSeed;

pub(crate) use dir::read_initialized;
pub use dir::{Lock, RECORD_FILE, SEAL_SEED_FILE, TOKEN_FILE, lock};
pub use renew::{Renewed, renew};
pub use sync::{sync, sync_and_save};

/// A leaf certificate and its key, as stored.
#[derive(Clone)]
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
}

/// The synchronised state: everything the spec needs, loaded or newly made.
pub struct State {
    /// Where the state lives on disk.
    pub dir: PathBuf,
    cas: BTreeMap<CaId, Ca>,
    sa_key_pem: String,
    sa_pub_pem: String,
    /// The first token: `kubeadm init` puts it in the cluster.
    pub token: BootstrapToken,
    /// The token joining nodes carry: the first one until `kubebake token rotate`.
    pub join_token: BootstrapToken,
    /// Each worker pool's tokens, by pool name (the spec's pools only).
    pub pool_tokens: BTreeMap<String, PoolTokens>,
    leaves: BTreeMap<String, Leaf>,
    /// Present whenever the spec seals, and kept once made.
    seal_seed: Option<SealSeed>,
    /// What this bake created, reissued or dropped, for the report. Empty when the state
    /// was reused as it was.
    pub changes: Vec<String>,
}

impl State {
    /// The CA `id`; every state has all of them.
    pub fn ca(&self, id: CaId) -> &Ca {
        &self.cas[&id]
    }

    /// The CA `id`'s private key, PEM, for the control planes that sign with it.
    pub fn ca_key_pem(&self, id: CaId) -> String {
        self.cas[&id].key.to_pem()
    }

    /// The service-account signing key (`sa.key`), PEM.
    pub fn sa_key_pem(&self) -> &str {
        &self.sa_key_pem
    }

    /// The service-account verification key (`sa.pub`), PEM.
    pub fn sa_pub_pem(&self) -> &str {
        &self.sa_pub_pem
    }

    /// The seed that seals derive from; `sync` makes one for a spec that seals.
    pub fn seal_seed(&self) -> Option<&SealSeed> {
        self.seal_seed.as_ref()
    }

    /// The leaf stored under `stem` (e.g. `nodes/cp-1/pki/apiserver`).
    pub fn leaf(&self, stem: &str) -> &Leaf {
        self.leaves.get(stem).unwrap_or_else(|| panic!("state has no {stem}: sync() covers every wanted leaf"))
    }
}

/// The stem under which a control plane's leaf lives in the state.
pub fn node_pki_stem(node: &str, leaf: &str) -> String {
    format!("nodes/{node}/pki/{leaf}")
}

/// The stem under which the client certificate of a node's kubeconfig `name` lives.
pub fn node_kubeconfig_stem(node: &str, name: &str) -> String {
    format!("nodes/{node}/kubeconfig/{name}")
}

/// The stem of the operator's client certificate (the output's `admin.conf`), on no node.
pub const OPERATOR_STEM: &str = "operator/admin";

/// A synchronised state's files, not yet on disk. Writing them (fsync'd, swapped in
/// whole) can run while the output is rendered; the output must not be committed before.
#[must_use = "the state is not saved until Unsaved::save runs"]
pub struct Unsaved {
    dir: PathBuf,
    files: NewFiles,
}

impl Unsaved {
    /// Writes the state, replacing the old one whole.
    pub fn save(self) -> Result<()> {
        let staging = Staging::new(&self.dir, 0o700, true)?;
        for (rel, (bytes, mode)) in &self.files {
            staging.write(rel, bytes, *mode, true)?;
        }
        staging.commit()
    }
}
