//! What kubeadm passes on: control-plane flags and preflight check names.

use super::line_separator;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
