//! `secrets.encryptTo`: the age X25519 recipient a node's files are sealed to, and the
//! identity file on the node's image that opens them.

use aws_lc_rs::agreement;

use crate::fmt::bech32;

/// Where the node's image keeps its age identity, unless the spec says otherwise.
pub const DEFAULT_IDENTITY: &str = "/etc/kubebake/age.key";

/// The human-readable part of an age X25519 recipient.
pub const RECIPIENT_HRP: &str = "age";

/// An age X25519 recipient (`age1…`): a Curve25519 public key that a seal can be opened
/// from only by its identity (not a low-order point).
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient {
    // Crate-visible so that sealing can use the key, and its tests can build the
    // low-order points parse refuses.
    pub(crate) key: [u8; 32],
    pub(crate) text: String,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Recipient {
    /// Parses an `age1…` recipient as age does, and refuses what age refuses to encrypt to.
    pub fn parse(s: &str) -> Result<Recipient, String> {
        if s.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
            return Err(
                "is an age identity (a secret key): the spec takes its recipient, age-keygen -y prints it".into()
            );
        }
        if !s.to_ascii_lowercase().starts_with("age1") {
            return Err(format!("{s:?} is not an age X25519 recipient (age1…, as age-keygen -y prints)"));
        }
        let (hrp, data) = bech32::decode(s)?;
        if hrp != RECIPIENT_HRP {
            return Err(format!("{s:?} is not an age X25519 recipient (age1…); age-keygen -y prints one"));
        }
        let key: [u8; 32] = data.try_into().map_err(|_| format!("{s:?}: an age X25519 recipient holds 32 bytes"))?;
        if low_order(&key) {
            return Err(format!(
                "{s:?} is a low-order X25519 point: its shared secret with every key is zero, so anyone could \
                 open what is sealed to it (age refuses it too); use the recipient age-keygen -y prints"
            ));
        }
        Ok(Recipient { key, text: s.to_ascii_lowercase() })
    }
}

/// Whether `point` is one of Curve25519's low-order points (in any encoding). Every X25519
/// scalar is a multiple of the cofactor, which sends such a point to the all-zero shared
/// secret, whatever the scalar; aws-lc reports that result as an error.
fn low_order(point: &[u8; 32]) -> bool {
    let Ok(probe) = agreement::PrivateKey::from_private_key(&agreement::X25519, &[0x5a; 32]) else {
        return true;
    };
    let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, point);
    agreement::agree(&probe, peer, (), |shared| Ok(shared.iter().all(|b| *b == 0))).unwrap_or(true)
}

/// The recipient of an age identity file (`AGE-SECRET-KEY-1…`, comments allowed), so a
/// mismatch with the spec shows before an image is built. Never echoes the key.
pub fn identity_recipient(text: &str) -> Result<Recipient, String> {
    let mut keys = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    let (Some(line), None) = (keys.next(), keys.next()) else {
        return Err("must hold exactly one age identity (AGE-SECRET-KEY-1…), as age-keygen writes it".into());
    };
    let (hrp, data) = bech32::decode(line).map_err(|_| "is not an age identity (AGE-SECRET-KEY-1…)".to_string())?;
    let secret: [u8; 32] = match (hrp.as_str(), data.try_into()) {
        ("age-secret-key-", Ok(secret)) => secret,
        _ => return Err("is not an age X25519 identity (AGE-SECRET-KEY-1…)".into()),
    };
    let key = agreement::PrivateKey::from_private_key(&agreement::X25519, &secret)
        .map_err(|_| "holds an unusable X25519 key".to_string())?;
    let public = key.compute_public_key().map_err(|_| "holds an unusable X25519 key".to_string())?;
    let public: [u8; 32] = public.as_ref().try_into().map_err(|_| "holds an unusable X25519 key".to_string())?;
    let text = bech32::encode(RECIPIENT_HRP, &public);
    Ok(Recipient { key: public, text })
}
