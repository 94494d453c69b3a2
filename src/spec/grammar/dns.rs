//! Kubernetes object names: DNS-1123 labels and subdomains.

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
