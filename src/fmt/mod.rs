//! Leaf helpers every layer may use: the text formats kubebake writes values in (hex,
//! Go durations, RFC 3339 times, YAML, quoting for each format a value can reach).

pub mod bech32;
pub mod duration;
pub mod quote;
pub mod time;
pub mod yaml;

/// Lower-case hex, as sha256sum and kubeadm's CA hash print digests.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)].into());
        s.push(DIGITS[usize::from(b & 15)].into());
    }
    s
}
