//! Paths: on the node, and on the machine running kubebake.

use super::line_separator;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
