//! Bech32 (BIP 173), the encoding of age's recipients and identities.

const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn polymod(values: impl Iterator<Item = u8>) -> u32 {
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

/// Bech32 (BIP 173) of `data` under the human-readable part `hrp`, as age writes keys.
pub fn encode(hrp: &str, data: &[u8]) -> String {
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
    let polymod = polymod(expanded.into_iter().chain(values.iter().copied()).chain([0; 6])) ^ 1;
    values.extend((0..6).map(|i| ((polymod >> (5 * (5 - i))) & 31) as u8));
    let mut s = format!("{hrp}1");
    s.extend(values.iter().map(|v| CHARSET[*v as usize] as char));
    s
}

/// Bech32 (BIP 173) as age uses it: the human-readable part and the data bytes.
pub fn decode(s: &str) -> Result<(String, Vec<u8>), String> {
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
        .map(|c| CHARSET.iter().position(|&x| x == c).map(|p| p as u8))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| format!("{s:?} has a character outside Bech32's alphabet"))?;
    let expanded = hrp.bytes().map(|c| c >> 5).chain([0]).chain(hrp.bytes().map(|c| c & 31));
    if polymod(expanded.chain(values.iter().copied())) != 1 {
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
