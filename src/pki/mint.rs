//! Everything new a bake needs, made in one parallel pass: keys, CAs and the leaves they
//! sign. A leaf's key is made at once; the leaf is signed as soon as its CA exists, by
//! whichever thread finishes last of the two. So no core waits for every key before the
//! CAs are signed, or for every CA before the first leaf is (on two cores those waits were
//! a fifth of a one-node bake), and the caller hands the pool one job instead of three.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use time::OffsetDateTime;

use super::{Ca, CaId, IssuedCert, PrivateKey, Profile};
use crate::error::{Error, Result};
use crate::model::KeyAlgorithm;
use crate::model::versions::KeyIdHash;

/// What to make: CAs (with their algorithm and lifetime), maybe a service-account key,
/// and leaves, each signed by a CA that exists or is among the new ones.
pub struct Order<'a> {
    /// The CAs to create, each self-signed with a new key.
    pub cas: Vec<CaId>,
    /// The algorithm of the new CAs' keys.
    pub ca_algorithm: KeyAlgorithm,
    /// How the cluster's kubeadm derives a CA's subject key identifier.
    pub ca_key_id: KeyIdHash,
    /// How long the new CAs are valid, in seconds from `now`.
    pub ca_validity_secs: u64,
    /// A new service-account signing key (`sa.key`) of this algorithm, if one is needed.
    pub service_account: Option<KeyAlgorithm>,
    /// The leaf certificates to issue, each with a new key.
    pub leaves: Vec<&'a Profile>,
    /// The issuing time: the clock is passed in so tests can fix it.
    pub now: OffsetDateTime,
}

/// What was made, in the order asked for.
pub struct Minted {
    /// The new CAs, in the order of [`Order::cas`].
    pub cas: Vec<(CaId, Ca)>,
    /// The new service-account key, if one was asked for.
    pub service_account: Option<PrivateKey>,
    /// The issued leaves, in the order of [`Order::leaves`].
    pub leaves: Vec<IssuedCert>,
}

/// A CA as its leaves see it: there already, or still to be signed, with the leaves whose
/// keys are ready parked until it is.
enum Issuer<'a> {
    Ready(&'a Ca),
    Pending(Vec<(usize, PrivateKey)>),
    Failed,
}

/// Makes everything in `order` in one parallel pass, signing leaves with `existing` CAs
/// or the new ones; an error names the CA, key or leaf that failed.
pub fn mint(existing: &BTreeMap<CaId, Ca>, order: &Order) -> Result<Minted> {
    let new_cas: Vec<OnceLock<Result<Ca>>> = order.cas.iter().map(|_| OnceLock::new()).collect();
    let leaves: Vec<OnceLock<Result<IssuedCert>>> = order.leaves.iter().map(|_| OnceLock::new()).collect();
    let service_account = OnceLock::new();
    let issuers: BTreeMap<CaId, Mutex<Issuer>> = CaId::ALL
        .into_iter()
        .map(|id| (id, Mutex::new(existing.get(&id).map_or(Issuer::Pending(Vec::new()), Issuer::Ready))))
        .collect();
    let lock = |id: CaId| issuers[&id].lock().unwrap_or_else(|e| e.into_inner());
    let issue = |i: usize, ca: &Ca, key: PrivateKey| {
        let _ = leaves[i].set(ca.issue_for_key(order.leaves[i], key, order.now));
    };

    rayon::scope(|scope| {
        for (j, &id) in order.cas.iter().enumerate() {
            let (new_cas, lock, issue) = (&new_cas, &lock, &issue);
            scope.spawn(move |scope| {
                let ca = new_cas[j].get_or_init(|| {
                    let key = PrivateKey::generate(order.ca_algorithm).map_err(|e| Error::crypto(id.stem(), e))?;
                    Ca::self_signed(id, key, order.ca_key_id, order.ca_validity_secs, order.now)
                });
                let next = if let Ok(ca) = ca { Issuer::Ready(ca) } else { Issuer::Failed };
                let parked = match std::mem::replace(&mut *lock(id), next) {
                    Issuer::Pending(parked) => parked,
                    _ => Vec::new(),
                };
                if let Ok(ca) = ca {
                    for (i, key) in parked {
                        scope.spawn(move |_| issue(i, ca, key));
                    }
                }
            });
        }
        if let Some(algorithm) = order.service_account {
            let service_account = &service_account;
            scope.spawn(move |_| {
                let _ = service_account.set(PrivateKey::generate(algorithm));
            });
        }
        for (i, profile) in order.leaves.iter().enumerate() {
            let (leaves, lock, issue) = (&leaves, &lock, &issue);
            scope.spawn(move |_| {
                let key = match PrivateKey::generate(profile.algorithm) {
                    Ok(key) => key,
                    Err(e) => {
                        let _ = leaves[i].set(Err(Error::crypto("generating a key", e)));
                        return;
                    }
                };
                let mut issuer = lock(profile.issuer);
                match &mut *issuer {
                    Issuer::Ready(ca) => {
                        let ca = *ca;
                        drop(issuer);
                        issue(i, ca, key);
                    }
                    Issuer::Pending(parked) => parked.push((i, key)),
                    Issuer::Failed => {}
                }
            });
        }
    });

    let mut cas = Vec::new();
    for (id, ca) in order.cas.iter().zip(new_cas) {
        cas.push((*id, ca.into_inner().expect("every CA task ran")?));
    }
    let service_account = match service_account.into_inner() {
        Some(key) => Some(key.map_err(|e| Error::crypto("generating a key", e))?),
        None => None,
    };
    // A leaf of a CA that failed has no result; that CA's error was returned above.
    let leaves = leaves
        .into_iter()
        .zip(&order.leaves)
        .map(|(leaf, profile)| {
            leaf.into_inner().unwrap_or_else(|| {
                Err(Error::crypto(&profile.common_name, format!("no CA {} to sign it", profile.issuer.stem())))
            })
        })
        .collect::<Result<_>>()?;
    Ok(Minted { cas, service_account, leaves })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{Usage, signed_by};

    fn leaf(cn: &str, issuer: CaId) -> Profile {
        Profile {
            common_name: cn.into(),
            organizations: Vec::new(),
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            usages: vec![Usage::ClientAuth],
            issuer,
            algorithm: KeyAlgorithm::EcdsaP256,
            validity_seconds: 3600,
        }
    }

    #[test]
    fn every_leaf_is_signed_by_its_own_ca_whether_it_existed_or_is_new() {
        let now = OffsetDateTime::now_utc();
        let old = Ca::self_signed(
            CaId::Etcd,
            PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap(),
            KeyIdHash::Sha1,
            7200,
            now,
        )
        .unwrap();
        let existing = BTreeMap::from([(CaId::Etcd, old)]);
        let profiles: Vec<Profile> = (0..12)
            .map(|i| leaf(&format!("leaf-{i}"), [CaId::Kubernetes, CaId::FrontProxy, CaId::Etcd][i % 3]))
            .collect();
        let order = Order {
            cas: vec![CaId::Kubernetes, CaId::FrontProxy],
            ca_algorithm: KeyAlgorithm::EcdsaP256,
            ca_key_id: KeyIdHash::Sha256,
            ca_validity_secs: 7200,
            service_account: Some(KeyAlgorithm::EcdsaP256),
            leaves: profiles.iter().collect(),
            now,
        };
        let minted = mint(&existing, &order).unwrap();
        assert_eq!(minted.cas.iter().map(|(id, _)| *id).collect::<Vec<_>>(), order.cas);
        assert!(minted.service_account.is_some());
        let der_of = |id: CaId| match existing.get(&id) {
            Some(ca) => ca.cert_der.clone(),
            None => minted.cas.iter().find(|(c, _)| *c == id).unwrap().1.cert_der.clone(),
        };
        assert_eq!(minted.leaves.len(), profiles.len());
        for (issued, profile) in minted.leaves.iter().zip(&profiles) {
            let der = pem::parse(&issued.cert_pem).unwrap().into_contents();
            assert!(
                signed_by(&der, &der_of(profile.issuer)),
                "{} not signed by {:?}",
                profile.common_name,
                profile.issuer
            );
            for other in CaId::ALL.into_iter().filter(|id| *id != profile.issuer) {
                assert!(!signed_by(&der, &der_of(other)));
            }
            let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
            assert!(cert.subject().to_string().contains(&profile.common_name));
        }
        // A leaf whose CA neither exists nor is made is an error naming it, not a hang.
        let orphan = leaf("orphan", CaId::FrontProxy);
        let lost = Order { cas: Vec::new(), service_account: None, leaves: vec![&orphan], ..order };
        let err = mint(&existing, &lost).err().expect("no CA to sign it").to_string();
        assert!(err.contains("front-proxy-ca"), "{err}");
        let order = Order { leaves: profiles.iter().collect(), ..lost };
        // Nothing to make is nothing made.
        let none = Order { cas: Vec::new(), service_account: None, leaves: Vec::new(), ..order };
        let empty = mint(&existing, &none).unwrap();
        assert!(empty.cas.is_empty() && empty.leaves.is_empty() && empty.service_account.is_none());
    }
}
