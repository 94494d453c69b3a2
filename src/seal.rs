//! `secrets.encryptTo`: a node's secret-bearing files travel in its user-data sealed to an
//! age X25519 recipient (age-encryption.org/v1), so the metadata service serves only
//! ciphertext; the node's image holds the identity and first boot opens the seal.
//!
//! The secret files of a node go into one gzip'd tar, encrypted once: one header, and the
//! kubeconfigs' text still compresses. Encryption is deterministic: the ephemeral key, file
//! key and nonce are derived from a secret of the state (the cluster CA's key) and the
//! plaintext, so a re-bake gives the same bytes and two different plaintexts never share a
//! key or nonce.

use aws_lc_rs::{aead, agreement, hkdf, hmac};
use sha2::{Digest, Sha256};

use crate::plan::{NodePlan, PlannedFile};

/// Where the sealed archive lands on the node.
pub const SEALED_FILE: &str = "/etc/kubebake/secrets.age";
/// Where the node's image keeps its age identity, unless the spec says otherwise.
pub const DEFAULT_IDENTITY: &str = "/etc/kubebake/age.key";

const RECIPIENT_HRP: &str = "age";
const CHUNK: usize = 64 * 1024;

/// An age X25519 recipient (`age1…`): a Curve25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient {
    key: [u8; 32],
    text: String,
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
    pub fn parse(s: &str) -> Result<Recipient, String> {
        if s.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
            return Err(
                "is an age identity (a secret key): the spec takes its recipient, age-keygen -y prints it".into()
            );
        }
        if !s.to_ascii_lowercase().starts_with("age1") {
            return Err(format!("{s:?} is not an age X25519 recipient (age1…, as age-keygen -y prints)"));
        }
        let (hrp, data) = bech32_decode(s)?;
        if hrp != RECIPIENT_HRP {
            return Err(format!("{s:?} is not an age X25519 recipient (age1…); age-keygen -y prints one"));
        }
        let key: [u8; 32] = data.try_into().map_err(|_| format!("{s:?}: an age X25519 recipient holds 32 bytes"))?;
        Ok(Recipient { key, text: s.to_ascii_lowercase() })
    }
}

/// The recipient of an age identity file (`AGE-SECRET-KEY-1…`, comments allowed), so a
/// mismatch with the spec shows before an image is built. Never echoes the key.
pub fn identity_recipient(text: &str) -> Result<Recipient, String> {
    let mut keys = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    let (Some(line), None) = (keys.next(), keys.next()) else {
        return Err("must hold exactly one age identity (AGE-SECRET-KEY-1…), as age-keygen writes it".into());
    };
    let (hrp, data) = bech32_decode(line).map_err(|_| "is not an age identity (AGE-SECRET-KEY-1…)".to_string())?;
    let secret: [u8; 32] = match (hrp.as_str(), data.try_into()) {
        ("age-secret-key-", Ok(secret)) => secret,
        _ => return Err("is not an age X25519 identity (AGE-SECRET-KEY-1…)".into()),
    };
    let key = agreement::PrivateKey::from_private_key(&agreement::X25519, &secret)
        .map_err(|_| "holds an unusable X25519 key".to_string())?;
    let public: [u8; 32] = key.compute_public_key().expect("X25519 public key").as_ref().try_into().expect("32 bytes");
    let text = bech32_encode(RECIPIENT_HRP, &public);
    Ok(Recipient { key: public, text })
}

/// What makes a file secret: a private key, a kubeconfig's client key, or the join token.
pub fn is_secret(contents: &[u8], tokens: &[String]) -> bool {
    let has = |needle: &[u8]| contents.windows(needle.len()).any(|w| w == needle);
    has(b"PRIVATE KEY-----") || has(b"client-key-data:") || tokens.iter().any(|t| has(t.as_bytes()))
}

/// The plan as the user-data carries it: its secret files replaced by one sealed archive
/// (every node has one: each holds at least the join token). Other files stay as they are.
pub fn seal_plan(plan: &NodePlan, recipient: &Recipient, ca_key_pem: &str, tokens: &[String]) -> NodePlan {
    let (secret, public): (Vec<&PlannedFile>, Vec<&PlannedFile>) =
        plan.files.iter().partition(|f| is_secret(&f.contents, tokens));
    let mut tar = tar::Builder::new(Vec::new());
    for f in &secret {
        let mut header = tar::Header::new_ustar();
        header.set_size(f.contents.len() as u64);
        header.set_mode(f.mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        let rel = f.path.trim_start_matches('/');
        tar.append_data(&mut header, rel, &f.contents[..]).expect("writing to memory");
    }
    let archive = crate::render::gzip(&tar.into_inner().expect("writing to memory"));
    let seed = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, ca_key_pem.as_bytes()), b"kubebake/seal/v1");
    let mut sealed = plan.clone();
    sealed.files = public.into_iter().cloned().collect();
    sealed.files.push(PlannedFile {
        path: SEALED_FILE.into(),
        mode: 0o600,
        owner: "root:root",
        contents: encrypt(recipient, seed.as_ref(), &plan.name, &archive),
    });
    sealed.files.sort_by(|a, b| a.path.cmp(&b.path));
    sealed
}

/// age v1 binary format, one X25519 stanza. `seed` is secret; `label` separates uses.
pub fn encrypt(recipient: &Recipient, seed: &[u8], label: &str, plaintext: &[u8]) -> Vec<u8> {
    // Everything random in age is derived from the seed and what is encrypted.
    let material = {
        let key = hmac::Key::new(hmac::HMAC_SHA256, seed);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&recipient.key);
        ctx.update(label.as_bytes());
        ctx.update(&[0]);
        ctx.update(&Sha256::digest(plaintext));
        ctx.sign()
    };
    let derive = |info: &[u8], out: &mut [u8]| hkdf_into(material.as_ref(), &[], info, out);
    let mut ephemeral = [0u8; 32];
    let mut file_key = [0u8; 16];
    let mut nonce = [0u8; 16];
    derive(b"ephemeral", &mut ephemeral);
    derive(b"file key", &mut file_key);
    derive(b"nonce", &mut nonce);

    let secret = agreement::PrivateKey::from_private_key(&agreement::X25519, &ephemeral).expect("32 bytes");
    let share = secret.compute_public_key().expect("X25519 public key");
    let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, recipient.key);
    let shared: Vec<u8> = agreement::agree(&secret, peer, (), |k| Ok(k.to_vec())).expect("X25519 agreement");
    let mut salt = share.as_ref().to_vec();
    salt.extend_from_slice(&recipient.key);
    let mut wrap_key = [0u8; 32];
    hkdf_into(&shared, &salt, b"age-encryption.org/v1/X25519", &mut wrap_key);
    let body = seal_chacha(&wrap_key, [0u8; 12], &file_key);

    let mut header = format!("age-encryption.org/v1\n-> X25519 {}\n{}\n---", b64(share.as_ref()), b64(&body));
    let mut mac_key = [0u8; 32];
    hkdf_into(&file_key, &[], b"header", &mut mac_key);
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &mac_key), header.as_bytes());
    header.push_str(&format!(" {}\n", b64(mac.as_ref())));

    let mut out = header.into_bytes();
    out.extend_from_slice(&nonce);
    let mut payload_key = [0u8; 32];
    hkdf_into(&file_key, &nonce, b"payload", &mut payload_key);
    // STREAM: 64 KiB chunks, nonce = 11-byte counter || last-chunk flag; an empty
    // plaintext is one empty final chunk.
    let chunks: Vec<&[u8]> = if plaintext.is_empty() { vec![&[][..]] } else { plaintext.chunks(CHUNK).collect() };
    for (i, chunk) in chunks.iter().enumerate() {
        let mut n = [0u8; 12];
        n[3..11].copy_from_slice(&(i as u64).to_be_bytes());
        n[11] = u8::from(i + 1 == chunks.len());
        out.extend_from_slice(&seal_chacha(&payload_key, n, chunk));
    }
    out
}

fn seal_chacha(key: &[u8; 32], nonce: [u8; 12], plaintext: &[u8]) -> Vec<u8> {
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::CHACHA20_POLY1305, key).expect("32-byte key"));
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::empty(), &mut buf)
        .expect("ChaCha20-Poly1305");
    buf
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf_into(ikm: &[u8], salt: &[u8], info: &[u8], out: &mut [u8]) {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info];
    prk.expand(&info, Len(out.len())).and_then(|okm| okm.fill(out)).expect("HKDF output length");
}

/// Standard base64 without padding, as age writes it.
fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(data)
}

const BECH32_CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn bech32_polymod(values: impl Iterator<Item = u8>) -> u32 {
    const GEN: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x1ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn bech32_encode(hrp: &str, data: &[u8]) -> String {
    let mut values = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in data {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            values.push(((acc >> bits) & 31) as u8);
        }
    }
    if bits > 0 {
        values.push(((acc << (5 - bits)) & 31) as u8);
    }
    let expanded: Vec<u8> = hrp.bytes().map(|c| c >> 5).chain([0]).chain(hrp.bytes().map(|c| c & 31)).collect();
    let polymod = bech32_polymod(expanded.into_iter().chain(values.iter().copied()).chain([0; 6])) ^ 1;
    values.extend((0..6).map(|i| ((polymod >> (5 * (5 - i))) & 31) as u8));
    let mut s = format!("{hrp}1");
    s.extend(values.iter().map(|v| BECH32_CHARSET[*v as usize] as char));
    s
}

/// Bech32 (BIP 173) as age uses it: the human-readable part and the data bytes.
fn bech32_decode(s: &str) -> Result<(String, Vec<u8>), String> {
    if s.chars().any(|c| c.is_ascii_lowercase()) && s.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("{s:?} mixes upper and lower case"));
    }
    let lower = s.to_ascii_lowercase();
    let Some(sep) = lower.rfind('1') else { return Err(format!("{s:?} is not Bech32 (no separator '1')")) };
    let (hrp, rest) = (&lower[..sep], &lower[sep + 1..]);
    if hrp.is_empty() || rest.len() < 6 || !lower.is_ascii() {
        return Err(format!("{s:?} is not Bech32"));
    }
    let values = rest
        .bytes()
        .map(|c| BECH32_CHARSET.iter().position(|&x| x == c).map(|p| p as u8))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| format!("{s:?} has a character outside Bech32's alphabet"))?;
    let expanded = hrp.bytes().map(|c| c >> 5).chain([0]).chain(hrp.bytes().map(|c| c & 31));
    if bech32_polymod(expanded.chain(values.iter().copied())) != 1 {
        return Err(format!("{s:?} has a wrong checksum (a typo?)"));
    }
    let data = &values[..values.len() - 6];
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for v in data {
        acc = (acc << 5) | u32::from(*v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits >= 5 || (acc & ((1 << bits) - 1)) != 0 {
        return Err(format!("{s:?} has trailing bits"));
    }
    Ok((hrp.to_string(), out))
}

#[cfg(test)]
mod tests {
    use super::*;

    // age-keygen's output for a throwaway key (the public half only).
    const RECIPIENT: &str = "age1pce3h48yq6wxkgfcdhyefu4my9lycys3jyun7rexs0e9h05j0alqzx27te";
    // Its identity: a test fixture that guards nothing.
    const TEST_IDENTITY: &str = "AGE-SECRET-KEY-1FHGDNS6JMZHNEYZV8WZZ9EYWZTQV7NX8XWEG5NHRR73WNC6A2D5QFZG4QQ";

    #[test]
    fn recipients_are_checked_like_age_does() {
        let r = Recipient::parse(RECIPIENT).unwrap();
        assert_eq!(r.to_string(), RECIPIENT);
        assert!(Recipient::parse(&RECIPIENT.to_ascii_uppercase()).is_ok());
        let typo = RECIPIENT.replace("pce3", "pce4");
        assert!(Recipient::parse(&typo).unwrap_err().contains("checksum"), "{typo}");
        assert!(Recipient::parse("AGE-SECRET-KEY-1QQQQ").is_err());
        assert!(Recipient::parse("ssh-ed25519 AAAA").is_err());
        assert!(Recipient::parse("").is_err());
    }

    #[test]
    fn an_identity_gives_its_recipient() {
        // A throwaway pair from age-keygen.
        let identity = "# created: 2026-11-29\n# public key: age1pce3h48yq6wxkgfcdhyefu4my9lycys3jyun7rexs0e9h05j0alqzx27te\nIDENTITY\n";
        let identity = identity.replace("IDENTITY", TEST_IDENTITY);
        assert_eq!(identity_recipient(&identity).unwrap().to_string(), RECIPIENT);
        assert!(identity_recipient(RECIPIENT).is_err());
        assert!(identity_recipient("").is_err());
        let two = format!("{TEST_IDENTITY}\n{TEST_IDENTITY}\n");
        assert!(identity_recipient(&two).unwrap_err().contains("exactly one"));
    }

    #[test]
    fn sealing_is_deterministic_and_differs_with_the_plaintext() {
        let r = Recipient::parse(RECIPIENT).unwrap();
        let a = encrypt(&r, b"seed", "n", b"hello");
        assert_eq!(a, encrypt(&r, b"seed", "n", b"hello"));
        assert_ne!(a, encrypt(&r, b"seed", "n", b"hellp"));
        assert_ne!(a, encrypt(&r, b"other", "n", b"hello"));
        assert!(a.starts_with(b"age-encryption.org/v1\n-> X25519 "));
        // One 64 KiB chunk more for each started chunk: header + nonce + data + 16-byte tags.
        let big = encrypt(&r, b"seed", "n", &vec![7u8; CHUNK + 1]);
        let header = big.windows(4).position(|w| w == b"--- ").unwrap();
        let header_end = header + big[header..].iter().position(|&b| b == b'\n').unwrap() + 1;
        assert_eq!(big.len() - header_end, 16 + CHUNK + 1 + 2 * 16);
    }

    #[test]
    fn secrets_are_found_by_what_they_hold() {
        let t = ["abcdef.0123456789abcdef".to_string()];
        assert!(is_secret(b"-----BEGIN EC PRIVATE KEY-----\n", &t));
        assert!(is_secret(b"users:\n- user:\n    client-key-data: AAAA\n", &t));
        assert!(is_secret(b"token: abcdef.0123456789abcdef\n", &t));
        assert!(!is_secret(b"-----BEGIN CERTIFICATE-----\n", &t));
    }
}
