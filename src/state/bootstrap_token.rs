//! One bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`), which joining nodes present together
//! with the pin of the cluster CA: how it is made, read and shown. The state's tokens
//! themselves are in `join_tokens.rs`.

use std::fmt;

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A bootstrap token. Its `Debug` and `Display` show only the public id; the secret part
/// comes out only through [`BootstrapToken::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    id: String,
    secret: String,
}

impl BootstrapToken {
    /// Draws a token from the OS's CSPRNG, each character uniform over `[a-z0-9]`.
    pub fn generate() -> Self {
        let mut chars = String::with_capacity(22);
        let mut buf = [0u8; 64];
        while chars.len() < 22 {
            aws_lc_rs::rand::fill(&mut buf).expect("the OS's CSPRNG");
            // 252 = 7 * 36: rejecting larger bytes keeps every character equally likely.
            for b in buf.iter().filter(|b| **b < 252) {
                if chars.len() < 22 {
                    chars.push(ALPHABET[(*b % 36) as usize] as char);
                }
            }
        }
        BootstrapToken { id: chars[..6].to_string(), secret: chars[6..].to_string() }
    }

    /// Parses `id.secret`, refusing anything that is not kubeadm's token format.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| ALPHABET.contains(&b));
        match s.split_once('.') {
            Some((id, secret)) if ok(id, 6) && ok(secret, 16) => {
                Ok(BootstrapToken { id: id.to_string(), secret: secret.to_string() })
            }
            _ => Err("not a bootstrap token of the form [a-z0-9]{6}.[a-z0-9]{16}".to_string()),
        }
    }

    /// The public half, which names the token in the cluster (`bootstrap-token-<id>`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The whole token, for the files that must carry it.
    pub fn expose(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    /// The token with its secret part masked, safe to print.
    pub fn masked(&self) -> String {
        format!("{}.{}", self.id, "*".repeat(16))
    }
}

impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BootstrapToken({})", self.masked())
    }
}

impl fmt::Display for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_kubeadms_form() {
        for _ in 0..200 {
            let t = BootstrapToken::generate();
            assert_eq!(BootstrapToken::parse(&t.expose()).unwrap(), t);
        }
        assert_ne!(BootstrapToken::generate(), BootstrapToken::generate());
    }

    #[test]
    fn only_kubeadms_form_parses() {
        assert!(BootstrapToken::parse("abcdef.0123456789abcdef").is_ok());
        for bad in [
            "abcdef0123456789abcdef",
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdef",
            "abcdef.0123456789abcde",
            "abcdef.0123456789abcdef\n",
        ] {
            assert!(BootstrapToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn printing_never_shows_the_secret() {
        let t = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
        assert_eq!(format!("{t} {t:?}"), "abcdef.**************** BootstrapToken(abcdef.****************)");
    }
}
