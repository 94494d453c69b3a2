//! What each free-text field of a spec or an OS profile may hold, as grammars: each
//! function accepts what its field can mean and nothing else, and its error names the rule
//! (and the part of the value that broke it), never a list of refused characters.
//!
//! The values end up on the node in shell scripts, systemd units, YAML, TOML, JSON,
//! Packer templates and file names. Quoting in each of those is the writers' job; the
//! grammars make sure that a value which is not what its field means never gets that far,
//! so one missed quote cannot turn a spec or a profile into a command.

use std::net::Ipv6Addr;

use base64::Engine;

/// A DNS-1123 label: what Kubernetes requires of a node name.
pub fn dns1123_label(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a DNS-1123 label (at most 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit)"
        ))
    }
}

/// A DNS-1123 subdomain: what Kubernetes requires of a cluster or domain name.
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if !s.is_empty() && s.len() <= 253 && s.split('.').all(|l| dns1123_label(l).is_ok()) {
        Ok(())
    } else {
        Err(format!("{s:?} is not a DNS-1123 subdomain (lower-case labels separated by dots)"))
    }
}

// ---------------------------------------------------------------------------------------
// Registries and images: the OCI distribution reference grammar.
//
//   reference        := name [':' tag] ['@' digest]
//   name             := [domain '/'] path-component ['/' path-component]*
//   domain           := host [':' port]
//   host             := domain-component ['.' domain-component]* | '[' IPv6 ']'
//   domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//   path-component   := [a-z0-9]+ ([._] | '__' | '-'+ ) [a-z0-9]+ ...
//   tag              := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//
// (An IPv4 address is a domain-name of digits.) Digests are narrowed to the algorithms
// the OCI image spec registers, sha256 and sha512, which are what registries and
// containerd verify.

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

// ---------------------------------------------------------------------------------------
// URLs.

/// What a URL is for, which decides the schemes and parts it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlUse {
    /// A file the first control plane downloads; `checked` when a sha256 checks what it
    /// gets, which is the only case plain http is safe for.
    Download { checked: bool },
    /// A containerd registry mirror: a base URL that containerd appends the registry API's
    /// paths to, so it has no query; http or https, as containerd takes both (local
    /// registries are often plain http).
    Mirror,
}

/// RFC 3986's unreserved characters, `%XX` escapes and the delimiters a download or mirror
/// URL needs. The sub-delimiters `! $ ' ( ) *` are left out, and '#' (a fragment is never
/// sent to the server): a URL that needs them can escape them, and without them a URL is
/// one word to every shell and unit file it lands in.
fn url_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~:/?[]@&=+,;%".contains(&c)
}

/// An absolute http(s) URL by the WHATWG URL parser (the `url` crate), as that parser
/// writes it back, with nothing a node should not see.
pub fn url(s: &str, usage: UrlUse) -> Result<(), String> {
    let rule = match usage {
        UrlUse::Download { .. } => {
            "an https URL (http only with a sha256 that checks the download) with no user name or password"
        }
        UrlUse::Mirror => "an http or https URL with no user name, password or query",
    };
    let bad = |why: String| format!("{s:?} is not {rule}: {why}");
    if let Some(i) = s.bytes().position(|c| !url_char(c)) {
        // As a string, so that messages quote every value the same way.
        let c = s[i..].chars().next().expect("in range").to_string();
        return Err(bad(format!(
            "{c:?} is not one of RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~), the delimiters \
             : / ? [ ] @ & = + , ; or a %XX escape (write it as its %XX escape)"
        )));
    }
    let escapes_ok = s.split('%').skip(1).all(|e| e.len() >= 2 && e.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit));
    if !escapes_ok {
        return Err(bad("a '%' is not followed by two hex digits".into()));
    }
    let u = url::Url::parse(s).map_err(|e| bad(format!("it does not parse as a URL ({e})")))?;
    match (u.scheme(), usage) {
        ("https", _) | ("http", UrlUse::Mirror | UrlUse::Download { checked: true }) => {}
        ("http", UrlUse::Download { checked: false }) => {
            return Err(bad("plain http without a sha256 lets anyone on the way change what the node runs".into()));
        }
        (other, _) => return Err(bad(format!("the scheme is {other}"))),
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad(
            "it carries a user name or password, which would be written into every node's user-data".into()
        ));
    }
    if usage == UrlUse::Mirror && u.query().is_some() {
        return Err(bad("it has a query ('?'); containerd appends the registry API's paths to a mirror's URL".into()));
    }
    // The parser's own form: lower-case scheme and host, no default port, no '.' or '..'
    // segments, an IPv4 address in dotted decimal. What the node fetches is then exactly
    // what the spec says. An empty path is the one difference let through: `https://host`
    // and `https://host/` are the same URL.
    let mut given = s.to_string();
    if let Some(i) = s.find("://") {
        let after = &s[i + 3..];
        let authority_end = after.find(['/', '?']).unwrap_or(after.len());
        if !after[authority_end..].starts_with('/') {
            given.insert(i + 3 + authority_end, '/');
        }
    }
    if u.as_str() != given {
        return Err(bad(format!(
            "it is not written as a URL parser writes it back ({}): lower-case scheme and host, no default port, \
             no '.' or '..' segments",
            u.as_str()
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Paths.

/// The characters of a path kubebake writes on a node, and why: POSIX's portable file
/// name characters. Such a path is one word, unchanged, in a shell script (quoted or not),
/// a systemd unit (where '%' starts a specifier, '$' a variable and spaces and quotes split
/// words), a Packer HCL string ('${' and '%{' interpolate), YAML, TOML and JSON.
const PATH_RULE: &str = "an absolute, normalised path: '/' then names separated by single '/' (none of them '.' or \
     '..', no trailing '/'), each 1 to 255 of POSIX's portable file name characters A-Z a-z 0-9 '.' '_' '-' (the path \
     is written into shell scripts, systemd units and Packer templates, where other characters have meanings)";

/// Linux's PATH_MAX, less the terminating NUL, and NAME_MAX.
const PATH_MAX: usize = 4095;
const FILE_NAME_MAX: usize = 255;

/// A path on the node (a directory or file kubebake's first boot reads or writes).
pub fn node_path(s: &str) -> Result<(), String> {
    let bad = |why: String| format!("{s:?} is not {PATH_RULE}: {why}");
    let Some(rest) = s.strip_prefix('/') else {
        return Err(bad("it does not start with '/'".into()));
    };
    if s.len() > PATH_MAX {
        return Err(bad(format!("it is {} bytes long (at most {PATH_MAX})", s.len())));
    }
    if rest.is_empty() {
        return Ok(());
    }
    for name in rest.split('/') {
        let why = match name {
            "" => "it has an empty name ('//' or a trailing '/')".to_string(),
            "." | ".." => format!("it has a {name:?} name"),
            n if n.len() > FILE_NAME_MAX => format!("a name is {} characters long", n.len()),
            n if !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') => {
                format!("the name {n:?} is not of those characters")
            }
            _ => continue,
        };
        return Err(bad(why));
    }
    Ok(())
}

/// A path on the machine running kubebake (a profile file, a Calico manifest), read at
/// bake time and written nowhere: anything the file system takes, but on one line, so
/// that every message naming it stays one line.
pub fn local_path(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty: give the path of a file (relative to the spec's directory, or absolute)".into());
    }
    if s.chars().any(|c| c.is_control() || line_separator(c)) {
        return Err(format!("{s:?} is not a file path on one line (no control characters or line breaks)"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Names on the node.

/// A network interface name: `[A-Za-z0-9_.-]{1,15}` and not `.` or `..`, the names
/// the kernel, udev and cloud images give, which also name systemd-networkd's and
/// NetworkManager's files for them.
pub fn interface_name(s: &str) -> Result<(), String> {
    let ok = (1..=15).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        && s != "."
        && s != "..";
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a network interface name: 1 to 15 characters (the kernel's limit) of A-Z a-z 0-9 '_' '.' '-', not \".\" or \"..\""
        ))
    }
}

/// useradd's and groupadd's default rule (NAME_REGEX, less the trailing '$' of Samba
/// machine accounts): a subset of POSIX's portable user names that every distribution's
/// tools take.
fn account_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

/// A login user name.
pub fn user_name(s: &str) -> Result<(), String> {
    if account_name(s) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a Linux user name: a lower-case letter or '_', then lower-case letters, digits, '_' \
             or '-', at most 32 in all (useradd's rule)"
        ))
    }
}

/// A group name.
pub fn group_name(s: &str) -> Result<(), String> {
    if account_name(s) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a Linux group name: a lower-case letter or '_', then lower-case letters, digits, '_' \
             or '-', at most 32 in all (groupadd's rule)"
        ))
    }
}

/// A Debian package name (Debian Policy 5.6.1).
pub fn debian_package(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let ok = b.len() >= 2
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a Debian package name: at least two characters of a-z, 0-9, '+', '-' and '.', \
             starting with a letter or digit (Debian Policy 5.6.1)"
        ))
    }
}

// ---------------------------------------------------------------------------------------
// kubeadm.

/// A control-plane flag's name, without its dashes: what the components' flags are
/// called. kubeadm writes `--name=value`, so the name can hold no '='; a leading '-' would
/// make a different flag.
pub fn flag_name(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a flag name: a letter or digit, then letters, digits, '-', '_' or '.' (without the leading --)"
        ))
    }
}

/// Unicode's line and paragraph separators, which YAML 1.1 (the kubelet's and kubeadm's
/// YAML) reads as line breaks.
fn line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// A control-plane flag's value: one line of printable text. kubeadm passes it as one
/// argument (`--name=value`) in a static pod manifest, where a NUL cannot be (arguments are
/// C strings), and it goes through YAML twice (kubeadm's configuration, the manifest) where
/// line breaks, including NEL, U+2028 and U+2029 that YAML 1.1 reads as such, are folded or
/// changed; no component's flag takes any of them.
pub fn flag_value(s: &str) -> Result<(), String> {
    match s.chars().find(|c| c.is_control() || line_separator(*c)) {
        None => Ok(()),
        Some(c) => Err(format!(
            "{s:?} is not a flag value: one line of printable text, with no control characters or line breaks \
             (it holds {:?})",
            c.to_string()
        )),
    }
}

/// A kubeadm preflight check name: kubeadm's own names are a letter followed by letters,
/// digits, '.', '_' and '-' (`NumCPU`, `Port-6443`, `FileContent--proc-sys-net-ipv4-ip_forward`,
/// file checks naming a path with its '/' turned to '-'), and `all`.
pub fn preflight_check(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 253
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a kubeadm preflight check name: a letter, then letters, digits, '.', '_' or '-' \
             (like NumCPU, Port-6443, FileContent--proc-sys-net-ipv4-ip_forward or all)"
        ))
    }
}

// ---------------------------------------------------------------------------------------
// SSH.

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
    fn urls() {
        let dl = UrlUse::Download { checked: false };
        let checked = UrlUse::Download { checked: true };
        for ok in [
            "https://example.com/x.yaml",
            "https://example.com",
            "https://example.com:8443/a/b.yaml?version=v3.30.3&x=1",
            "https://example.com?v=1",
            "https://[fd00::1]/x",
            "https://10.0.0.1/a%20b",
        ] {
            assert!(url(ok, dl).is_ok(), "{ok}");
        }
        assert!(url("http://10.0.0.1:5000/x.yaml", checked).is_ok());
        assert!(url("http://10.0.0.1:5000", UrlUse::Mirror).is_ok());
        assert!(url("https://mirror.example.internal", UrlUse::Mirror).is_ok());
        for bad in [
            "https://example.com/x.yaml';touch${IFS}/tmp/A;'",
            "https://example.com/x.yaml';touch$IFS/tmp/A;'",
            "https://example.com/x y",
            "https://example.com/x\"y",
            "https://example.com/x\ny",
            "https://example.com/%zz",
            "http://example.com/x.yaml",
            "ftp://example.com/x",
            "file:///etc/passwd",
            "https://user:pw@example.com/x",
            "https://example.com/x#frag",
            "HTTPS://example.com/x",
            "https://EXAMPLE.com/x",
            "https://example.com:443/x",
            "https://example.com/a/../x",
            "https://0x7f.1/x",
            "https:example.com/x",
            "https://exämple.com/x",
            "example.com/x",
            "",
        ] {
            assert!(url(bad, dl).is_err(), "{bad:?}");
        }
        assert!(url("https://mirror.example.com/?x=1", UrlUse::Mirror).is_err());
        assert!(url("ftp://mirror.example.com/", UrlUse::Mirror).is_err());
    }

    #[test]
    fn sha256s() {
        assert!(sha256(&"e".repeat(64)).is_ok());
        for bad in ["", "abc", &"E".repeat(64), &"g".repeat(64), &"e".repeat(65)] {
            assert!(sha256(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn node_paths() {
        for ok in [
            "/",
            "/usr/bin",
            "/etc/kubebake/age.key",
            "/opt/libexec/kubernetes/kubelet-plugins/volume/exec",
            "/a/.b/..c/_d-",
        ] {
            assert!(node_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "usr/bin",
            "/usr/bin/",
            "/usr//bin",
            "/usr/./bin",
            "/usr/../bin",
            "/etc/kubebake/age$(touch${IFS}/tmp/C).key",
            "/opt/my bin",
            "/opt/b'in",
            "/opt/b%in",
            "/opt/bin\n",
            "/opt/bïn",
            &format!("/{}", "a".repeat(256)),
            &"/a".repeat(2048),
        ] {
            assert!(node_path(bad).is_err(), "{bad:?}");
        }
        assert!(local_path("sub/x.yaml").is_ok() && local_path("../a b.yaml").is_ok());
        assert!(local_path("").is_err() && local_path("a\nb").is_err() && local_path("a\u{2028}b").is_err());
    }

    #[test]
    fn names() {
        for ok in ["eth0", "ens18", "enp0s31f6", "br-lan.100", "wg_0", &"e".repeat(15)] {
            assert!(interface_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "e\n[Route]\nX=1", "eth0:1", "a b", "a/b", &"e".repeat(16), "ëth0"] {
            assert!(interface_name(bad).is_err(), "{bad:?}");
        }
        for ok in ["ops", "_svc", "core", "a-b_c9", &"u".repeat(32)] {
            assert!(user_name(ok).is_ok() && group_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Root", "9ops", "-ops", "ops$", "o.ps", "o'ps", &"u".repeat(33)] {
            assert!(user_name(bad).is_err() && group_name(bad).is_err(), "{bad:?}");
        }
        for ok in ["containerd", "containerd.io", "libstdc++6", "g++-12", "0ad"] {
            assert!(debian_package(ok).is_ok(), "{ok}");
        }
        for bad in ["", "c", "Containerd", "-x", "+x", "containerd;ls", "a b", "a_b"] {
            assert!(debian_package(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kubeadm_names_and_values() {
        for ok in ["v", "audit-log-maxage", "feature-gates", "x_y.z", "9"] {
            assert!(flag_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-v", "a=b", "bad flag", "a\"b", "ä"] {
            assert!(flag_name(bad).is_err(), "{bad:?}");
        }
        for ok in ["", "30", "Node,RBAC", "a b 'c' \"d\" $(e) ü 日本", "1:20"] {
            assert!(flag_value(ok).is_ok(), "{ok}");
        }
        for bad in ["a\nb", "a\rb", "a\0b", "a\tb", "a\u{85}b", "a\u{2028}b", "a\u{2029}b", "\u{1b}[31m"] {
            assert!(flag_value(bad).is_err(), "{bad:?}");
        }
        for ok in ["NumCPU", "Port-6443", "FileContent--proc-sys-net-ipv4-ip_forward", "all", "Mem"] {
            assert!(preflight_check(ok).is_ok(), "{ok}");
        }
        for bad in ["", "all; rm -rf /", "-x", "1x", "a b", "a,b", "ä"] {
            assert!(preflight_check(bad).is_err(), "{bad:?}");
        }
    }

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
