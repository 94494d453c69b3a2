//! Bringing a state directory in line with a spec ([`sync`]): what is stored is checked and
//! reused, what the spec no longer matches is reissued, what is missing is made, and the
//! whole new state is built in memory for [`Unsaved::save`] to swap in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use time::OffsetDateTime;

use super::{Leaf, OPERATOR_STEM, State, Unsaved, node_kubeconfig_stem, node_pki_stem};
use crate::error::{Error, Result};
use crate::model::releases::Releases;
use crate::model::{Cluster, Role};
use crate::pki::kubeconfig;
use crate::pki::{self, Ca, CaId, IssuedCert, ParsedCert, PrivateKey, Profile};
use crate::state::bootstrap_token::BootstrapToken;
use crate::state::dir::{
    Files, NewFiles, RECORD_FILE, RECORD_VERSION, Record, SEAL_SEED_FILE, TOKEN_FILE, existing_mode, read_tree,
};
use crate::state::history::{self, History};
use crate::state::join_tokens::{self, PoolSync};
use crate::state::seal_seed::SealSeed;

/// Files a user may put in a new state directory before the first bake: their own CAs
/// (and service-account key pair), used instead of generated ones.
const BRING_YOUR_OWN: &[&str] =
    &["ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "etcd/ca.crt", "etcd/ca.key", "sa.key", "sa.pub"];

/// A certificate and its key as stored, PEM.
type PemPair = (String, String);

/// A wanted leaf: its stem, its profile, and its certificate and key if stored.
type StoredLeaf<'w> = (&'w String, &'w Profile, Option<PemPair>);

/// Loads the state at `dir`, creates what is missing and reissues what the spec no longer
/// matches; what changed comes back as [`Unsaved`], for the caller to save.
///
/// Refuses (changing nothing) a state that is damaged or half-written: a key that does not
/// match its certificate, a certificate without its key, a certificate not signed by its
/// CA, a missing CA in a state that was baked before, a state of another cluster.
///
/// Each node and pool the state knows gets the release it was first baked for, and the
/// cluster its init node (`history::apply`, which refuses a release that breaks the
/// version skew rules).
pub fn sync(dir: &Path, cluster: &mut Cluster, now: OffsetDateTime) -> Result<(State, Option<Unsaved>)> {
    let stored = Stored::read(dir, cluster)?;
    history::apply(cluster, &stored.record.as_ref().map(|r| r.history.clone()).unwrap_or_default())?;
    let cluster = &*cluster;
    let mut changes = Vec::new();
    let (mut cas, missing_cas) = stored.cas(now)?;
    let sa = stored.service_account()?;
    let token = stored.first_token(&mut changes)?;
    let seal_seed = stored.seal_seed(cluster, &mut changes)?;
    let join_token = join_tokens::join_token(dir, &stored.files)?.unwrap_or_else(|| token.clone());
    let pools = stored.pool_tokens(cluster, &token, now)?;
    changes.extend(pools.changes);

    let wanted = wanted(cluster);
    let plan = stored.plan_leaves(&wanted, &cas, now, &mut changes)?;
    // Every new key, CA and leaf in one parallel pass.
    let minted = pki::mint(&cas, &order(cluster, missing_cas, sa.is_none(), &plan, now))?;
    let ((sa_key_pem, sa_pub_pem), leaves) = take_minted(minted, &mut cas, sa, plan, &stored.files, &mut changes);

    let mut state = State {
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
    let unsaved = unsaved(&mut state, cluster, wanted, pools.files, &stored);
    Ok((state, unsaved))
}

/// [`sync`], then saving what changed before returning.
pub fn sync_and_save(dir: &Path, cluster: &mut Cluster, now: OffsetDateTime) -> Result<State> {
    let (state, unsaved) = sync(dir, cluster, now)?;
    unsaved.map(Unsaved::save).transpose()?;
    Ok(state)
}

/// Every leaf the cluster needs, by state stem.
fn wanted(cluster: &Cluster) -> BTreeMap<String, Profile> {
    let mut out = BTreeMap::new();
    // A node keeps the certificates of the release it was baked for.
    let releases = Releases::of(cluster);
    for node in cluster.control_planes() {
        let cluster = releases.of_node(node);
        for leaf in pki::control_plane_leaves(cluster, node) {
            out.insert(node_pki_stem(&node.name, leaf.stem), leaf.profile);
        }
        for id in kubeconfig::node_identities(cluster, node) {
            out.insert(node_kubeconfig_stem(&node.name, id.file_stem), id.profile);
        }
    }
    if cluster.pki.external_ca {
        for node in &cluster.nodes {
            let serving = pki::kubelet_serving(releases.of_node(node), node);
            out.insert(node_pki_stem(&node.name, serving.stem), serving.profile);
        }
        for node in cluster.nodes.iter().filter(|n| n.role == Role::Worker) {
            let id = kubeconfig::worker_kubelet_identity(releases.of_node(node), node);
            out.insert(node_kubeconfig_stem(&node.name, id.file_stem), id.profile);
        }
    }
    out.insert(OPERATOR_STEM.to_string(), kubeconfig::operator_identity(cluster).profile);
    out
}

/// The state directory as found: its files, and what each certificate was issued for.
struct Stored<'a> {
    dir: &'a Path,
    files: Files,
    /// None in a new state, one no bake has finished.
    record: Option<Record>,
}

impl<'a> Stored<'a> {
    /// Reads the state at `dir`, refusing one of another cluster or record version, and
    /// one with files but no record (only a user's own CAs may precede the first bake).
    fn read(dir: &'a Path, cluster: &Cluster) -> Result<Self> {
        let refuse = |m: String| Error::state(dir, m);
        let files = read_tree(dir)?;
        let record = files.get(RECORD_FILE).map(|bytes| Record::parse(dir, bytes)).transpose()?;
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
        } else if let Some(other) = files.keys().find(|k| !BRING_YOUR_OWN.contains(&k.as_str())) {
            return Err(refuse(format!(
                "has {other} but no {RECORD_FILE}: it is not a kubebake state, or its first bake did not finish; \
                 only your own CA files ({}) may be placed in a new state",
                BRING_YOUR_OWN.join(", ")
            )));
        }
        Ok(Stored { dir, files, record })
    }

    fn refuse(&self, message: String) -> Error {
        Error::state(self.dir, message)
    }

    /// Whether a bake has finished with this state: then nothing shared is made anew.
    fn initialized(&self) -> bool {
        self.record.is_some()
    }

    /// The stored file `rel` as text; None when there is none.
    fn text(&self, rel: &str) -> Result<Option<String>> {
        match self.files.get(rel) {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes.clone())
                .map(Some)
                .map_err(|_| self.refuse(format!("{rel} is not text; the state is damaged"))),
        }
    }

    /// `<stem>.<a>` and `<stem>.<b>`, both or neither: one alone is a half-written state.
    fn pair(&self, stem: &str, a: &str, b: &str) -> Result<Option<PemPair>> {
        let (ra, rb) = (format!("{stem}.{a}"), format!("{stem}.{b}"));
        match (self.text(&ra)?, self.text(&rb)?) {
            (Some(x), Some(y)) => Ok(Some((x, y))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(self.refuse(format!("has {ra} but not {rb}; the state is half-written"))),
            (None, Some(_)) => Err(self.refuse(format!("has {rb} but not {ra}; the state is half-written"))),
        }
    }

    /// The stored CAs, each matching its key and unexpired, and the ones a new state lacks.
    /// A CA missing from a state baked before is refused, never silently replaced.
    fn cas(&self, now: OffsetDateTime) -> Result<(BTreeMap<CaId, Ca>, Vec<CaId>)> {
        let mut cas = BTreeMap::new();
        let mut missing = Vec::new();
        for id in CaId::ALL {
            match self.pair(id.stem(), "crt", "key")? {
                Some((crt, key)) => {
                    let ca = Ca::load(id, &crt, &key).map_err(|m| self.refuse(format!("{m}; refusing to use it")))?;
                    let parsed = ParsedCert::from_der(&ca.cert_der).map_err(|m| self.refuse(m))?;
                    if parsed.not_after <= now {
                        return Err(self.refuse(format!(
                            "{}.crt expired on {}; renew the CA first",
                            id.stem(),
                            parsed.not_after
                        )));
                    }
                    cas.insert(id, ca);
                }
                None if !self.initialized() => missing.push(id),
                None => {
                    return Err(self.refuse(format!(
                        "{}.crt and {}.key are missing from a state that was baked before; \
                         kubebake never regenerates a CA silently (every node trusts the old one)",
                        id.stem(),
                        id.stem()
                    )));
                }
            }
        }
        Ok((cas, missing))
    }

    /// The stored service-account key pair (checked to be one); None: a new state makes it.
    fn service_account(&self) -> Result<Option<PemPair>> {
        match self.pair("sa", "key", "pub")? {
            Some((key, public)) => {
                let k = PrivateKey::from_pem(&key).map_err(|e| self.refuse(format!("sa.key: {e}")))?;
                if pem::parse(&public).ok().map(|p| p.into_contents()) != Some(k.public_key_der()) {
                    return Err(self.refuse("sa.pub is not the public half of sa.key; the state is damaged".into()));
                }
                Ok(Some((key, public)))
            }
            None if !self.initialized() => Ok(None),
            None => Err(self.refuse(
                "sa.key and sa.pub are missing from a state that was baked before; \
                 a new pair would invalidate every service-account token"
                    .into(),
            )),
        }
    }

    /// The first bootstrap token, made in a new state.
    fn first_token(&self, changes: &mut Vec<String>) -> Result<BootstrapToken> {
        match self.text(TOKEN_FILE)? {
            Some(t) => BootstrapToken::parse(t.trim_end_matches('\n'))
                .map_err(|m| self.refuse(format!("{TOKEN_FILE} is {m}; the state is damaged"))),
            None if !self.initialized() => {
                changes.push("created bootstrap token".into());
                Ok(BootstrapToken::generate())
            }
            None => Err(self.refuse(format!("{TOKEN_FILE} is missing from a state that was baked before"))),
        }
    }

    /// The seal seed. Made at the first bake that seals, in a new state or an old one (whose
    /// seals derived from the CA key before: they are sealed anew, once), and kept whatever
    /// the spec says later, so sealing again gives the same bytes.
    fn seal_seed(&self, cluster: &Cluster, changes: &mut Vec<String>) -> Result<Option<SealSeed>> {
        match self.files.get(SEAL_SEED_FILE) {
            Some(bytes) => SealSeed::from_bytes(bytes)
                .map(Some)
                .map_err(|m| self.refuse(format!("{SEAL_SEED_FILE} {m}; the state is damaged"))),
            None if cluster.sealing.is_some() => {
                changes.push("created seal seed (secrets.encryptTo's seals derive from it)".into());
                Ok(Some(SealSeed::generate()))
            }
            None => Ok(None),
        }
    }

    /// Each worker pool's tokens. A pool's tokens are made once and kept, like the first
    /// token: a re-bake gives the pool the same user-data. A pool dropped from the spec keeps
    /// its record (its token may still be in the cluster; `token list` shows it).
    fn pool_tokens(&self, cluster: &Cluster, first: &BootstrapToken, now: OffsetDateTime) -> Result<PoolSync> {
        let pool_names: Vec<&str> = cluster.worker_pools.iter().map(|p| p.name.as_str()).collect();
        join_tokens::sync_pools(self.dir, &self.files, &pool_names, first, now)
    }

    /// Which wanted leaves are reused as stored and which are issued, with the reason for
    /// each reissue in `changes`: expired, issued for another profile, or unrecorded.
    fn plan_leaves<'w>(
        &self,
        wanted: &'w BTreeMap<String, Profile>,
        cas: &BTreeMap<CaId, Ca>,
        now: OffsetDateTime,
        changes: &mut Vec<String>,
    ) -> Result<LeafPlan<'w>> {
        let none = BTreeMap::new();
        let recorded = self.record.as_ref().map_or(&none, |r| &r.certificates);
        let stored: Vec<StoredLeaf> = wanted
            .iter()
            .map(|(stem, profile)| Ok((stem, profile, self.pair(stem, "crt", "key")?)))
            .collect::<Result<_>>()?;
        let checked = check_stored_leaves(&stored, recorded, cas, now);
        let mut plan = LeafPlan { kept: BTreeMap::new(), to_issue: Vec::new() };
        for ((stem, profile, files), expired) in stored.into_iter().zip(checked) {
            let Some((crt, key)) = files else {
                plan.to_issue.push((stem, profile));
                continue;
            };
            match (recorded.get(stem), expired.map_err(|m| self.refuse(format!("{m}; the state is damaged")))?) {
                (Some(_), Some(true)) => {
                    changes.push(format!("reissued {stem} (expired)"));
                    plan.to_issue.push((stem, profile));
                }
                (Some(_), Some(false)) => {
                    plan.kept.insert(stem.clone(), Leaf { cert_pem: crt, key_pem: key });
                }
                (Some(old), None) => {
                    changes.push(format!("reissued {stem} ({} changed)", differences(old, profile)));
                    plan.to_issue.push((stem, profile));
                }
                (None, _) => {
                    changes.push(format!("reissued {stem} (no record of what it was issued for)"));
                    plan.to_issue.push((stem, profile));
                }
            }
        }
        Ok(plan)
    }
}

/// The leaves a bake reuses as stored, and those it issues (new, or reissued).
struct LeafPlan<'w> {
    kept: BTreeMap<String, Leaf>,
    to_issue: Vec<(&'w String, &'w Profile)>,
}

/// For each stored leaf whose profile is unchanged: checked (its key, its CA's signature),
/// whether it has expired; None for the others. On every core, as a warm bake of many
/// control planes is mostly this.
fn check_stored_leaves(
    stored: &[StoredLeaf],
    recorded: &BTreeMap<String, Profile>,
    cas: &BTreeMap<CaId, Ca>,
    now: OffsetDateTime,
) -> Vec<std::result::Result<Option<bool>, String>> {
    let check = |(stem, profile, files): &StoredLeaf| -> std::result::Result<Option<bool>, String> {
        match files {
            Some((crt, key)) if recorded.get(*stem) == Some(*profile) => {
                check_leaf(stem, crt, key, &cas[&profile.issuer])?;
                Ok(Some(ParsedCert::from_pem(crt)?.0.not_after <= now))
            }
            _ => Ok(None),
        }
    };
    crate::parallel_map(stored, check)
}

/// Whether a stored leaf is sound: its key is its certificate's, and its CA signed it.
fn check_leaf(stem: &str, crt: &str, key: &str, ca: &Ca) -> std::result::Result<(), String> {
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

/// What [`pki::mint`] is to make: the CAs a new state lacks, its service-account key pair,
/// and the leaves to issue.
fn order<'w>(
    cluster: &Cluster,
    cas: Vec<CaId>,
    new_sa: bool,
    plan: &LeafPlan<'w>,
    now: OffsetDateTime,
) -> pki::Order<'w> {
    pki::Order {
        cas,
        ca_algorithm: cluster.pki.algorithm,
        ca_key_id: cluster.kubernetes_version.kubeadm().ca_key_id,
        ca_validity_secs: cluster.pki.ca_validity.as_secs(),
        service_account: new_sa.then_some(cluster.pki.algorithm),
        leaves: plan.to_issue.iter().map(|(_, profile)| *profile).collect(),
        now,
    }
}

/// Puts what [`pki::mint`] made beside what was stored, saying so in `changes`: new CAs
/// go into `cas`; returns the service-account pair (stored or new) and every leaf.
fn take_minted(
    minted: pki::Minted,
    cas: &mut BTreeMap<CaId, Ca>,
    sa: Option<PemPair>,
    plan: LeafPlan,
    stored: &Files,
    changes: &mut Vec<String>,
) -> (PemPair, BTreeMap<String, Leaf>) {
    for (id, ca) in minted.cas {
        changes.push(format!("created CA {}", id.stem()));
        cas.insert(id, ca);
    }
    let sa = match (sa, minted.service_account) {
        (Some(pair), _) => pair,
        (None, key) => {
            let k = key.expect("a key for sa");
            changes.push("created service-account key pair sa".into());
            (k.to_pem(), k.public_pem())
        }
    };
    let mut leaves = plan.kept;
    for ((stem, _), IssuedCert { cert_pem, key }) in plan.to_issue.iter().zip(minted.leaves) {
        if !stored.contains_key(&format!("{stem}.crt")) {
            changes.push(format!("issued {stem}"));
        }
        leaves.insert((*stem).clone(), Leaf { cert_pem, key_pem: key.to_pem() });
    }
    (sa, leaves)
}

/// The new state's files, unless they are the stored ones byte for byte. Certificates of
/// nodes and identities the spec no longer has are dropped, and `state.changes` says so.
fn unsaved(
    state: &mut State,
    cluster: &Cluster,
    wanted: BTreeMap<String, Profile>,
    pool_files: NewFiles,
    stored: &Stored,
) -> Option<Unsaved> {
    let mut files = managed_files(state, cluster, wanted, pool_files);
    let dropped = carry_over(stored, &mut files);
    state.changes.extend(dropped.into_iter().map(|s| format!("dropped {s} (no longer in the spec)")));
    let unchanged =
        files.len() == stored.files.len() && files.iter().all(|(rel, (bytes, _))| stored.files.get(rel) == Some(bytes));
    (!unchanged).then(|| Unsaved { dir: state.dir.clone(), files })
}

/// The files kubebake makes and keeps in the state, with their modes.
fn managed_files(
    state: &State,
    cluster: &Cluster,
    wanted: BTreeMap<String, Profile>,
    pool_files: NewFiles,
) -> NewFiles {
    let mut files = NewFiles::new();
    for (id, ca) in &state.cas {
        files.insert(format!("{}.crt", id.stem()), (ca.cert_pem.clone().into_bytes(), 0o644));
        files.insert(format!("{}.key", id.stem()), (ca.key.to_pem().into_bytes(), 0o600));
    }
    files.insert("sa.key".into(), (state.sa_key_pem.clone().into_bytes(), 0o600));
    files.insert("sa.pub".into(), (state.sa_pub_pem.clone().into_bytes(), 0o644));
    files.insert(TOKEN_FILE.into(), (format!("{}\n", state.token.expose()).into_bytes(), 0o600));
    if let Some(seed) = &state.seal_seed {
        files.insert(SEAL_SEED_FILE.into(), (seed.expose().to_vec(), 0o600));
    }
    files.extend(pool_files);
    for (stem, leaf) in &state.leaves {
        files.insert(format!("{stem}.crt"), (leaf.cert_pem.clone().into_bytes(), 0o644));
        files.insert(format!("{stem}.key"), (leaf.key_pem.clone().into_bytes(), 0o600));
    }
    let record = Record {
        version: RECORD_VERSION,
        cluster: cluster.name.clone(),
        history: History::of(cluster),
        certificates: wanted,
    };
    files.insert(RECORD_FILE.into(), (record.to_json(), 0o644));
    files
}

/// Carries the stored files this bake does not make (later tokens, a user's own files)
/// into `files` with their modes, except leaves under nodes/ and operator/ the spec no
/// longer has: their stems come back, to report as dropped.
fn carry_over(stored: &Stored, files: &mut NewFiles) -> BTreeSet<String> {
    let mut dropped = BTreeSet::new();
    for (rel, bytes) in &stored.files {
        if files.contains_key(rel) {
            continue;
        }
        if rel.starts_with("nodes/") || rel.starts_with("operator/") {
            let stem = rel.rsplit_once('.').map_or(rel.as_str(), |(s, _)| s);
            dropped.insert(stem.to_string());
        } else {
            files.insert(rel.clone(), (bytes.clone(), existing_mode(&stored.dir.join(rel))));
        }
    }
    dropped
}
