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
//! tokens/<id> tokens.json join-token   later tokens, and each worker pool's (tokens.rs)
//! seal.seed                     what secrets.encryptTo's seals derive from (seal.rs)
//! ```
//! Changes are built beside the directory and swapped in whole: a crash leaves the old
//! state or the new one, never a mix.

pub mod token;
pub mod tokens;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::files::Staging;
use crate::model::Cluster;
use crate::pki::kubeconfig;
use crate::pki::{self, Ca, CaId, IssuedCert, ParsedCert, PrivateKey, Profile};
use crate::state::token::BootstrapToken;

pub const RECORD_FILE: &str = "kubebake-state.json";
pub const TOKEN_FILE: &str = "token";
/// 32 random bytes, made by the first bake that seals (`secrets.encryptTo`) and kept: every
/// seal's ephemeral key, file key and nonce derive from it, and from nothing else secret.
pub const SEAL_SEED_FILE: &str = "seal.seed";
const RECORD_VERSION: u32 = 1;

/// Files a user may put in a new state directory before the first bake: their own CAs
/// (and service-account key pair), used instead of generated ones.
const BRING_YOUR_OWN: &[&str] =
    &["ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "etcd/ca.crt", "etcd/ca.key", "sa.key", "sa.pub"];

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    version: u32,
    cluster: String,
    certificates: BTreeMap<String, Profile>,
}

/// A leaf certificate and its key, as stored.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The synchronised state: everything the spec needs, loaded or newly made.
pub struct State {
    pub dir: PathBuf,
    cas: BTreeMap<CaId, Ca>,
    sa_key_pem: String,
    sa_pub_pem: String,
    /// The first token: `kubeadm init` puts it in the cluster.
    pub token: BootstrapToken,
    /// The token joining nodes carry: the first one until `kubebake token rotate`.
    pub join_token: BootstrapToken,
    /// Each worker pool's tokens, by pool name (the spec's pools only).
    pub pool_tokens: BTreeMap<String, crate::state::tokens::PoolTokens>,
    leaves: BTreeMap<String, Leaf>,
    /// Present whenever the spec seals, and kept once made.
    seal_seed: Option<crate::deliver::seal::SealSeed>,
    /// What this bake created, reissued or dropped, for the report. Empty when the state
    /// was reused as it was.
    pub changes: Vec<String>,
}

impl State {
    pub fn ca(&self, id: CaId) -> &Ca {
        &self.cas[&id]
    }

    pub fn ca_key_pem(&self, id: CaId) -> String {
        self.cas[&id].key.to_pem()
    }

    pub fn sa_key_pem(&self) -> &str {
        &self.sa_key_pem
    }

    pub fn sa_pub_pem(&self) -> &str {
        &self.sa_pub_pem
    }

    /// The seed that seals derive from; `sync` makes one for a spec that seals.
    pub fn seal_seed(&self) -> Option<&crate::deliver::seal::SealSeed> {
        self.seal_seed.as_ref()
    }

    /// The leaf stored under `stem` (e.g. `nodes/cp-1/pki/apiserver`).
    pub fn leaf(&self, stem: &str) -> &Leaf {
        self.leaves.get(stem).unwrap_or_else(|| panic!("state has no {stem}: sync() covers every wanted leaf"))
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

/// The stem under which a control plane's leaf lives in the state.
pub fn node_pki_stem(node: &str, leaf: &str) -> String {
    format!("nodes/{node}/pki/{leaf}")
}

pub fn node_kubeconfig_stem(node: &str, name: &str) -> String {
    format!("nodes/{node}/kubeconfig/{name}")
}

pub const OPERATOR_STEM: &str = "operator/admin";

/// Every leaf the cluster needs, by state stem.
fn wanted(cluster: &Cluster) -> BTreeMap<String, Profile> {
    let mut out = BTreeMap::new();
    for node in cluster.control_planes() {
        for leaf in pki::control_plane_leaves(cluster, node) {
            out.insert(node_pki_stem(&node.name, leaf.stem), leaf.profile);
        }
        for id in kubeconfig::node_identities(cluster, node) {
            out.insert(node_kubeconfig_stem(&node.name, id.file_stem), id.profile);
        }
    }
    if cluster.pki.external_ca {
        for node in &cluster.nodes {
            let serving = pki::kubelet_serving(cluster, node);
            out.insert(node_pki_stem(&node.name, serving.stem), serving.profile);
        }
        for node in cluster.nodes.iter().filter(|n| n.role == crate::model::Role::Worker) {
            let id = kubeconfig::worker_kubelet_identity(cluster, node);
            out.insert(node_kubeconfig_stem(&node.name, id.file_stem), id.profile);
        }
    }
    out.insert(OPERATOR_STEM.to_string(), kubeconfig::operator_identity(cluster).profile);
    out
}

/// Loads the state at `dir`, creates what is missing and reissues what the spec no longer
/// matches; what changed comes back as [`Unsaved`], for the caller to save.
///
/// Refuses (changing nothing) a state that is damaged or half-written: a key that does not
/// match its certificate, a certificate without its key, a certificate not signed by its
/// CA, a missing CA in a state that was baked before, a state of another cluster.
pub fn sync(dir: &Path, cluster: &Cluster, now: OffsetDateTime) -> Result<(State, Option<Unsaved>)> {
    let refuse = |m: String| Error::state(dir, m);
    let existing = read_tree(dir)?;
    let text = |rel: &str| -> Result<Option<String>> {
        match existing.get(rel) {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes.clone())
                .map(Some)
                .map_err(|_| refuse(format!("{rel} is not text; the state is damaged"))),
        }
    };

    let record: Option<Record> = match existing.get(RECORD_FILE) {
        None => None,
        Some(bytes) => Some(
            serde_json::from_slice(bytes)
                .map_err(|e| refuse(format!("{RECORD_FILE} is unreadable ({e}); the state is damaged")))?,
        ),
    };
    let initialized = record.is_some();
    if let Some(r) = &record {
        if r.version != RECORD_VERSION {
            return Err(refuse(format!(
                "{RECORD_FILE} has version {}, this kubebake reads {RECORD_VERSION}",
                r.version
            )));
        }
        if r.cluster != cluster.name {
            return Err(refuse(format!(
                "belongs to cluster {:?}, but the spec is for {:?}; pass --state for this cluster's own state",
                r.cluster, cluster.name
            )));
        }
    } else if let Some(other) = existing.keys().find(|k| !BRING_YOUR_OWN.contains(&k.as_str())) {
        return Err(refuse(format!(
            "has {other} but no {RECORD_FILE}: it is not a kubebake state, or its first bake did not finish; \
             only your own CA files ({}) may be placed in a new state",
            BRING_YOUR_OWN.join(", ")
        )));
    }
    let pair = |stem: &str, a: &str, b: &str| -> Result<Option<(String, String)>> {
        let (ra, rb) = (format!("{stem}.{a}"), format!("{stem}.{b}"));
        match (text(&ra)?, text(&rb)?) {
            (Some(x), Some(y)) => Ok(Some((x, y))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(refuse(format!("has {ra} but not {rb}; the state is half-written"))),
            (None, Some(_)) => Err(refuse(format!("has {rb} but not {ra}; the state is half-written"))),
        }
    };
    let mut changes = Vec::new();

    // CAs and the service-account key: loaded, or made once, never silently replaced.
    let mut cas = BTreeMap::new();
    let mut to_generate = Vec::new();
    for id in CaId::ALL {
        match pair(id.stem(), "crt", "key")? {
            Some((crt, key)) => {
                let ca = Ca::load(id, &crt, &key).map_err(|m| refuse(format!("{m}; refusing to use it")))?;
                let parsed = ParsedCert::from_der(&ca.cert_der).map_err(refuse)?;
                if parsed.not_after <= now {
                    return Err(refuse(format!(
                        "{}.crt expired on {}; renew the CA first",
                        id.stem(),
                        parsed.not_after
                    )));
                }
                cas.insert(id, ca);
            }
            None if !initialized => to_generate.push(id),
            None => {
                return Err(refuse(format!(
                    "{}.crt and {}.key are missing from a state that was baked before; \
                     kubebake never regenerates a CA silently (every node trusts the old one)",
                    id.stem(),
                    id.stem()
                )));
            }
        }
    }
    let (sa_pair, new_sa) = match pair("sa", "key", "pub")? {
        Some((key, public)) => {
            let k = PrivateKey::from_pem(&key).map_err(|e| refuse(format!("sa.key: {e}")))?;
            if pem::parse(&public).ok().map(|p| p.into_contents()) != Some(k.public_key_der()) {
                return Err(refuse("sa.pub is not the public half of sa.key; the state is damaged".into()));
            }
            (Some((key, public)), false)
        }
        None if !initialized => (None, true),
        None => {
            return Err(refuse(
                "sa.key and sa.pub are missing from a state that was baked before; \
                 a new pair would invalidate every service-account token"
                    .into(),
            ));
        }
    };

    let token = match text(TOKEN_FILE)? {
        Some(t) => BootstrapToken::parse(t.trim_end_matches('\n'))
            .map_err(|m| refuse(format!("{TOKEN_FILE} is {m}; the state is damaged")))?,
        None if !initialized => {
            changes.push("created bootstrap token".into());
            BootstrapToken::generate()
        }
        None => {
            return Err(refuse(format!("{TOKEN_FILE} is missing from a state that was baked before")));
        }
    };

    // Made at the first bake that seals, in a new state or an old one (whose seals derived
    // from the CA key before: they are sealed anew, once), and kept whatever the spec says
    // later, so sealing again gives the same bytes.
    let seal_seed = match existing.get(SEAL_SEED_FILE) {
        Some(bytes) => Some(
            crate::deliver::seal::SealSeed::from_bytes(bytes)
                .map_err(|m| refuse(format!("{SEAL_SEED_FILE} {m}; the state is damaged")))?,
        ),
        None if cluster.sealing.is_some() => {
            changes.push("created seal seed (secrets.encryptTo's seals derive from it)".into());
            Some(crate::deliver::seal::SealSeed::generate())
        }
        None => None,
    };

    let join_token = crate::state::tokens::join_token(dir, &existing)?.unwrap_or_else(|| token.clone());
    // A pool's tokens are made once and kept, like the first token: a re-bake gives the
    // pool the same user-data. A pool dropped from the spec keeps its record (its token may
    // still be in the cluster; `token list` shows it).
    let pool_names: Vec<&str> = cluster.worker_pools.iter().map(|p| p.name.as_str()).collect();
    let pools = crate::state::tokens::sync_pools(dir, &existing, &pool_names, &token, now)?;
    changes.extend(pools.changes);

    // Leaves: reuse what still matches, issue what is new or changed.
    let wanted = wanted(cluster);
    let recorded = record.map(|r| r.certificates).unwrap_or_default();
    let mut leaves = BTreeMap::new();
    let mut to_issue: Vec<(&String, &Profile)> = Vec::new();
    let stored: Vec<(&String, &Profile, Option<PemPair>)> =
        wanted.iter().map(|(stem, profile)| Ok((stem, profile, pair(stem, "crt", "key")?))).collect::<Result<_>>()?;
    // A stored leaf whose profile is unchanged is checked (its key, its CA's signature, its
    // expiry) before reuse: on every core, as a warm bake of many control planes is mostly that.
    let checked: Vec<std::result::Result<Option<bool>, String>> =
        crate::parallel_map(&stored, |(stem, profile, files)| match files {
            Some((crt, key)) if recorded.get(*stem) == Some(*profile) => {
                check_leaf(stem, crt, key, &cas[&profile.issuer])?;
                Ok(Some(ParsedCert::from_pem(crt)?.0.not_after <= now))
            }
            _ => Ok(None),
        });
    for ((stem, profile, files), expired) in stored.into_iter().zip(checked) {
        let Some((crt, key)) = files else {
            to_issue.push((stem, profile));
            continue;
        };
        match (recorded.get(stem), expired.map_err(|m: String| refuse(format!("{m}; the state is damaged")))?) {
            (Some(_), Some(true)) => {
                changes.push(format!("reissued {stem} (expired)"));
                to_issue.push((stem, profile));
            }
            (Some(_), Some(false)) => {
                leaves.insert(stem.clone(), Leaf { cert_pem: crt, key_pem: key });
            }
            (Some(old), None) => {
                changes.push(format!("reissued {stem} ({} changed)", differences(old, profile)));
                to_issue.push((stem, profile));
            }
            (None, _) => {
                changes.push(format!("reissued {stem} (no record of what it was issued for)"));
                to_issue.push((stem, profile));
            }
        }
    }
    // Every new key, CA and leaf in one parallel pass (pki::mint).
    let minted = pki::mint(
        &cas,
        &pki::Order {
            cas: to_generate.clone(),
            ca_algorithm: cluster.pki.algorithm,
            ca_key_id: cluster.kubernetes_version.kubeadm().ca_key_id,
            ca_validity_secs: cluster.pki.ca_validity.as_secs(),
            service_account: new_sa.then_some(cluster.pki.algorithm),
            leaves: to_issue.iter().map(|(_, profile)| *profile).collect(),
            now,
        },
    )?;
    for (id, ca) in minted.cas {
        changes.push(format!("created CA {}", id.stem()));
        cas.insert(id, ca);
    }
    let (sa_key_pem, sa_pub_pem) = match (sa_pair, minted.service_account) {
        (Some(pair), _) => pair,
        (None, key) => {
            let k = key.expect("a key for sa");
            changes.push("created service-account key pair sa".into());
            (k.to_pem(), k.public_pem())
        }
    };
    for ((stem, _), IssuedCert { cert_pem, key }) in to_issue.iter().zip(minted.leaves) {
        if !existing.contains_key(&format!("{stem}.crt")) {
            changes.push(format!("issued {stem}"));
        }
        leaves.insert((*stem).clone(), Leaf { cert_pem, key_pem: key.to_pem() });
    }

    // The new state's files: managed ones from above, the user's own carried over.
    let mut files: BTreeMap<String, (Vec<u8>, u32)> = BTreeMap::new();
    for (id, ca) in &cas {
        files.insert(format!("{}.crt", id.stem()), (ca.cert_pem.clone().into_bytes(), 0o644));
        files.insert(format!("{}.key", id.stem()), (ca.key.to_pem().into_bytes(), 0o600));
    }
    files.insert("sa.key".into(), (sa_key_pem.clone().into_bytes(), 0o600));
    files.insert("sa.pub".into(), (sa_pub_pem.clone().into_bytes(), 0o644));
    files.insert(TOKEN_FILE.into(), (format!("{}\n", token.expose()).into_bytes(), 0o600));
    if let Some(seed) = &seal_seed {
        files.insert(SEAL_SEED_FILE.into(), (seed.expose().to_vec(), 0o600));
    }
    files.extend(pools.files);
    for (stem, leaf) in &leaves {
        files.insert(format!("{stem}.crt"), (leaf.cert_pem.clone().into_bytes(), 0o644));
        files.insert(format!("{stem}.key"), (leaf.key_pem.clone().into_bytes(), 0o600));
    }
    let record = Record { version: RECORD_VERSION, cluster: cluster.name.clone(), certificates: wanted };
    let mut record_json = serde_json::to_vec_pretty(&record).expect("serialisable");
    record_json.push(b'\n');
    files.insert(RECORD_FILE.into(), (record_json, 0o644));
    let mut dropped = BTreeSet::new();
    for (rel, bytes) in &existing {
        if files.contains_key(rel) {
            continue;
        }
        if rel.starts_with("nodes/") || rel.starts_with("operator/") {
            let stem = rel.rsplit_once('.').map_or(rel.as_str(), |(s, _)| s);
            dropped.insert(stem.to_string());
        } else {
            files.insert(rel.clone(), (bytes.clone(), existing_mode(&dir.join(rel))));
        }
    }
    changes.extend(dropped.into_iter().map(|s| format!("dropped {s} (no longer in the spec)")));

    let unchanged =
        files.len() == existing.len() && files.iter().all(|(rel, (bytes, _))| existing.get(rel) == Some(bytes));
    let unsaved = (!unchanged).then(|| Unsaved { dir: dir.to_path_buf(), files });

    let state = State {
        dir: dir.to_path_buf(),
        cas,
        sa_key_pem,
        sa_pub_pem,
        token,
        join_token,
        pool_tokens: pools.tokens,
        leaves,
        seal_seed,
        changes,
    };
    Ok((state, unsaved))
}

/// [`sync`], then saving what changed before returning.
pub fn sync_and_save(dir: &Path, cluster: &Cluster, now: OffsetDateTime) -> Result<State> {
    let (state, unsaved) = sync(dir, cluster, now)?;
    unsaved.map(Unsaved::save).transpose()?;
    Ok(state)
}

/// A synchronised state's files, not yet on disk. Writing them (fsync'd, swapped in
/// whole) can run while the output is rendered; the output must not be committed before.
#[must_use = "the state is not saved until Unsaved::save runs"]
pub struct Unsaved {
    dir: PathBuf,
    files: BTreeMap<String, (Vec<u8>, u32)>,
}

impl Unsaved {
    pub fn save(self) -> Result<()> {
        let staging = Staging::new(&self.dir, 0o700, true)?;
        for (rel, (bytes, mode)) in &self.files {
            staging.write(rel, bytes, *mode, true)?;
        }
        staging.commit()
    }
}

/// A certificate and its key as stored, PEM.
type PemPair = (String, String);

/// What `renew` did to one certificate.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Renewed {
    pub name: String,
    pub kept_key: bool,
    pub not_after: String,
}

/// Whether the leaf at `stem` answers to `name`: its state path, or kubeadm's name for it
/// on any node (`apiserver`, `etcd-server`, `admin.conf`, as `kubeadm certs renew` takes them).
fn answers_to(stem: &str, name: &str) -> bool {
    if name == "all" || stem == name {
        return true;
    }
    let leaf = stem.rsplit_once("/pki/").map(|(_, l)| l.replace('/', "-"));
    let kubeconfig = stem.rsplit_once("/kubeconfig/").map(|(_, k)| format!("{k}.conf"));
    leaf.as_deref() == Some(name) || kubeconfig.as_deref() == Some(name)
}

/// Reissues the state's leaves that expire within `within` (or those `names` select),
/// with the same profile and, unless `new_keys`, the same key. Nothing changes unless every
/// name matched. Returns what was renewed, sorted.
pub fn renew(
    dir: &Path,
    names: &[String],
    within: Option<std::time::Duration>,
    new_keys: bool,
    now: OffsetDateTime,
) -> Result<Vec<Renewed>> {
    let _lock = lock(dir)?;
    let refuse = |m: String| Error::state(dir, m);
    let files = read_initialized(dir)?;
    let record: Record = serde_json::from_slice(&files[RECORD_FILE])
        .map_err(|e| refuse(format!("{RECORD_FILE} is unreadable ({e}); the state is damaged")))?;
    for name in names {
        if !record.certificates.keys().any(|stem| answers_to(stem, name)) {
            return Err(Error::Usage(format!(
                "renew: no certificate in {} is called {name:?} (kubebake inspect lists them; kubeadm's names \
                 like apiserver, etcd-peer, admin.conf, or all, also work)",
                dir.display()
            )));
        }
    }
    let text = |rel: &str| -> Result<String> {
        let bytes = files.get(rel).ok_or_else(|| refuse(format!("{rel} is missing; the state is damaged")))?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    };
    let mut cas = BTreeMap::new();
    for id in CaId::ALL {
        let ca = Ca::load(id, &text(&format!("{}.crt", id.stem()))?, &text(&format!("{}.key", id.stem()))?)
            .map_err(|m| refuse(format!("{m}; the state is damaged")))?;
        cas.insert(id, ca);
    }
    let mut new_files: BTreeMap<String, (Vec<u8>, u32)> = BTreeMap::new();
    let mut renewed = Vec::new();
    for (stem, profile) in &record.certificates {
        let (crt, key) = (text(&format!("{stem}.crt"))?, text(&format!("{stem}.key"))?);
        let (parsed, _) = ParsedCert::from_pem(&crt).map_err(|m| refuse(format!("{stem}.crt: {m}")))?;
        let named = names.iter().any(|n| answers_to(stem, n));
        let expiring = within.is_some_and(|w| parsed.not_after <= now + w);
        if !(named || expiring) {
            continue;
        }
        let ca = &cas[&profile.issuer];
        let issued = if new_keys {
            ca.issue(profile, now)?
        } else {
            let key = PrivateKey::from_pem(&key).map_err(|e| refuse(format!("{stem}.key: {e}")))?;
            ca.issue_for_key(profile, key, now)?
        };
        let not_after = ParsedCert::from_pem(&issued.cert_pem).map_err(refuse)?.0.not_after;
        new_files.insert(format!("{stem}.crt"), (issued.cert_pem.into_bytes(), 0o644));
        new_files.insert(format!("{stem}.key"), (issued.key.to_pem().into_bytes(), 0o600));
        renewed.push(Renewed {
            name: stem.clone(),
            kept_key: !new_keys,
            not_after: crate::state::tokens::rfc3339(not_after),
        });
    }
    if !renewed.is_empty() {
        let staging = Staging::new(dir, 0o700, true)?;
        for (rel, bytes) in &files {
            if !new_files.contains_key(rel) {
                staging.write(rel, bytes, existing_mode(&dir.join(rel)), true)?;
            }
        }
        for (rel, (bytes, mode)) in &new_files {
            staging.write(rel, bytes, *mode, true)?;
        }
        staging.commit()?;
    }
    Ok(renewed)
}

fn check_leaf(stem: &str, crt: &str, key: &str, ca: &Ca) -> Result<(), String> {
    let (parsed, der) = ParsedCert::from_pem(crt).map_err(|m| format!("{stem}.crt: {m}"))?;
    let key = PrivateKey::from_pem(key).map_err(|e| format!("{stem}.key: {e}"))?;
    if key.public_key_der() != parsed.spki_der {
        return Err(format!("{stem}.key does not belong to {stem}.crt"));
    }
    if !ca.signed(&der) {
        return Err(format!("{stem}.crt is not signed by {}.crt", ca.id.stem()));
    }
    Ok(())
}

/// Names the fields that differ between two profiles, for the report.
fn differences(old: &Profile, new: &Profile) -> String {
    let mut d = Vec::new();
    if old.common_name != new.common_name || old.organizations != new.organizations {
        d.push("subject");
    }
    if old.dns_names != new.dns_names || old.ip_addresses != new.ip_addresses {
        d.push("SANs");
    }
    if old.usages != new.usages {
        d.push("usages");
    }
    if old.issuer != new.issuer {
        d.push("issuer");
    }
    if old.algorithm != new.algorithm {
        d.push("key algorithm");
    }
    if old.validity_seconds != new.validity_seconds {
        d.push("validity period");
    }
    d.join(", ")
}

/// The files of a state a bake made (commands other than bake work on such a state only).
pub(crate) fn read_initialized(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
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
pub(crate) fn first_token(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<BootstrapToken> {
    let text = files.get(TOKEN_FILE).ok_or_else(|| Error::state(dir, format!("{TOKEN_FILE} is missing")))?;
    BootstrapToken::parse(String::from_utf8_lossy(text).trim_end_matches('\n'))
        .map_err(|m| Error::state(dir, format!("{TOKEN_FILE} is {m}; the state is damaged")))
}

/// Every regular file under `dir` by relative path; hidden entries (our own temporary
/// directories among them) are skipped. A missing directory is an empty state.
fn read_tree(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
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

pub(crate) fn existing_mode(path: &Path) -> u32 {
    fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o600)
}
