//! The state's seal seed (`seal.seed`), the secret every seal of a node's pack is derived from.

/// The state's secret that every seal is derived from (`seal.seed` in the state): 32
/// random bytes. Its `Debug` shows nothing of it, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealSeed([u8; 32]);

impl std::fmt::Debug for SealSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealSeed(…)")
    }
}

impl SealSeed {
    /// 32 bytes from the OS's CSPRNG.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        aws_lc_rs::rand::fill(&mut seed).expect("the OS's CSPRNG");
        SealSeed(seed)
    }

    /// The seed as stored; anything but exactly 32 bytes is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        bytes.try_into().map(SealSeed).map_err(|_| format!("is {} bytes long, not 32", bytes.len()))
    }

    /// The bytes, for the state to store.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_32_random_bytes_and_never_shown() {
        let (a, b) = (SealSeed::generate(), SealSeed::generate());
        assert_ne!(a, b);
        assert_eq!(SealSeed::from_bytes(a.expose()).unwrap(), a);
        assert!(SealSeed::from_bytes(&[0; 31]).unwrap_err().contains("31 bytes"));
        assert!(SealSeed::from_bytes(&[0; 33]).is_err());
        assert_eq!(format!("{a:?}"), "SealSeed(…)");
    }
}
