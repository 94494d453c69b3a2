//! Registries and images: the OCI distribution reference grammar.
//!
//! ```text
//! reference        := name [':' tag] ['@' digest]
//! name             := [domain '/'] path-component ['/' path-component]*
//! domain           := host [':' port]
//! host             := domain-component ['.' domain-component]* | '[' IPv6 ']'
//! domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! path-component   := [a-z0-9]+ ([._] | '__' | '-'+ ) [a-z0-9]+ ...
//! tag              := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! ```
//!
//! (An IPv4 address is a domain-name of digits.) Digests are narrowed to the algorithms
//! the OCI image spec registers, sha256 and sha512, which are what registries and
//! containerd verify.

use std::net::Ipv6Addr;

const REPOSITORY_RULE: &str = "[host[:port]/]path of the OCI distribution grammar: the host DNS labels of \
     letters, digits and '-' separated by dots, or an IP address (IPv6 in brackets), the port 1 to 65535, the path \
     '/'-separated components of a-z and 0-9 joined by '.', '_', '__' or '-'; at most 255 characters";

const HOST_RULE: &str = "host[:port]: the host a DNS name (labels of letters, digits and '-', separated by dots) \
     or an IP address (IPv6 in brackets), the port 1 to 65535";

/// Names longer than this are refused by the distribution spec's own reference parser.
const NAME_MAX: usize = 255;

/// A registry host with an optional port, as image references and containerd's
/// `certs.d/<host[:port]>/` directories name it.
fn registry_domain(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((ip, tail)) = rest.split_once(']') else { return false };
        if ip.parse::<Ipv6Addr>().is_err() {
            return false;
        }
        match tail {
            "" => return true,
            t => match t.strip_prefix(':') {
                Some(p) => (None, Some(p)),
                None => return false,
            },
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(s), None),
        }
    };
    let host_ok = host.is_none_or(|h| !h.is_empty() && h.split('.').all(domain_component));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0 && p == n.to_string()));
    host_ok && port_ok
}

/// A DNS label as the OCI grammar has it (upper case allowed, as DNS ignores case), at
/// most 63 characters as DNS requires.
fn domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// Lower-case letters and digits, runs of them joined by '.', '_', '__' or any number of '-'.
fn path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            // Empty, or a separator at the start, at the end or after another.
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep_start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &s[sep_start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-')) {
            return false;
        }
    }
}

/// `[domain '/'] path`: what was wrong, or nothing. A single component may be a registry
/// alone (`registry.k8s.io`, `localhost:5000`) or a path component, as the grammar is
/// ambiguous there.
fn repository_name(s: &str) -> Result<(), String> {
    if s.len() > NAME_MAX {
        return Err(format!("it is {} characters long", s.len()));
    }
    let mut parts = s.split('/');
    let first = parts.next().unwrap_or_default();
    if !registry_domain(first) && !path_component(first) {
        return Err(format!("{first:?} is neither a host[:port] nor a path component"));
    }
    for part in parts {
        if !path_component(part) {
            return Err(format!(
                "its path component {part:?} is not lower-case letters and digits joined by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

/// Where images come from, without an image name's tag or digest: kubeadm's
/// `imageRepository` (it appends `/kube-apiserver:v1.36.3`) and Calico's `registry`.
pub fn image_repository(s: &str) -> Result<(), String> {
    repository_name(s)
        .map_err(|why| format!("{s:?} is not an image repository ({REPOSITORY_RULE}; no scheme, tag or digest): {why}"))
}

/// A full image reference: `name[:tag][@digest]`.
pub fn image_reference(s: &str) -> Result<(), String> {
    let bad = |why: String| {
        format!(
            "{s:?} is not an image reference (name[:tag][@digest], the name {REPOSITORY_RULE}; the tag 1 to 128 \
             letters, digits, '_', '.' and '-', not starting with '.' or '-'; the digest sha256:<64 hex digits> \
             or sha512:<128 hex digits>, lower case): {why}"
        )
    };
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    // A tag follows the last ':' after the last '/'; a ':' before it is the registry's port.
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    repository_name(name).map_err(bad)?;
    if let Some(t) = tag {
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let ok = !t.is_empty()
            && t.len() <= 128
            && word(t.as_bytes()[0])
            && t.bytes().all(|c| word(c) || c == b'.' || c == b'-');
        if !ok {
            return Err(bad(format!("its tag {t:?} is not one")));
        }
    }
    if let Some(d) = digest {
        let ok = match d.split_once(':') {
            Some(("sha256", hex)) => lower_hex(hex, 64),
            Some(("sha512", hex)) => lower_hex(hex, 128),
            _ => false,
        };
        if !ok {
            return Err(bad(format!("its digest {d:?} is not one")));
        }
    }
    Ok(())
}

/// A registry as `spec.registryMirrors` names it: `host[:port]`.
pub fn registry_host(s: &str) -> Result<(), String> {
    if registry_domain(s) {
        Ok(())
    } else {
        Err(format!("{s:?} is not a registry host ({HOST_RULE}), like docker.io or registry.example.com:5000"))
    }
}

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A SHA-256 as `sha256sum` prints it.
pub fn sha256(s: &str) -> Result<(), String> {
    if lower_hex(s, 64) {
        Ok(())
    } else {
        Err(format!("{s:?} is not a SHA-256: 64 lower-case hex digits (0-9, a-f), as sha256sum prints it"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_repositories_and_references() {
        for ok in [
            "registry.k8s.io",
            "registry.example.com/k8s",
            "localhost:5000/a/b",
            "10.0.0.1:5000/k8s",
            "[fd00::1]:5000/k8s",
            "Registry.Example.com/a__b/c-d/e.f/g--h",
            "library",
            "my_ns/x",
        ] {
            assert!(image_repository(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "reg.example.com/k8s\"x",
            "https://registry.internal/",
            "registry.internal/",
            "reg.example.com//k8s",
            "reg.example.com/K8s",
            "reg.example.com/k8s:v1",
            "reg.example.com/k8s@sha256:00",
            "reg.example.com:0/k8s",
            "reg.example.com:65536/k8s",
            "reg.example.com:05000/k8s",
            "-reg.example.com/k8s",
            "reg..example.com/k8s",
            "[10.0.0.1]:5000/k8s",
            "reg.example.com/_k8s",
            "reg.example.com/k8s.",
            "reg.example.com/a___b",
            "reg.example.com/a.-b",
            "reg.example.com/k8s x",
            "réseau.example/k8s",
            &format!("r.io/{}", "a".repeat(251)),
        ] {
            assert!(image_repository(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "ghcr.io/kube-vip/kube-vip:v0.9.2",
            "kube-vip",
            "localhost:5000/kube-vip",
            "localhost:5000/kube-vip:v1_2.3-x",
            &format!("ghcr.io/kube-vip/kube-vip@sha256:{}", "a".repeat(64)),
            &format!("ghcr.io/kube-vip/kube-vip:v0.9.2@sha512:{}", "0".repeat(128)),
        ] {
            assert!(image_reference(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ghcr.io/kube-vip/kube-vip:",
            "ghcr.io/kube-vip/kube-vip:.v1",
            "ghcr.io/kube-vip/kube-vip:v1\"",
            &format!("ghcr.io/kube-vip/kube-vip:{}", "t".repeat(129)),
            "ghcr.io/kube-vip/kube-vip@sha256:abc",
            &format!("ghcr.io/kube-vip/kube-vip@sha256:{}", "A".repeat(64)),
            &format!("ghcr.io/kube-vip/kube-vip@md5:{}", "a".repeat(32)),
            "ghcr.io/kube-vip/kube-vip:v1:v2",
            "https://x/kube-vip",
        ] {
            assert!(image_reference(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn registry_hosts() {
        for ok in ["docker.io", "registry.k8s.io", "localhost", "10.0.0.5:5000", "[fd00::5]:5000", "[fd00::5]"] {
            assert!(registry_host(ok).is_ok(), "{ok}");
        }
        for bad in
            ["", "docker.io/library", "a\"b", "..", "a..b", "host:", "host:x", "fd00::5", "[fd00::5]x", "_default"]
        {
            assert!(registry_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sha256s() {
        assert!(sha256(&"e".repeat(64)).is_ok());
        for bad in ["", "abc", &"E".repeat(64), &"g".repeat(64), &"e".repeat(65)] {
            assert!(sha256(bad).is_err(), "{bad:?}");
        }
    }
}
