//! Issuing certificates the way kubeadm's pkiutil does (Go's x509 underneath), and reading
//! them back to check a stored state.

use rcgen::string::PrintableString;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, SanType, SerialNumber,
};
use sha1::Digest;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::der;
use super::key::PrivateKey;
use super::{CaId, Profile, Usage, pem_encode};
use crate::error::{Error, Result};
use crate::model::versions::KeyIdHash;
use crate::model::{CERTIFICATE_BACKDATE, KeyAlgorithm};

const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];

/// A CA certificate and its key, ready to sign.
pub struct Ca {
    /// Which of the cluster's three CAs it is.
    pub id: CaId,
    /// The certificate as it lands on control planes (`<stem>.crt`).
    pub cert_pem: String,
    /// The same certificate in DER, which the discovery hash and leaves' issuer come from.
    pub cert_der: Vec<u8>,
    /// The CA's private key; absent from every node in external-CA mode.
    pub key: PrivateKey,
    not_before: OffsetDateTime,
}

/// A freshly issued leaf: certificate PEM and its new key.
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate's key, made for it.
    pub key: PrivateKey,
}

/// What kubebake reads back from a stored certificate.
#[derive(Debug, Clone)]
pub struct ParsedCert {
    /// The public key's DER SubjectPublicKeyInfo, compared with the stored key's.
    pub spki_der: Vec<u8>,
    /// Start of validity (UTC).
    pub not_before: OffsetDateTime,
    /// End of validity (UTC).
    pub not_after: OffsetDateTime,
    /// Whether basic constraints mark it a CA.
    pub is_ca: bool,
}

impl ParsedCert {
    /// Reads an X.509 certificate in DER; the error says why it is not one.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate ({e})"))?;
        Ok(ParsedCert {
            spki_der: cert.public_key().raw.to_vec(),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            is_ca: cert.basic_constraints().ok().flatten().is_some_and(|bc| bc.value.ca),
        })
    }

    /// Reads one PEM `CERTIFICATE` block, returning its DER as well.
    pub fn from_pem(text: &str) -> Result<(Self, Vec<u8>), String> {
        let block = pem::parse(text).map_err(|_| "not a PEM certificate".to_string())?;
        if block.tag() != "CERTIFICATE" {
            return Err(format!("holds a {} where a CERTIFICATE was expected", block.tag()));
        }
        let der = block.into_contents();
        Ok((Self::from_der(&der)?, der))
    }
}

/// Why rcgen, writing the certificate's subject back as a leaf's issuer name, would panic
/// (in yasna, its DER writer): an attribute type with fewer than two arcs, a first arc over
/// 2, or a second arc of 40 or more under a first arc of 0 or 1; or a PrintableString with
/// a '?' (valid, but refused by yasna 0.6).
fn unencodable_subject(cert_der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    for attr in cert.subject().iter_attributes() {
        let oid = attr.attr_type();
        let arcs: Option<Vec<u64>> = oid.iter().map(|arcs| arcs.collect());
        if !arcs.is_some_and(|a| a.len() >= 2 && a[0] <= 2 && (a[0] == 2 || a[1] < 40) && a[1] < u64::MAX - 80) {
            return Some(format!("an attribute type that is not a valid OID ({:?})", oid.to_id_string()));
        }
        let value = attr.attr_value();
        if value.header.tag() == x509_parser::der_parser::asn1_rs::Tag::PrintableString && value.data.contains(&b'?') {
            return Some("a PrintableString with a '?', which the certificate writer refuses".into());
        }
    }
    None
}

fn crypto_err(what: &str) -> impl Fn(rcgen::Error) -> Error + '_ {
    move |e| Error::crypto(what, e)
}

/// Go's x509 writes each name as a PrintableString when every character allows it.
fn dn_value(s: &str) -> DnValue {
    match PrintableString::try_from(s) {
        Ok(p) => DnValue::PrintableString(p),
        Err(_) => DnValue::Utf8String(s.to_string()),
    }
}

/// Subject in Go's order: organisations, then common name.
fn subject(cn: &str, orgs: &[String]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for o in orgs {
        dn.push(DnType::OrganizationName, dn_value(o));
    }
    dn.push(DnType::CommonName, dn_value(cn));
    dn
}

/// A positive serial below 2^63, as kubeadm draws it.
fn random_serial() -> SerialNumber {
    loop {
        let mut b = [0u8; 8];
        aws_lc_rs::rand::fill(&mut b).expect("the OS's CSPRNG");
        b[0] &= 0x7f;
        if b != [0; 8] {
            return SerialNumber::from(u64::from_be_bytes(b));
        }
    }
}

/// Second precision: X.509 times carry no fractions, and the stored value must equal the
/// one a later bake reads back.
fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).expect("zero is a valid nanosecond")
}

fn after(now: OffsetDateTime, secs: u64) -> OffsetDateTime {
    whole_seconds(now) + time::Duration::seconds(secs as i64)
}

/// Go's SubjectKeyId: a hash of the subjectPublicKey bits, 160 bits of it.
fn subject_key_id(spki_der: &[u8], hash: KeyIdHash) -> Vec<u8> {
    let bits = der::expect(spki_der, der::SEQUENCE)
        .and_then(|s| der::children(s.content))
        .and_then(|c| c.get(1).map(|b| b.content.get(1..).unwrap_or_default().to_vec()))
        .unwrap_or_default();
    match hash {
        KeyIdHash::Sha1 => sha1::Sha1::digest(&bits).to_vec(),
        KeyIdHash::Sha256 => sha2::Sha256::digest(&bits)[..20].to_vec(),
    }
}

impl Ca {
    /// A new self-signed CA as kubeadm makes it: back-dated notBefore, its CN as a DNS SAN,
    /// digitalSignature + keyEncipherment + keyCertSign, CA:TRUE without a path length.
    pub fn generate(id: CaId, algorithm: KeyAlgorithm, validity_secs: u64, now: OffsetDateTime) -> Result<Ca> {
        let key = PrivateKey::generate(algorithm).map_err(|e| Error::crypto(format!("generating {}", id.stem()), e))?;
        Ca::self_signed(id, key, KeyIdHash::Sha256, validity_secs, now)
    }

    /// A new CA on `key` (generated beforehand, e.g. in parallel with others), its subject
    /// key identifier made as the cluster's kubeadm makes it.
    pub fn self_signed(
        id: CaId,
        key: PrivateKey,
        key_id: KeyIdHash,
        validity_secs: u64,
        now: OffsetDateTime,
    ) -> Result<Ca> {
        let what = format!("generating {}", id.stem());
        let mut params = CertificateParams::default();
        params.serial_number = Some(random_serial());
        params.not_before = whole_seconds(now) - CERTIFICATE_BACKDATE;
        params.not_after = after(now, validity_secs);
        params.distinguished_name = subject(id.common_name(), &[]);
        params.subject_alt_names = vec![SanType::DnsName(id.common_name().try_into().map_err(crypto_err(&what))?)];
        params.key_usages =
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::KeyCertSign];
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_identifier_method = KeyIdMethod::PreSpecified(subject_key_id(&key.public_key_der(), key_id));
        let cert = params.self_signed(key.signer()).map_err(crypto_err(&what))?;
        let cert_der = cert.der().to_vec();
        Ca::from_parts(id, pem_encode("CERTIFICATE", &cert_der), key).map_err(|m| Error::crypto(what, m))
    }

    /// Loads a CA from its PEM files, checking that the key belongs to the certificate and
    /// that the certificate is a CA.
    pub fn load(id: CaId, cert_pem: &str, key_pem: &str) -> Result<Ca, String> {
        let key = PrivateKey::from_pem(key_pem).map_err(|e| format!("{}.key: {e}", id.stem()))?;
        Ca::from_parts(id, cert_pem.to_string(), key)
    }

    fn from_parts(id: CaId, cert_pem: String, key: PrivateKey) -> Result<Ca, String> {
        let (parsed, cert_der) = ParsedCert::from_pem(&cert_pem).map_err(|m| format!("{}.crt: {m}", id.stem()))?;
        if parsed.spki_der != key.public_key_der() {
            return Err(format!("{}.key does not belong to {}.crt", id.stem(), id.stem()));
        }
        if !parsed.is_ca {
            return Err(format!("{}.crt is not a CA certificate (no CA:TRUE basic constraint)", id.stem()));
        }
        // rcgen writes this subject back as every leaf's issuer, and panics on some of what
        // it parses (found by tests/fuzz.rs): refuse such a CA here instead.
        if let Some(why) = unencodable_subject(&cert_der) {
            return Err(format!("{}.crt: its subject has {why}", id.stem()));
        }
        Ok(Ca { id, cert_pem, cert_der, key, not_before: parsed.not_before })
    }

    /// The DER SubjectPublicKeyInfo of the CA's key.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.public_key_der()
    }

    /// Issues a leaf for `profile` with a new key. notBefore is the CA's own notBefore and
    /// notAfter is `now` plus the profile's validity, as kubeadm's `NewSignedCert` does.
    pub fn issue(&self, profile: &Profile, now: OffsetDateTime) -> Result<IssuedCert> {
        let what = format!("issuing {} (CN={})", self.id.stem(), profile.common_name);
        let key = PrivateKey::generate(profile.algorithm).map_err(|e| Error::crypto(&what, e))?;
        self.issue_for_key(profile, key, now)
    }

    /// Issues a leaf for `profile` to an existing key (a renewal that keeps it).
    pub fn issue_for_key(&self, profile: &Profile, key: PrivateKey, now: OffsetDateTime) -> Result<IssuedCert> {
        let what = format!("issuing {} (CN={})", self.id.stem(), profile.common_name);
        let mut params = CertificateParams::default();
        params.serial_number = Some(random_serial());
        params.not_before = self.not_before;
        params.not_after = after(now, profile.validity_seconds);
        params.distinguished_name = subject(&profile.common_name, &profile.organizations);
        for name in &profile.dns_names {
            params.subject_alt_names.push(SanType::DnsName(name.as_str().try_into().map_err(crypto_err(&what))?));
        }
        params.subject_alt_names.extend(profile.ip_addresses.iter().map(|ip| SanType::IpAddress(*ip)));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = profile
            .usages
            .iter()
            .map(|u| match u {
                Usage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
                Usage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
            })
            .collect();
        // kubeadm's leaves say CA:FALSE but carry no subject key id; rcgen's ExplicitNoCa
        // would add one, so the constraint is written as a plain critical extension.
        params.is_ca = IsCa::NoCa;
        let mut bc = CustomExtension::from_oid_content(OID_BASIC_CONSTRAINTS, der::sequence(&[]));
        bc.set_criticality(true);
        params.custom_extensions.push(bc);
        params.use_authority_key_identifier_extension = true;

        let issuer =
            Issuer::from_ca_cert_der(&self.cert_der.as_slice().into(), self.key.signer()).map_err(crypto_err(&what))?;
        let cert = params.signed_by(key.signer(), &issuer).map_err(crypto_err(&what))?;
        Ok(IssuedCert { cert_pem: pem_encode("CERTIFICATE", cert.der()), key })
    }

    /// Whether `cert_der` carries a valid signature by this CA.
    pub fn signed(&self, cert_der: &[u8]) -> bool {
        signed_by(cert_der, &self.cert_der)
    }
}

/// Whether `cert_der` carries a valid signature by the CA certificate `ca_der`.
pub fn signed_by(cert_der: &[u8], ca_der: &[u8]) -> bool {
    let Ok((_, cert)) = X509Certificate::from_der(cert_der) else {
        return false;
    };
    let Ok((_, ca)) = X509Certificate::from_der(ca_der) else {
        return false;
    };
    cert.verify_signature(Some(ca.public_key())).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            common_name: "kube-apiserver".into(),
            organizations: vec![],
            dns_names: vec!["kubernetes".into()],
            ip_addresses: vec!["10.96.0.1".parse().unwrap()],
            usages: vec![Usage::ServerAuth],
            issuer: CaId::Kubernetes,
            algorithm: KeyAlgorithm::EcdsaP256,
            validity_seconds: 3600,
        }
    }

    #[test]
    fn leaves_verify_against_their_ca_only() {
        let now = OffsetDateTime::now_utc();
        let ca = Ca::generate(CaId::Kubernetes, KeyAlgorithm::EcdsaP256, 7200, now).unwrap();
        let other = Ca::generate(CaId::Etcd, KeyAlgorithm::EcdsaP256, 7200, now).unwrap();
        let leaf = ca.issue(&profile(), now).unwrap();
        let (parsed, der) = ParsedCert::from_pem(&leaf.cert_pem).unwrap();
        assert!(ca.signed(&der));
        assert!(!other.signed(&der));
        assert!(!parsed.is_ca);
        assert_eq!(parsed.not_before, ca.not_before);
        assert_eq!(parsed.not_after, whole_seconds(now) + time::Duration::seconds(3600));
    }

    #[test]
    fn a_mismatched_key_is_refused() {
        let now = OffsetDateTime::now_utc();
        let a = Ca::generate(CaId::Kubernetes, KeyAlgorithm::EcdsaP256, 7200, now).unwrap();
        let b = Ca::generate(CaId::Kubernetes, KeyAlgorithm::EcdsaP256, 7200, now).unwrap();
        let err = Ca::load(CaId::Kubernetes, &a.cert_pem, &b.key.to_pem()).err().unwrap();
        assert!(err.contains("does not belong"), "{err}");
    }
}
