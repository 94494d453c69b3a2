//! SSH public keys for the login user's authorized_keys.

use base64::Engine;

use super::line_separator;

/// The public key types OpenSSH takes in authorized_keys, and their certificates. DSA is
/// not among them: OpenSSH has refused DSA keys by default since 7.0 and no longer builds
/// them at all, so such a key would never let anyone log in.
const SSH_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "ssh-rsa-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
];

/// An authorized_keys line as a `.pub` file holds it: `type base64-key [comment]`,
/// separated by spaces, on one line. The key must be base64 of an SSH public key blob of
/// that type (the blob starts with the type's name), which catches a key cut short or
/// pasted under the wrong type. Options (`from=…`) are not taken.
pub fn ssh_authorized_key(s: &str) -> Result<(), String> {
    let bad = |why: String| {
        format!(
            "is not an OpenSSH public key line: a key type, its base64 key and an optional comment, separated by \
             spaces on one line (like ssh-ed25519 AAAA… you@host, as in a .pub file): {why}"
        )
    };
    if let Some(c) = s.chars().find(|c| c.is_control() || line_separator(*c)) {
        return Err(bad(format!("it holds {:?}", c.to_string())));
    }
    let (kind, rest) = s.split_once(' ').unwrap_or((s, ""));
    if !SSH_KEY_TYPES.contains(&kind) {
        return Err(bad(format!("{kind:?} is not a key type OpenSSH takes ({})", SSH_KEY_TYPES.join(", "))));
    }
    let rest = rest.trim_start_matches(' ');
    let key = rest.split(' ').next().unwrap_or_default();
    if key.is_empty() {
        return Err(bad("the key is missing".into()));
    }
    let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(key) else {
        return Err(bad("the key is not base64".into()));
    };
    if !ssh_key_blob(kind, &blob) {
        return Err(bad(format!("the key is not a whole {kind} key (cut short, or under another type?)")));
    }
    Ok(())
}

/// Whether `blob` is an SSH public key of type `kind` (RFC 4253 6.6, RFC 5656, RFC 8709,
/// OpenSSH's PROTOCOL.u2f): its type's name, then the type's fields, each a uint32 length
/// and that many bytes, and nothing after them. A certificate's fields are not all
/// strings; for one, only its type's name is checked.
fn ssh_key_blob(kind: &str, blob: &[u8]) -> bool {
    let mut fields = Vec::new();
    let mut rest = blob;
    while !rest.is_empty() {
        let field = rest
            .get(..4)
            .map(|n| u32::from_be_bytes(n.try_into().expect("4 bytes")) as usize)
            .and_then(|len| rest.get(4..4 + len));
        let Some(field) = field else {
            // A certificate's fields after its type's name need not parse as strings.
            return kind.contains("-cert-") && fields.first() == Some(&kind.as_bytes());
        };
        fields.push(field);
        rest = &rest[4 + field.len()..];
    }
    if fields.first() != Some(&kind.as_bytes()) {
        return false;
    }
    match kind {
        // The type and a 32-byte key (and a security key's application).
        "ssh-ed25519" => fields.len() == 2 && fields[1].len() == 32,
        "sk-ssh-ed25519@openssh.com" => fields.len() == 3 && fields[1].len() == 32,
        // The type, the curve's name and the point; the exponent and modulus.
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" | "ssh-rsa" => fields.len() == 3,
        "sk-ecdsa-sha2-nistp256@openssh.com" => fields.len() == 4,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_keys() {
        let ed = "AAAAC3NzaC1lZDI1NTE5AAAAIDq0bPbBsOTVJbnS9PzWSk9IeJrn0RjxwMmfQjvbSlQe";
        // ssh-keygen -t ecdsa -b 256 and -t rsa -b 2048, public halves.
        let ecdsa = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCDAQqm9cesq5MCC9pCQztkiVZPmBEZbFJnqq4Px+WnPR+FZyRW1bXzjzZHBRISd0NNY0qAPtEDgwJZfd2dVnv4=";
        let rsa = "AAAAB3NzaC1yc2EAAAADAQABAAABAQCuSIgNlYsePpuX+MbnvuJUrLdxCOSIDlDf1OXr+xue4d3vXk4xjpsWZD3kdEUUMvdc/D8ShiX9C6ntVNwtJE9Rne9sOjcszAsBMYARPAWT70qBMpH8TFYnGeXbnlk30USv/xcKuXXHIEIwU8hkh2sVNOhlmGu2XVAjbBM6Uj3KNjuxvJRbkVhpm3+3Bsx/Rd1WWF0wCYt/mC3yECtr5q2oD0iJX4v2U13nJHz19LVFziwQxx0ZVrQ7UrtUuJVtNrG4iPpwWquUlnol6OuLmheVo3/fUlwlHN+pNJB9qfX6mTVSZ1P+UFzUIftZDrdjPAtfQZ0DSKdwpD1BzdiaNucH";
        for ok in [
            format!("ssh-ed25519 {ed}"),
            format!("ecdsa-sha2-nistp256 {ecdsa} core@example"),
            format!("ssh-rsa {rsa} rsa@example"),
            format!("ssh-ed25519 {ed} ops@example"),
            format!("ssh-ed25519  {ed}  a comment with spaces, é"),
        ] {
            assert!(ssh_authorized_key(&ok).is_ok(), "{ok}");
        }
        for bad in [
            String::new(),
            "ssh-ed25519".into(),
            format!("ssh-dss {ed}"),
            format!("ssh-rsa {ed}"),
            format!("ecdsa-sha2-nistp384 {ecdsa}"),
            format!("ssh-rsa {}", &rsa[..rsa.len() - 8]),
            format!("ssh-ed25519 {}", &ed[..40]),
            format!("ssh-ed25519 {ed}!"),
            format!("ssh-ed25519 {ed} x\ny"),
            format!("ssh-ed25519\t{ed}"),
            format!("from=\"10.0.0.0/8\" ssh-ed25519 {ed}"),
            format!(" ssh-ed25519 {ed}"),
            "ecdsa-sha2-nistp256 AAAA x".into(),
        ] {
            assert!(ssh_authorized_key(&bad).is_err(), "{bad:?}");
        }
    }
}
