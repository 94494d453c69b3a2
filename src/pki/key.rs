//! Private keys: generated from the OS's CSPRNG, written in the container kubeadm uses for
//! each algorithm (PKCS#1 for RSA, SEC1 with the curve named for ECDSA) and read back from
//! any of PKCS#1, SEC1 or PKCS#8, so a CA brought from elsewhere loads too.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair};
use rcgen::{PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256, PublicKeyData};

use super::der::{self, Tlv};
use crate::model::KeyAlgorithm;

const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];

/// What a key is, as far as certificates care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA, with its modulus size.
    Rsa {
        /// The modulus length in bits: 2048, 3072 or 4096 for keys kubebake makes.
        bits: usize,
    },
    /// ECDSA on NIST P-256.
    P256,
    /// ECDSA on NIST P-384.
    P384,
}

impl KeyKind {
    /// The kind of key the spec's `encryptionAlgorithm` asks for.
    pub fn of(alg: KeyAlgorithm) -> Self {
        match alg {
            KeyAlgorithm::Rsa2048 => KeyKind::Rsa { bits: 2048 },
            KeyAlgorithm::Rsa3072 => KeyKind::Rsa { bits: 3072 },
            KeyAlgorithm::Rsa4096 => KeyKind::Rsa { bits: 4096 },
            KeyAlgorithm::EcdsaP256 => KeyKind::P256,
            KeyAlgorithm::EcdsaP384 => KeyKind::P384,
        }
    }

    /// The signature a key of this kind makes, as Go's x509 (and so kubeadm) picks it.
    fn signature(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeyKind::Rsa { .. } => &PKCS_RSA_SHA256,
            KeyKind::P256 => &PKCS_ECDSA_P256_SHA256,
            KeyKind::P384 => &PKCS_ECDSA_P384_SHA384,
        }
    }

    fn curve_oid(self) -> Option<&'static [u8]> {
        match self {
            KeyKind::Rsa { .. } => None,
            KeyKind::P256 => Some(OID_P256),
            KeyKind::P384 => Some(OID_P384),
        }
    }
}

/// A private key with its signer. Deliberately not `Debug`: key material is never printed.
pub struct PrivateKey {
    kind: KeyKind,
    pkcs8: Vec<u8>,
    signer: Signer,
}

/// What signs certificates with a key.
pub enum Signer {
    /// A key read from PEM (or a new RSA key): rcgen parsed and checked it.
    Checked(rcgen::KeyPair),
    /// A new ECDSA key, used as aws-lc made it: reading its own PKCS#8 back would check
    /// it again (a scalar multiplication per key, a tenth of a small bake).
    NewEcdsa { pair: EcdsaKeyPair, public: Vec<u8>, algorithm: &'static rcgen::SignatureAlgorithm },
}

impl rcgen::PublicKeyData for Signer {
    fn der_bytes(&self) -> &[u8] {
        match self {
            Signer::Checked(k) => k.der_bytes(),
            Signer::NewEcdsa { public, .. } => public,
        }
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Signer::Checked(k) => k.algorithm(),
            Signer::NewEcdsa { algorithm, .. } => algorithm,
        }
    }
}

impl rcgen::SigningKey for Signer {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            Signer::Checked(k) => k.sign(msg),
            Signer::NewEcdsa { pair, .. } => pair
                .sign(&aws_lc_rs::rand::SystemRandom::new(), msg)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| rcgen::Error::RingUnspecified),
        }
    }
}

/// Why a key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The crypto library failed to make a key.
    #[error("key generation failed")]
    Generate,
    /// The text is not a PEM block at all.
    #[error("not a PEM private key")]
    NotPem,
    /// A PEM block, but not a key of a supported kind; says which form it failed as.
    #[error("unsupported or malformed private key ({0})")]
    Malformed(&'static str),
}

impl PrivateKey {
    /// A new key of the algorithm, from the OS's random generator.
    pub fn generate(alg: KeyAlgorithm) -> Result<Self, KeyError> {
        let kind = KeyKind::of(alg);
        let pkcs8 = match kind {
            KeyKind::Rsa { bits } => {
                let size = match bits {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    _ => KeySize::Rsa4096,
                };
                let kp = RsaKeyPair::generate(size).map_err(|_| KeyError::Generate)?;
                kp.as_der().map_err(|_| KeyError::Generate)?.as_ref().to_vec()
            }
            KeyKind::P256 | KeyKind::P384 => {
                let alg = if kind == KeyKind::P256 {
                    &ECDSA_P256_SHA256_ASN1_SIGNING
                } else {
                    &ECDSA_P384_SHA384_ASN1_SIGNING
                };
                let pair = EcdsaKeyPair::generate(alg).map_err(|_| KeyError::Generate)?;
                let pkcs8 = pair.to_pkcs8v1().map_err(|_| KeyError::Generate)?.as_ref().to_vec();
                let public = aws_lc_rs::signature::KeyPair::public_key(&pair).as_ref().to_vec();
                let signer = Signer::NewEcdsa { pair, public, algorithm: kind.signature() };
                return Ok(PrivateKey { kind, pkcs8, signer });
            }
        };
        Self::from_pkcs8(kind, pkcs8)
    }

    fn from_pkcs8(kind: KeyKind, pkcs8: Vec<u8>) -> Result<Self, KeyError> {
        let der = rustls_pki_types_pkcs8(&pkcs8);
        let signer = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, kind.signature())
            .map_err(|_| KeyError::Malformed("rejected by the signer"))?;
        Ok(PrivateKey { kind, pkcs8, signer: Signer::Checked(signer) })
    }

    /// The key's algorithm and size.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// What rcgen signs certificates with.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// DER SubjectPublicKeyInfo of the public half.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.signer.subject_public_key_info()
    }

    /// The PEM kubeadm writes for this kind of key.
    pub fn to_pem(&self) -> String {
        let (tag, body) = match self.kind {
            KeyKind::Rsa { .. } => ("RSA PRIVATE KEY", pkcs8_inner(&self.pkcs8).expect("own key").to_vec()),
            _ => ("EC PRIVATE KEY", sec1_with_curve(&self.pkcs8, self.kind).expect("own key")),
        };
        super::pem_encode(tag, &body)
    }

    /// The public half as a PEM `PUBLIC KEY` block, as kubeadm writes `sa.pub`.
    pub fn public_pem(&self) -> String {
        super::pem_encode("PUBLIC KEY", &self.public_key_der())
    }

    /// Reads a PEM private key in PKCS#1, SEC1 or PKCS#8 form.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let block = pem::parse(text).map_err(|_| KeyError::NotPem)?;
        let body = block.contents();
        match block.tag() {
            "RSA PRIVATE KEY" => {
                let bits = rsa_bits(body).ok_or(KeyError::Malformed("PKCS#1"))?;
                let pkcs8 = wrap_pkcs8(OID_RSA_ENCRYPTION, None, body);
                Self::from_pkcs8(KeyKind::Rsa { bits }, pkcs8)
            }
            "EC PRIVATE KEY" => {
                let kind = sec1_curve(body).ok_or(KeyError::Malformed("SEC1 key without a known named curve"))?;
                let pkcs8 = wrap_pkcs8(OID_EC_PUBLIC_KEY, kind.curve_oid(), body);
                Self::from_pkcs8(kind, pkcs8)
            }
            "PRIVATE KEY" => {
                let kind = pkcs8_kind(body).ok_or(KeyError::Malformed("PKCS#8 key of an unsupported type"))?;
                Self::from_pkcs8(kind, body.to_vec())
            }
            _ => Err(KeyError::NotPem),
        }
    }
}

fn rustls_pki_types_pkcs8(der: &[u8]) -> rustls_pki_types::PrivatePkcs8KeyDer<'static> {
    rustls_pki_types::PrivatePkcs8KeyDer::from(der.to_vec())
}

/// PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, OCTET STRING privateKey, ... }
fn pkcs8_parts(pkcs8: &[u8]) -> Option<(Vec<Tlv<'_>>, &[u8])> {
    let outer = der::expect(pkcs8, der::SEQUENCE)?;
    let parts = der::children(outer.content)?;
    let alg = der::children(parts.get(1)?.content)?;
    let key = parts.get(2).filter(|t| t.tag == der::OCTET_STRING)?;
    Some((alg, key.content))
}

fn pkcs8_inner(pkcs8: &[u8]) -> Option<&[u8]> {
    pkcs8_parts(pkcs8).map(|(_, key)| key)
}

fn pkcs8_kind(pkcs8: &[u8]) -> Option<KeyKind> {
    let (alg, key) = pkcs8_parts(pkcs8)?;
    let oid = alg.first().filter(|t| t.tag == der::OID)?.content;
    if oid == OID_RSA_ENCRYPTION {
        return Some(KeyKind::Rsa { bits: rsa_bits(key)? });
    }
    if oid == OID_EC_PUBLIC_KEY {
        return curve_kind(alg.get(1).filter(|t| t.tag == der::OID)?.content);
    }
    None
}

fn curve_kind(oid: &[u8]) -> Option<KeyKind> {
    match oid {
        OID_P256 => Some(KeyKind::P256),
        OID_P384 => Some(KeyKind::P384),
        _ => None,
    }
}

fn wrap_pkcs8(alg_oid: &[u8], params: Option<&[u8]>, key: &[u8]) -> Vec<u8> {
    let oid = der::write(der::OID, alg_oid);
    let params = match params {
        Some(curve) => der::write(der::OID, curve),
        None => der::write(der::NULL, &[]),
    };
    der::sequence(&[
        &der::write(der::INTEGER, &[0]),
        &der::sequence(&[&oid, &params]),
        &der::write(der::OCTET_STRING, key),
    ])
}

/// RSAPrivateKey ::= SEQUENCE { version, modulus, ... }: the modulus' size in bits.
fn rsa_bits(pkcs1: &[u8]) -> Option<usize> {
    let parts = der::children(der::expect(pkcs1, der::SEQUENCE)?.content)?;
    let modulus = parts.get(1).filter(|t| t.tag == der::INTEGER)?.content;
    let significant = modulus.iter().skip_while(|b| **b == 0).count();
    Some(significant * 8)
}

/// ECPrivateKey ::= SEQUENCE { version, privateKey, [0] parameters, [1] publicKey }
fn sec1_curve(sec1: &[u8]) -> Option<KeyKind> {
    let parts = der::children(der::expect(sec1, der::SEQUENCE)?.content)?;
    let params = parts.iter().find(|t| t.tag == der::CONTEXT_0)?;
    curve_kind(der::expect(params.content, der::OID)?.content)
}

/// The SEC1 body of a PKCS#8 EC key, with the named curve filled in: PKCS#8 leaves it out
/// (the outer AlgorithmIdentifier names it), but a stand-alone `EC PRIVATE KEY` needs it.
fn sec1_with_curve(pkcs8: &[u8], kind: KeyKind) -> Option<Vec<u8>> {
    let inner = pkcs8_inner(pkcs8)?;
    let parts = der::children(der::expect(inner, der::SEQUENCE)?.content)?;
    let curve = der::write(der::CONTEXT_0, &der::write(der::OID, kind.curve_oid()?));
    let mut out: Vec<&[u8]> = vec![parts.first()?.raw, parts.get(1)?.raw, &curve];
    if let Some(public) = parts.iter().find(|t| t.tag == der::CONTEXT_1) {
        out.push(public.raw);
    }
    Some(der::sequence(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_round_trips_through_kubeadm_pem() {
        for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
            let key = PrivateKey::generate(alg).unwrap();
            let pem = key.to_pem();
            let expected = if matches!(key.kind(), KeyKind::Rsa { .. }) { "RSA PRIVATE KEY" } else { "EC PRIVATE KEY" };
            assert!(pem.starts_with(&format!("-----BEGIN {expected}-----\n")), "{alg}");
            let back = PrivateKey::from_pem(&pem).unwrap();
            assert_eq!(back.kind(), KeyKind::of(alg));
            assert_eq!(back.public_key_der(), key.public_key_der());
            assert_eq!(back.to_pem(), pem);
        }
    }

    #[test]
    fn pkcs8_input_is_accepted() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let pem = crate::pki::pem_encode("PRIVATE KEY", &key.pkcs8);
        assert_eq!(PrivateKey::from_pem(&pem).unwrap().public_key_der(), key.public_key_der());
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(PrivateKey::from_pem("hello"), Err(KeyError::NotPem)));
        let pem = crate::pki::pem_encode("EC PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x01]);
        assert!(PrivateKey::from_pem(&pem).is_err());
    }
}
