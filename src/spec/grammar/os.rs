//! Names the node's OS gives things: network interfaces, users, groups, packages.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
