//! Just enough DER to move private keys between the containers kubeadm writes
//! (PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`) and the PKCS#8 form the signer takes.

pub const SEQUENCE: u8 = 0x30;
pub const INTEGER: u8 = 0x02;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const CONTEXT_0: u8 = 0xa0;
pub const CONTEXT_1: u8 = 0xa1;

/// One tag-length-value element; `raw` is the whole element.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads one element from the front of `input`, returning it and the rest.
pub fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some((Tlv { tag, content: &rest[..len], raw: &input[..header + len] }, &rest[len..]))
}

/// All elements inside a constructed element's content.
pub fn children(mut content: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tlv, rest) = read(content)?;
        out.push(tlv);
        content = rest;
    }
    Some(out)
}

/// Reads `input` as exactly one element with the given tag.
pub fn expect(input: &[u8], tag: u8) -> Option<Tlv<'_>> {
    match read(input)? {
        (tlv, []) if tlv.tag == tag => Some(tlv),
        _ => None,
    }
}

pub fn write(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    write(SEQUENCE, &parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let enc = write(OCTET_STRING, &content);
            let tlv = expect(&enc, OCTET_STRING).unwrap();
            assert_eq!(tlv.content, &content[..]);
            assert_eq!(tlv.raw, &enc[..]);
        }
    }

    #[test]
    fn rejects_truncated_input() {
        let enc = write(SEQUENCE, &[1, 2, 3]);
        assert!(read(&enc[..enc.len() - 1]).is_none());
        assert!(read(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
    }
}
