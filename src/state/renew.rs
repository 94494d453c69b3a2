//! `kubebake renew`: reissuing the state's leaf certificates before they expire, by the
//! profile each was issued for, as `kubeadm certs renew` does on a node.

use std::collections::BTreeMap;
use std::path::Path;

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::fmt::time::rfc3339;
use crate::pki::{Ca, CaId, ParsedCert, PrivateKey};
use crate::state::dir::{NewFiles, RECORD_FILE, Record, lock, read_initialized, rewrite};

/// What `renew` did to one certificate.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Renewed {
    /// The certificate's path in the state, without `.crt`.
    pub name: String,
    /// Whether the certificate kept its key (no `--new-keys`).
    pub kept_key: bool,
    /// When the new certificate expires, RFC 3339.
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
    let record = Record::parse(dir, &files[RECORD_FILE])?;
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
    let mut new_files = NewFiles::new();
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
        renewed.push(Renewed { name: stem.clone(), kept_key: !new_keys, not_after: rfc3339(not_after) });
    }
    if !renewed.is_empty() {
        rewrite(dir, &files, &new_files)?;
    }
    Ok(renewed)
}
