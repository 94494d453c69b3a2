//! `secrets.encryptTo`: a node's files travel in its user-data sealed to an age X25519
//! recipient (age-encryption.org/v1), so the metadata service serves only ciphertext; the
//! node's image holds the identity, and first boot's unpacker opens the seal.
//!
//! What is sealed is the node's pack (src/deliver/pack.rs), already compressed: sealed bytes do not
//! compress, so compressing first is what keeps a control plane within EC2's 16 KB, and
//! every file of the node (not only its secrets) shares that one compression.
//!
//! Encryption is deterministic: the ephemeral key, file key and nonce are derived from the
//! state's seal seed (`seal.seed`, random, made once and kept), the recipient, the node and
//! the plaintext. A re-bake gives the same bytes; two plaintexts never share a key or
//! nonce; and the seed is used for nothing else, so a leaked CA key opens no seal.

use aws_lc_rs::{aead, agreement, hkdf, hmac};
use sha2::{Digest, Sha256};

use crate::model::recipient::Recipient;
use crate::node::pack_format::SEALED_SUFFIX;
use crate::node::plan::NodePlan;
use crate::state::seal_seed::SealSeed;

const CHUNK: usize = 64 * 1024;

/// What makes a file secret: a private key, a kubeconfig's client key, or the join token.
pub fn is_secret(contents: &[u8], tokens: &[String]) -> bool {
    let has = |needle: &[u8]| contents.windows(needle.len()).any(|w| w == needle);
    has(b"PRIVATE KEY-----") || has(b"client-key-data:") || tokens.iter().any(|t| has(t.as_bytes()))
}

/// A packed plan (src/deliver/pack.rs) as the user-data carries it: its pack sealed to `recipient`
/// under the pack's name plus [`SEALED_SUFFIX`]. Refused, rather than delivered, when a
/// file that stays out of the pack holds a secret (`tokens`: every token the state knows).
pub fn seal_plan(
    mut plan: NodePlan,
    recipient: &Recipient,
    seed: &SealSeed,
    tokens: &[String],
) -> Result<NodePlan, String> {
    for f in &mut plan.files {
        if crate::node::pack_format::is_pack(&f.path) {
            f.contents = encrypt(recipient, seed, &plan.name, &f.contents)?;
            f.path.push_str(SEALED_SUFFIX);
        } else if is_secret(&f.contents, tokens) {
            return Err(format!("{} holds a secret and is not in the sealed pack; refusing to deliver it", f.path));
        }
    }
    plan.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(plan)
}

/// age v1 binary format, one X25519 stanza, everything random in it derived from `seed`,
/// the recipient, `label` (which separates uses: the node's name) and the plaintext.
pub fn encrypt(recipient: &Recipient, seed: &SealSeed, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, String> {
    let material = {
        let key = hmac::Key::new(hmac::HMAC_SHA256, seed.expose());
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(b"kubebake/seal/v2\0");
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

    let unusable = || format!("no X25519 key agreement with {recipient} (a low-order point?)");
    let secret = agreement::PrivateKey::from_private_key(&agreement::X25519, &ephemeral).map_err(|_| unusable())?;
    let share = secret.compute_public_key().map_err(|_| unusable())?;
    let share: [u8; 32] = share.as_ref().try_into().map_err(|_| unusable())?;
    let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, recipient.key);
    // aws-lc refuses an all-zero shared secret; checked here as well, as a seal anyone
    // could open must never be written (Recipient::parse refuses such points already).
    let shared: Vec<u8> = agreement::agree(&secret, peer, (), |k| Ok(k.to_vec())).map_err(|_| unusable())?;
    if shared.iter().all(|b| *b == 0) {
        return Err(unusable());
    }
    assemble(&recipient.key, &share, &shared, &file_key, &nonce, plaintext)
}

/// The age file for one X25519 stanza, given what encryption draws at random: the
/// ephemeral share and its shared secret with the recipient, the file key and the payload
/// nonce. Separate from [`encrypt`] so that age's published test vectors, whose ephemeral
/// secret is not published, can be reproduced byte for byte from their identity.
fn assemble(
    recipient: &[u8; 32],
    share: &[u8; 32],
    shared: &[u8],
    file_key: &[u8; 16],
    nonce: &[u8; 16],
    plaintext: &[u8],
) -> Result<Vec<u8>, String> {
    let mut salt = share.to_vec();
    salt.extend_from_slice(recipient);
    let mut wrap_key = [0u8; 32];
    hkdf_into(shared, &salt, b"age-encryption.org/v1/X25519", &mut wrap_key);
    let body = seal_chacha(&wrap_key, [0u8; 12], file_key)?;

    let mut header = format!("age-encryption.org/v1\n-> X25519 {}\n{}\n---", b64(share), b64(&body));
    let mut mac_key = [0u8; 32];
    hkdf_into(file_key, &[], b"header", &mut mac_key);
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &mac_key), header.as_bytes());
    header.push_str(&format!(" {}\n", b64(mac.as_ref())));

    let mut out = header.into_bytes();
    out.extend_from_slice(nonce);
    let mut payload_key = [0u8; 32];
    hkdf_into(file_key, nonce, b"payload", &mut payload_key);
    // STREAM: 64 KiB chunks, nonce = 11-byte counter || last-chunk flag; an empty
    // plaintext is one empty final chunk.
    let chunks: Vec<&[u8]> = if plaintext.is_empty() { vec![&[][..]] } else { plaintext.chunks(CHUNK).collect() };
    for (i, chunk) in chunks.iter().enumerate() {
        let mut n = [0u8; 12];
        n[3..11].copy_from_slice(&(i as u64).to_be_bytes());
        n[11] = u8::from(i + 1 == chunks.len());
        out.extend_from_slice(&seal_chacha(&payload_key, n, chunk)?);
    }
    Ok(out)
}

fn seal_chacha(key: &[u8; 32], nonce: [u8; 12], plaintext: &[u8]) -> Result<Vec<u8>, String> {
    let failed = |_| "ChaCha20-Poly1305 refused to seal".to_string();
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::CHACHA20_POLY1305, key).map_err(failed)?);
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::empty(), &mut buf)
        .map_err(failed)?;
    Ok(buf)
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

#[cfg(test)]
// The age library marks its X25519 recipients deprecated in favour of its post-quantum
// hybrid ones; X25519 is what `secrets.encryptTo` takes and what is tested against here.
#[allow(deprecated)]
mod tests {
    use super::*;
    use crate::fmt::bech32;
    use crate::model::recipient::{RECIPIENT_HRP, identity_recipient};

    // age-keygen's output for a throwaway key (the public half only).
    const RECIPIENT: &str = "age1pce3h48yq6wxkgfcdhyefu4my9lycys3jyun7rexs0e9h05j0alqzx27te";
    // Its identity: a test fixture that guards nothing.
    const TEST_IDENTITY: &str = "AGE-SECRET-KEY-1FHGDNS6JMZHNEYZV8WZZ9EYWZTQV7NX8XWEG5NHRR73WNC6A2D5QFZG4QQ";

    /// A Curve25519 point as age's recipients encode it, from its little-endian hex.
    fn point(hex: &str) -> [u8; 32] {
        let bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
        bytes.try_into().unwrap()
    }

    /// Curve25519's low-order points: 0, 1, the two of order 8, -1 (order 4 on the twist),
    /// and p and p + 1, which are 0 and 1 unreduced; each also with bit 255 set, which
    /// X25519 ignores.
    fn low_order_points() -> Vec<[u8; 32]> {
        let p_minus = |low: u8| {
            let mut b = [0xffu8; 32];
            b[0] = low;
            b[31] = 0x7f;
            b
        };
        let mut one = [0u8; 32];
        one[0] = 1;
        let mut points = vec![
            [0u8; 32],
            one,
            point("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
            point("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
            p_minus(0xec),
            p_minus(0xed),
            p_minus(0xee),
        ];
        for i in 0..points.len() {
            let mut high = points[i];
            high[31] |= 0x80;
            points.push(high);
        }
        points
    }

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

    /// Whether the age library takes `text` as a recipient and encrypts to it. To a
    /// low-order point it does not, but by panicking (it takes the all-zero shared secret
    /// for a failing RNG), not with an error: caught here.
    fn age_library_encrypts_to(text: &str) -> bool {
        use std::str::FromStr;
        let r = age::x25519::Recipient::from_str(text).expect("the age library parses every 32-byte recipient");
        std::panic::catch_unwind(|| age::encrypt(&r, b"x").is_ok()).unwrap_or(false)
    }

    #[test]
    fn low_order_recipients_are_refused_and_the_age_library_cannot_encrypt_to_them_either() {
        for p in low_order_points() {
            let text = bech32::encode(RECIPIENT_HRP, &p);
            let err = Recipient::parse(&text).unwrap_err();
            assert!(err.contains("low-order X25519 point"), "{text}: {err}");
            assert!(!age_library_encrypts_to(&text), "{text}: the age library encrypts to it");
        }
        // Any other point is usable, by both: random ones, and the recipients of random keys.
        for _ in 0..64 {
            let mut p = [0u8; 32];
            aws_lc_rs::rand::fill(&mut p).unwrap();
            let text = bech32::encode(RECIPIENT_HRP, &p);
            assert!(Recipient::parse(&text).is_ok() && age_library_encrypts_to(&text), "{text}");
            let identity = age::x25519::Identity::generate();
            let text = identity.to_public().to_string();
            assert!(Recipient::parse(&text).is_ok() && age_library_encrypts_to(&text), "{text}");
        }
        // The defensive check inside encrypt holds on its own, whatever parse let through.
        let zero = Recipient { key: [0; 32], text: bech32::encode(RECIPIENT_HRP, &[0; 32]) };
        assert!(encrypt(&zero, &SealSeed::from_bytes(&[1; 32]).unwrap(), "n", b"x").unwrap_err().contains("low-order"));
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
    fn sealing_is_deterministic_and_differs_with_the_plaintext_seed_and_label() {
        let r = Recipient::parse(RECIPIENT).unwrap();
        let seed = SealSeed::from_bytes(&[3; 32]).unwrap();
        let a = encrypt(&r, &seed, "n", b"hello").unwrap();
        assert_eq!(a, encrypt(&r, &seed, "n", b"hello").unwrap());
        for other in [
            encrypt(&r, &seed, "n", b"hellp").unwrap(),
            encrypt(&r, &SealSeed::from_bytes(&[4; 32]).unwrap(), "n", b"hello").unwrap(),
            encrypt(&r, &seed, "m", b"hello").unwrap(),
        ] {
            // Another ephemeral share, file key and nonce: nothing in common but the format.
            assert_ne!(a[..80], other[..80]);
        }
        assert!(a.starts_with(b"age-encryption.org/v1\n-> X25519 "));
        // One 64 KiB chunk more for each started chunk: header + nonce + data + 16-byte tags.
        let big = encrypt(&r, &seed, "n", &vec![7u8; CHUNK + 1]).unwrap();
        let header = big.windows(4).position(|w| w == b"--- ").unwrap();
        let header_end = header + big[header..].iter().position(|&b| b == b'\n').unwrap() + 1;
        assert_eq!(big.len() - header_end, 16 + CHUNK + 1 + 2 * 16);
    }

    #[test]
    fn what_is_sealed_opens_with_the_age_library_and_any_change_is_refused() {
        use std::str::FromStr;
        let identity = age::x25519::Identity::generate();
        let r = Recipient::parse(&identity.to_public().to_string()).unwrap();
        let seed = SealSeed::generate();
        let data: Vec<u8> = (0..3 * CHUNK as u32 + 5).map(|i| (i * 7 % 251) as u8).collect();
        for len in [0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, data.len()] {
            let plaintext = &data[..len];
            let sealed = encrypt(&r, &seed, "node", plaintext).unwrap();
            assert_eq!(age::decrypt(&identity, &sealed).unwrap(), plaintext, "{len} bytes");
            // Only its identity opens it.
            assert!(age::decrypt(&age::x25519::Identity::generate(), &sealed).is_err());
            let header_end = sealed.windows(4).position(|w| w == b"--- ").unwrap();
            let mut changed = Vec::new();
            // A byte of the share, of the wrapped file key, of the MAC, of the nonce, of the
            // first and of the last chunk.
            for at in [40, 90, header_end + 10, header_end + 50, header_end + 70, sealed.len() - 1] {
                let mut s = sealed.clone();
                s[at] ^= 1;
                changed.push((format!("byte {at} flipped"), s));
            }
            changed.push(("one byte short".into(), sealed[..sealed.len() - 1].to_vec()));
            changed.push(("one byte more".into(), [&sealed[..], b"x"].concat()));
            if len > CHUNK {
                // The final chunk dropped: what is left ends in a chunk not marked final.
                let last = (len - 1) % CHUNK + 1 + 16;
                changed.push(("last chunk dropped".into(), sealed[..sealed.len() - last].to_vec()));
            }
            for (what, bytes) in changed {
                assert!(age::decrypt(&identity, &bytes).is_err(), "{len} bytes, {what}: opened");
            }
        }
        // A recipient string kubebake accepts is the age library's own.
        assert_eq!(age::x25519::Recipient::from_str(&r.to_string()).unwrap().to_string(), r.to_string());
    }

    /// The age crate's copy of the C2SP age test vectors (`tests/testdata/testkit`), as
    /// cargo unpacked it: found through `cargo metadata`, as no path of a dependency's
    /// sources reaches the compiler.
    fn testkit() -> std::path::PathBuf {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--offline", "--filter-platform", "host-tuple"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("running cargo metadata");
        assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let manifest = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "age")
            .and_then(|p| p["manifest_path"].as_str())
            .expect("the age crate among the dependencies");
        let dir = std::path::Path::new(manifest).parent().unwrap().join("tests/testdata/testkit");
        assert!(dir.is_dir(), "{} is missing: the age crate ships its test vectors there", dir.display());
        dir
    }

    /// A test vector: its `key: value` lines and its age file.
    fn vector(path: &std::path::Path) -> (std::collections::BTreeMap<String, String>, Vec<u8>) {
        use std::io::Read;
        let raw = std::fs::read(path).unwrap();
        let split = raw.windows(2).position(|w| w == b"\n\n").unwrap();
        let meta: std::collections::BTreeMap<String, String> = String::from_utf8(raw[..split].to_vec())
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        let mut body = raw[split + 2..].to_vec();
        if meta.get("compressed").map(String::as_str) == Some("zlib") {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&body[..]).read_to_end(&mut out).unwrap();
            body = out;
        }
        (meta, body)
    }

    /// Every test vector that decrypts to a payload with one X25519 stanza and nothing
    /// else is what `assemble` writes for the same share, file key, nonce and payload:
    /// byte for byte, header, MAC and every chunk. The shared secret comes from the
    /// vector's identity (the ephemeral secret is not published). And where the vectors
    /// say a share is a low-order point, kubebake's recipient check says so too.
    #[test]
    fn the_c2sp_age_test_vectors_are_reproduced_byte_for_byte() {
        use std::str::FromStr;
        let b64 = |s: &str| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(s).unwrap()
        };
        let mut reproduced = Vec::new();
        let mut low_order_shares = 0;
        for entry in std::fs::read_dir(testkit()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let (meta, body) = vector(&path);
            let Some(identity) = meta.get("identity").filter(|i| i.starts_with("AGE-SECRET-KEY-1")) else {
                continue;
            };
            // Every X25519 identity's recipient is the age library's.
            let theirs = age::x25519::Identity::from_str(identity).unwrap().to_public().to_string();
            assert_eq!(identity_recipient(identity).unwrap().to_string(), theirs, "{name}");
            let Some(header_len) = body.windows(5).position(|w| w == b"\n--- ") else { continue };
            let stanzas: Vec<&str> = std::str::from_utf8(&body[..header_len])
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("-> "))
                .collect();
            let [stanza] = stanzas[..] else { continue };
            let Some(share) = stanza.strip_prefix("-> X25519 ") else { continue };
            if name.contains("low_order") {
                let share: [u8; 32] = b64(share).try_into().unwrap();
                let text = bech32::encode(RECIPIENT_HRP, &share);
                assert!(Recipient::parse(&text).unwrap_err().contains("low-order"), "{name}");
                low_order_shares += 1;
            }
            if meta["expect"] != "success" || !body.starts_with(b"age-encryption.org/v1\n") {
                continue;
            }
            let payload = age::decrypt(&age::x25519::Identity::from_str(identity).unwrap(), &body).unwrap();
            assert_eq!(crate::fmt::hex(&Sha256::digest(&payload)), meta["payload"], "{name}: payload");
            let share: [u8; 32] = b64(share).try_into().unwrap();
            let (_, secret) = bech32::decode(identity).unwrap();
            let secret = agreement::PrivateKey::from_private_key(&agreement::X25519, &secret).unwrap();
            let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, share);
            let shared = agreement::agree(&secret, peer, (), |k| Ok(k.to_vec())).unwrap();
            let key = meta["file key"].as_str();
            let file_key: [u8; 16] = (0..16)
                .map(|i| u8::from_str_radix(&key[2 * i..2 * i + 2], 16).unwrap())
                .collect::<Vec<_>>()
                .try_into()
                .unwrap();
            let header_end = header_len + body[header_len + 1..].iter().position(|&b| b == b'\n').unwrap() + 2;
            let nonce: [u8; 16] = body[header_end..header_end + 16].try_into().unwrap();
            let recipient = identity_recipient(identity).unwrap();
            let ours = assemble(&recipient.key, &share, &shared, &file_key, &nonce, &payload).unwrap();
            assert!(ours == body, "{name}: kubebake writes other bytes for the same inputs");
            reproduced.push(name);
        }
        reproduced.sort();
        // x25519 and the STREAM vectors: empty payload, a full last chunk, two, three, 257
        // and 258 chunks.
        assert!(reproduced.len() >= 9, "only {reproduced:?}");
        for must in ["x25519", "stream_empty_payload", "stream_last_chunk_full", "stream_258_chunks"] {
            assert!(reproduced.iter().any(|n| n == must), "{must} not among {reproduced:?}");
        }
        assert!(low_order_shares >= 1, "no vector with a low-order share");
    }

    #[test]
    fn a_plan_is_delivered_with_its_pack_sealed_and_nothing_secret_beside_it() {
        use crate::node::plan::PlannedFile;
        let identity = age::x25519::Identity::generate();
        let r = Recipient::parse(&identity.to_public().to_string()).unwrap();
        let file = |path: &str, contents: &[u8]| PlannedFile {
            path: path.into(),
            mode: 0o600,
            owner: "root:root",
            contents: contents.to_vec(),
        };
        let plan = NodePlan {
            name: "n".into(),
            role: crate::model::Role::Worker,
            pool: None,
            files: vec![file("/etc/hostname", b"n\n"), file(crate::node::pack_format::PACK_GZ, b"the pack")],
            units: Vec::new(),
        };
        let seed = SealSeed::generate();
        let tokens = ["abcdef.0123456789abcdef".to_string()];
        let sealed = seal_plan(plan.clone(), &r, &seed, &tokens).unwrap();
        let paths: Vec<&str> = sealed.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/etc/hostname", "/etc/kubebake/node.pack.gz.age"]);
        assert_eq!(age::decrypt(&identity, &sealed.files[1].contents).unwrap(), b"the pack");
        assert_eq!(seal_plan(plan.clone(), &r, &seed, &tokens).unwrap().files, sealed.files);
        let mut leaky = plan;
        leaky.files.push(file("/etc/motd", b"join with abcdef.0123456789abcdef\n"));
        assert!(seal_plan(leaky, &r, &seed, &tokens).unwrap_err().contains("/etc/motd holds a secret"));
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
