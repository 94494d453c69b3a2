//! Everything new a bake needs, made in two parallel passes: every key (and every new CA,
//! self-signed as soon as its key exists), then every leaf signed by its CA.

use std::collections::BTreeMap;

use rayon::prelude::*;
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

/// One job of the first pass.
enum Job {
    Ca(CaId),
    Key(KeyAlgorithm),
}

/// What a job of the first pass made.
enum Made {
    Ca(Result<Ca>),
    Key(Result<PrivateKey>),
}

/// Makes everything in `order` in one parallel pass, signing leaves with `existing` CAs
/// or the new ones; an error names the CA, key or leaf that failed.
pub fn mint(existing: &BTreeMap<CaId, Ca>, order: &Order) -> Result<Minted> {
    // The CAs first, then the service account's key, then the leaves' keys.
    let jobs: Vec<Job> = (order.cas.iter().map(|&id| Job::Ca(id)))
        .chain(order.service_account.map(Job::Key))
        .chain(order.leaves.iter().map(|p| Job::Key(p.algorithm)))
        .collect();
    let made = crate::parallel_map(&jobs, |job| match *job {
        Job::Ca(id) => Made::Ca(
            PrivateKey::generate(order.ca_algorithm)
                .map_err(|e| Error::crypto(id.stem(), e))
                .and_then(|key| Ca::self_signed(id, key, order.ca_key_id, order.ca_validity_secs, order.now)),
        ),
        Job::Key(algorithm) => {
            Made::Key(PrivateKey::generate(algorithm).map_err(|e| Error::crypto("generating a key", e)))
        }
    });
    let mut cas = Vec::new();
    let mut keys = Vec::new();
    for (job, made) in jobs.iter().zip(made) {
        match (job, made) {
            (Job::Ca(id), Made::Ca(ca)) => cas.push((*id, ca?)),
            (Job::Key(_), Made::Key(key)) => keys.push(key?),
            _ => unreachable!("each job makes its own kind"),
        }
    }
    let leaf_keys = keys.split_off(usize::from(order.service_account.is_some()));
    let service_account = keys.pop();

    let issuer = |id: CaId| existing.get(&id).or_else(|| cas.iter().find(|(c, _)| *c == id).map(|(_, ca)| ca));
    let leaves = order
        .leaves
        .par_iter()
        .zip(leaf_keys)
        .map(|(profile, key)| match issuer(profile.issuer) {
            Some(ca) => ca.issue_for_key(profile, key, order.now),
            None => Err(Error::crypto(&profile.common_name, format!("no CA {} to sign it", profile.issuer.stem()))),
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
