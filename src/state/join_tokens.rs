//! Bootstrap tokens beyond the cluster's first: `kubebake token create|list|rotate`.
//!
//! The first token (`token` in the state) is the one `kubeadm init` creates in the cluster;
//! it stays in the first control plane's configuration for good. Joining nodes carry the
//! *join token*: the first one until `rotate` names another (`join-token`), so after a
//! rotation only joining nodes' files change. Later tokens live in `tokens/<id>` (0600) with
//! what is known about them in `tokens.json`.
//!
//! Each worker pool has tokens of its own, recorded under `pools` in `tokens.json`: the one
//! made at the first bake that lists the pool goes into the first control plane's
//! InitConfiguration (kubeadm init creates it, with the pool's tokenTTL), and the pool's
//! user-data carries that one until `rotate --pool` names another. So rotating a pool's
//! token changes only that pool's files.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::fmt::time::rfc3339;
use crate::state::bootstrap_token::BootstrapToken;
use crate::state::dir::{Files, NewFiles, first_token, lock, read_initialized, rewrite};

/// Where later tokens live, one file per token id (`tokens/<id>`, 0600).
pub const TOKENS_DIR: &str = "tokens";
/// What is known about each later token and which pool uses which.
pub const TOKENS_RECORD: &str = "tokens.json";
/// The id of the token joining nodes carry, once `rotate` named one.
pub const JOIN_TOKEN_FILE: &str = "join-token";
/// The group kubeadm's tokens authenticate as, which its RBAC lets join and auto-approves.
pub const DEFAULT_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    tokens: BTreeMap<String, Meta>,
    /// Worker pools' tokens by pool name. Left out while there is none, so a state without
    /// pools keeps the bytes it had.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pools: BTreeMap<String, PoolRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    created: String,
    /// None: never expires (or, for a pool's first token, kubeadm init sets it).
    expires: Option<String>,
    expires_unix: Option<i64>,
    /// The worker pool whose token this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pool: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolRecord {
    /// The pool's first token, in the first control plane's InitConfiguration.
    initial: String,
    /// The token the pool's user-data carries.
    joins: String,
}

/// A worker pool's tokens as a bake uses them.
#[derive(Debug, Clone)]
pub struct PoolTokens {
    /// Created by kubeadm init with the pool's tokenTTL.
    pub initial: BootstrapToken,
    /// Carried by the pool's user-data: `initial` until `rotate --pool`.
    pub joins: BootstrapToken,
    /// When `joins` expires, for a rotated token (RFC 3339); None when it is the initial
    /// one (its expiry runs from kubeadm init) or never expires.
    pub joins_expires: Option<String>,
    /// `joins_expires` as a Unix time, for comparing with now.
    pub joins_expires_unix: Option<i64>,
}

/// What `token list` shows: never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// The token's public half, which kubectl and kubeadm show too.
    pub id: String,
    /// The first token, which `kubeadm init` put in the cluster.
    pub initial: bool,
    /// Baked into joining nodes' files from the next bake on.
    pub joins: bool,
    /// RFC 3339; None for the first token, whose file records no time.
    pub created: Option<String>,
    /// RFC 3339; None for a token that never expires, or for the first one, whose expiry
    /// kubeadm sets at init (spec.join.tokenTTL after the first control plane came up).
    pub expires: Option<String>,
    /// Whether `expires` is past: the cluster no longer accepts it.
    pub expired: bool,
    /// The worker pool the token is for; `initial` then means kubeadm init creates it and
    /// `joins` that the pool's user-data carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
}

fn damaged(dir: &Path, m: String) -> Error {
    Error::state(dir, format!("{m}; the state is damaged"))
}

fn record(dir: &Path, files: &Files) -> Result<Record> {
    match files.get(TOKENS_RECORD) {
        None => Ok(Record::default()),
        Some(b) => serde_json::from_slice(b).map_err(|e| damaged(dir, format!("{TOKENS_RECORD} is unreadable ({e})"))),
    }
}

fn stored(dir: &Path, files: &Files, id: &str) -> Result<BootstrapToken> {
    let rel = format!("{TOKENS_DIR}/{id}");
    let text = files.get(&rel).ok_or_else(|| damaged(dir, format!("{rel} is missing")))?;
    let text = String::from_utf8_lossy(text);
    let token =
        BootstrapToken::parse(text.trim_end_matches('\n')).map_err(|m| damaged(dir, format!("{rel} is {m}")))?;
    if token.id() != id {
        return Err(damaged(dir, format!("{rel} holds token {}", token.id())));
    }
    Ok(token)
}

/// The token joining nodes carry, when `rotate` named one; None: the first token.
pub fn join_token(dir: &Path, files: &Files) -> Result<Option<BootstrapToken>> {
    let Some(id) = files.get(JOIN_TOKEN_FILE) else { return Ok(None) };
    let id = String::from_utf8_lossy(id).trim().to_string();
    stored(dir, files, &id).map(Some)
}

/// Every token in the state, the first one first.
pub fn list(dir: &Path, now: OffsetDateTime) -> Result<Vec<TokenInfo>> {
    let files = read_initialized(dir)?;
    let first = first_token(dir, &files)?;
    let joining = join_token(dir, &files)?.unwrap_or_else(|| first.clone());
    let rec = record(dir, &files)?;
    let mut out = vec![TokenInfo {
        id: first.id().to_string(),
        initial: true,
        joins: joining == first,
        created: None,
        expires: None,
        expired: false,
        pool: None,
    }];
    for (id, meta) in &rec.tokens {
        stored(dir, &files, id)?;
        let pool = meta.pool.as_ref().and_then(|p| rec.pools.get(p));
        out.push(TokenInfo {
            id: id.clone(),
            initial: pool.is_some_and(|p| p.initial == *id),
            joins: match pool {
                Some(p) => p.joins == *id,
                None => meta.pool.is_none() && joining.id() == id,
            },
            created: Some(meta.created.clone()),
            expires: meta.expires.clone(),
            expired: meta.expires_unix.is_some_and(|t| t <= now.unix_timestamp()),
            pool: meta.pool.clone(),
        });
    }
    Ok(out)
}

/// The tokens of every pool in `pools`, made for a pool the state has none for yet. Returns
/// them with the state files that change (tokens/<id>, tokens.json) and what changed;
/// nothing changes when every pool has its tokens.
pub(crate) fn sync_pools(
    dir: &Path,
    files: &Files,
    pools: &[&str],
    avoid: &BootstrapToken,
    now: OffsetDateTime,
) -> Result<PoolSync> {
    let mut rec = record(dir, files)?;
    let mut out = PoolSync::default();
    for &pool in pools {
        if !rec.pools.contains_key(pool) {
            let token = fresh(&rec, avoid);
            let id = token.id().to_string();
            rec.tokens.insert(
                id.clone(),
                Meta { created: rfc3339(now), expires: None, expires_unix: None, pool: Some(pool.to_string()) },
            );
            rec.pools.insert(pool.to_string(), PoolRecord { initial: id.clone(), joins: id });
            out.files
                .insert(format!("{TOKENS_DIR}/{}", token.id()), (format!("{}\n", token.expose()).into_bytes(), 0o600));
            out.changes.push(format!("created bootstrap token {} for worker pool {pool}", token.id()));
        }
        let r = &rec.pools[pool];
        let token_at = |id: &str| match out.files.get(&format!("{TOKENS_DIR}/{id}")) {
            Some((bytes, _)) => {
                BootstrapToken::parse(String::from_utf8_lossy(bytes).trim_end()).map_err(|m| damaged(dir, m))
            }
            None => stored(dir, files, id),
        };
        let meta = rec.tokens.get(&r.joins).ok_or_else(|| {
            damaged(dir, format!("{TOKENS_RECORD} names token {} for pool {pool} but does not list it", r.joins))
        })?;
        let initial = token_at(&r.initial)?;
        let joins = token_at(&r.joins)?;
        out.tokens.insert(
            pool.to_string(),
            PoolTokens {
                joins_expires: if r.joins == r.initial { None } else { meta.expires.clone() },
                joins_expires_unix: if r.joins == r.initial { None } else { meta.expires_unix },
                initial,
                joins,
            },
        );
    }
    if !out.files.is_empty() {
        out.files.insert(TOKENS_RECORD.into(), (record_json(&rec), 0o644));
    }
    Ok(out)
}

/// What [`sync_pools`] found and made.
#[derive(Default)]
pub(crate) struct PoolSync {
    pub tokens: BTreeMap<String, PoolTokens>,
    pub files: NewFiles,
    pub changes: Vec<String>,
}

/// A token whose id is neither the first token's nor any recorded one's.
fn fresh(rec: &Record, first: &BootstrapToken) -> BootstrapToken {
    loop {
        let t = BootstrapToken::generate();
        if t.id() != first.id() && !rec.tokens.contains_key(t.id()) {
            return t;
        }
    }
}

fn record_json(rec: &Record) -> Vec<u8> {
    let mut json = serde_json::to_vec_pretty(rec).expect("serialisable");
    json.push(b'\n');
    json
}

/// Which token a new one replaces from the next bake on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use<'a> {
    /// None: nodes keep theirs (`token create`).
    Spare,
    /// The one listed joining nodes carry (`token rotate`).
    Join,
    /// The one this worker pool's user-data carries (`token rotate --pool`).
    Pool(&'a str),
}

/// A new token in the state, put to `use` from the next bake on. Returns it with its
/// expiry; `ttl` zero: never expires. A pool the state has no token for is refused with
/// nothing changed.
pub fn create(dir: &Path, ttl: Duration, now: OffsetDateTime, use_: Use) -> Result<(BootstrapToken, Option<String>)> {
    let _lock = lock(dir)?;
    let files = read_initialized(dir)?;
    let first = first_token(dir, &files)?;
    let mut rec = record(dir, &files)?;
    if let Use::Pool(pool) = use_
        && !rec.pools.contains_key(pool)
    {
        let known: Vec<&str> = rec.pools.keys().map(String::as_str).collect();
        return Err(Error::Usage(format!(
            "{} has no worker pool {pool:?} ({}); a pool gets its token at the first bake that lists it",
            dir.display(),
            if known.is_empty() { "it has none".to_string() } else { format!("it has {}", known.join(", ")) }
        )));
    }
    let token = fresh(&rec, &first);
    let expires = (!ttl.is_zero()).then(|| now + ttl);
    let pool = match use_ {
        Use::Pool(p) => Some(p.to_string()),
        _ => None,
    };
    rec.tokens.insert(
        token.id().to_string(),
        Meta {
            created: rfc3339(now),
            expires: expires.map(rfc3339),
            expires_unix: expires.map(|t| t.unix_timestamp()),
            pool: pool.clone(),
        },
    );
    if let Some(p) = &pool {
        rec.pools.get_mut(p).expect("checked above").joins = token.id().to_string();
    }
    let mut new = NewFiles::new();
    new.insert(format!("{TOKENS_DIR}/{}", token.id()), (format!("{}\n", token.expose()).into_bytes(), 0o600));
    new.insert(TOKENS_RECORD.into(), (record_json(&rec), 0o644));
    if use_ == Use::Join {
        new.insert(JOIN_TOKEN_FILE.into(), (format!("{}\n", token.id()).into_bytes(), 0o644));
    }
    rewrite(dir, &files, &new)?;
    Ok((token, expires.map(rfc3339)))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Secret {
    api_version: &'static str,
    kind: &'static str,
    metadata: SecretMeta,
    #[serde(rename = "type")]
    type_: &'static str,
    string_data: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct SecretMeta {
    name: String,
    namespace: &'static str,
}

/// The bootstrap-token Secret that puts `token` into a running cluster, as `kubeadm token
/// create` would (`kubectl apply -f -`); `pool` names the worker pool it is for.
pub fn secret_manifest(token: &BootstrapToken, expires: Option<&str>, pool: Option<&str>) -> String {
    let full = token.expose();
    let (id, secret) = full.split_once('.').expect("id.secret");
    let description = match pool {
        Some(p) => format!("made by kubebake token rotate for worker pool {p}"),
        None => "made by kubebake token".to_string(),
    };
    let mut data = BTreeMap::from([
        ("auth-extra-groups", DEFAULT_GROUP.to_string()),
        ("description", description),
        ("token-id", id.to_string()),
        ("token-secret", secret.to_string()),
        ("usage-bootstrap-authentication", "true".to_string()),
        ("usage-bootstrap-signing", "true".to_string()),
    ]);
    if let Some(e) = expires {
        data.insert("expiration", e.to_string());
    }
    crate::fmt::yaml::to_string(&Secret {
        api_version: "v1",
        kind: "Secret",
        metadata: SecretMeta { name: format!("bootstrap-token-{id}"), namespace: "kube-system" },
        type_: "bootstrap.kubernetes.io/token",
        string_data: data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_kubeadms_bootstrap_token_secret() {
        let t = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
        let yaml = secret_manifest(&t, Some("2027-01-15T08:00:00Z"), None);
        let v: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(v["metadata"]["name"], "bootstrap-token-abcdef");
        assert_eq!(v["type"], "bootstrap.kubernetes.io/token");
        assert_eq!(v["stringData"]["token-secret"], "0123456789abcdef");
        assert_eq!(v["stringData"]["expiration"], "2027-01-15T08:00:00Z");
        assert_eq!(v["stringData"]["usage-bootstrap-authentication"], "true");
        assert!(secret_manifest(&t, None, None).find("expiration").is_none());
        let pool: serde_json::Value = serde_saphyr::from_str(&secret_manifest(&t, None, Some("gpu"))).unwrap();
        assert_eq!(pool["stringData"]["description"], "made by kubebake token rotate for worker pool gpu");
        assert_eq!(pool["stringData"]["auth-extra-groups"], DEFAULT_GROUP);
    }
}
