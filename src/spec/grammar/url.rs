//! URLs a node fetches from: downloads and registry mirrors.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
