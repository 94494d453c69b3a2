//! Quoting by construction: one escaping function per format a value can reach (shell,
//! systemd units and environment files, TOML, GLib key files, HCL, sed replacements,
//! comments), each giving text that the format's own reader reads back as exactly the
//! value, or refusing a value that the format cannot carry. Nothing here trusts the spec's
//! validation: a value that validation lets through and a format cannot hold is refused
//! when the file is rendered, naming the value. Templates reach these functions as Tera
//! filters (`templates.rs`); `tests/quoting.rs` runs each through the real reader (bash,
//! systemd-analyze, tomllib, GLib, packer, sed) on generated strings.

use std::fmt::Write as _;

/// Why a value cannot be written in a format.
pub type Refused = String;

/// One POSIX shell word that is exactly `s`: in single quotes, where nothing is special,
/// each `'` written as `'\''` (close, an escaped quote, reopen). Always quoted, so the
/// template never decides whether a value "looks safe". A NUL cannot be in a shell word
/// (nor in any argument or variable), so it is refused.
pub fn sh(s: &str) -> Result<String, Refused> {
    if s.contains('\0') {
        return Err(format!("{s:?}: a shell word cannot hold a NUL character"));
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Ok(out)
}

/// A TOML basic string (`"…"`, quotes included) holding exactly `s`. TOML 1.0 allows any
/// character in one but `"`, `\` and the C0 controls and DEL, which must be escaped; C1
/// controls and the Unicode line and paragraph separators are escaped as well, as some
/// editors and readers take them for line ends. Every string fits: `\u0000` is TOML too.
pub fn toml(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || is_unicode_line_break(c) => {
                write!(out, "\\u{:04X}", c as u32).expect("to a String");
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text for a systemd unit setting whose value is free text with specifiers
/// (`Description=`, `Documentation=`): `%` doubled, as systemd expands `%x`. A unit file
/// has no escape for a control character (a newline would end the setting and start
/// another), systemd drops a setting holding a Unicode noncharacter, and a value ending in
/// a backslash would continue on the next line: all are refused.
pub fn systemd(s: &str) -> Result<String, Refused> {
    if let Some(c) = s.chars().find(|&c| systemd_unreadable(c)) {
        return Err(format!("{s:?}: a systemd setting cannot hold the character {c:?}"));
    }
    if s.ends_with('\\') {
        return Err(format!("{s:?}: a systemd setting ending in a backslash continues on the next line"));
    }
    Ok(s.replace('%', "%%"))
}

/// The executable of a systemd `Exec*=` line, as one word systemd reads back as exactly
/// `path`: `%` doubled (specifiers are expanded there too, `$` is not), in double quotes
/// when it holds anything but the characters of ordinary paths (a space would end the
/// word). systemd itself refuses an executable name with quotes, backslashes, control
/// characters or noncharacters, and one that is relative or not normalized (`//`, `/./`,
/// `/../`): those are refused here, when the unit is written, rather than by the node when
/// it loads it.
pub fn systemd_exec(path: &str) -> Result<String, Refused> {
    if !path.starts_with('/') {
        return Err(format!("{path:?}: a systemd executable must be an absolute path"));
    }
    if let Some(c) = path.chars().find(|&c| systemd_unreadable(c) || matches!(c, '"' | '\'' | '\\')) {
        return Err(format!("{path:?}: systemd refuses an executable name with {c:?} in it"));
    }
    if path.ends_with('/') || path[1..].split('/').any(|part| matches!(part, "" | "." | "..")) {
        return Err(format!("{path:?}: systemd refuses an executable path that is not normalized"));
    }
    let escaped = path.replace('%', "%%");
    let plain = escaped.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._+:@,=~-".contains(&b));
    Ok(if plain { escaped } else { format!("\"{escaped}\"") })
}

/// The value of a `KEY="…"` line of an environment file as systemd reads it
/// (`EnvironmentFile=`), quotes included: in double quotes a backslash escapes `"`, `\`,
/// `$` and `` ` ``, and anything else (`$` and `` ` `` included) stands for itself. Only
/// `\` and `"` are escaped, which is also what Go's `%q` does with printable ASCII: so a
/// file kubeadm writes with `%q` (`kubeadm-flags.env`) comes out byte for byte the same.
/// systemd drops a value with a control character or a noncharacter, so one is refused.
pub fn env_double_quoted(s: &str) -> Result<String, Refused> {
    if let Some(c) = s.chars().find(|&c| systemd_unreadable(c)) {
        return Err(format!("{s:?}: an environment file's value cannot hold the character {c:?}"));
    }
    Ok(format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
}

/// A value of a GLib key file (NetworkManager's keyfiles) that `g_key_file_get_string`
/// reads back as exactly `s`: GLib's own escapes for `\`, newline, carriage return and
/// tab, and `\s` for leading spaces, which the reader would otherwise strip (it keeps
/// trailing ones). `;` is left alone: it separates only list values. A NUL cannot
/// be in a key file's text.
pub fn keyfile(s: &str) -> Result<String, Refused> {
    if s.contains('\0') {
        return Err(format!("{s:?}: a key file cannot hold a NUL character"));
    }
    let mut out = String::with_capacity(s.len());
    let mut leading = true;
    for c in s.chars() {
        match c {
            ' ' if leading => out.push_str("\\s"),
            '\t' if leading => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
        if c != ' ' && c != '\t' {
            leading = false;
        }
    }
    Ok(out)
}

/// An HCL quoted template string (Packer's `.pkr.hcl`), quotes included, that evaluates to
/// exactly `s`: backslash escapes for `"`, `\` and control characters, and `${` / `%{`
/// written `$${` / `%%{` so that no interpolation or directive starts inside it.
pub fn hcl(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() || is_unicode_line_break(c) => {
                write!(out, "\\u{:04X}", c as u32).expect("to a String");
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` for a comment line of any format kubebake writes (shell, TOML, YAML, units, key
/// files, HCL): every character that one of them takes for a line end or refuses as
/// unprintable written as `\u{…}`, so the comment stays one line and the file stays
/// readable. Comments are for people, so this need not read back; it must not end the
/// comment.
pub fn comment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if (c.is_control() && c != '\t') || is_unicode_line_break(c) || matches!(c, '\u{fffe}' | '\u{ffff}') {
            write!(out, "\\u{{{:04x}}}", c as u32).expect("to a String");
        } else {
            out.push(c);
        }
    }
    out
}

/// The replacement of a sed `s` command with `delimiter`, for GNU sed to insert exactly
/// `s`: `\`, `&` (the match) and the delimiter backslash-escaped, a newline as a
/// backslash and a newline. The result is one argument to sed, so a NUL is refused.
pub fn sed_replacement(s: &str, delimiter: char) -> Result<String, Refused> {
    if s.contains('\0') {
        return Err(format!("{s:?}: a sed program cannot hold a NUL character"));
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\\' || c == '&' || c == '\n' || c == delimiter {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

/// `s` as one component of a file name on a node: not empty, not `.` or `..`, no `/`, no
/// whitespace or control character (line-based tools and the node's pack recipe split on
/// them).
pub fn path_component(s: &str) -> Result<&str, Refused> {
    if s.is_empty() || s == "." || s == ".." {
        return Err(format!("{s:?} cannot name a file"));
    }
    if let Some(c) = s.chars().find(|&c| c == '/' || c.is_control() || c.is_whitespace()) {
        return Err(format!("{s:?} cannot name a file: it holds {c:?}"));
    }
    Ok(s)
}

/// A word in a systemd-networkd file that networkd reads as itself. Its settings have no
/// escapes of their own: word lists split on whitespace and unquote quotes and
/// backslashes, and `Name=` matches with glob characters. So a value with any of those,
/// or with anything but printable ASCII, is refused; addresses and interface names never
/// hold them. networkd expands no specifiers, so `%` is itself.
pub fn networkd(s: &str) -> Result<String, Refused> {
    match s.chars().find(|&c| !c.is_ascii_graphic() || matches!(c, '"' | '\'' | '\\' | '*' | '?' | '[' | ']')) {
        Some(c) => Err(format!("{s:?}: a systemd-networkd value cannot hold {c:?}")),
        None if s.is_empty() => Err("a systemd-networkd value cannot be empty".into()),
        None => Ok(s.to_string()),
    }
}

/// A Unicode noncharacter (U+FDD0–U+FDEF, and the last two code points of every plane):
/// systemd takes text holding one for invalid UTF-8 and drops the setting.
pub fn is_noncharacter(c: char) -> bool {
    ('\u{fdd0}'..='\u{fdef}').contains(&c) || (c as u32) & 0xfffe == 0xfffe
}

/// What systemd cannot read in a unit's or an environment file's text: a control
/// character (no escape exists for one; a newline would end the line) or a noncharacter.
fn systemd_unreadable(c: char) -> bool {
    c.is_control() || is_noncharacter(c)
}

/// NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR (YAML 1.1 readers break lines at them) and
/// the byte-order mark.
pub fn is_unicode_line_break(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_single_quoted_with_quotes_spliced() {
        assert_eq!(sh("").unwrap(), "''");
        assert_eq!(sh("/usr/bin").unwrap(), "'/usr/bin'");
        assert_eq!(sh("it's $(x) `y` \"z\"\n").unwrap(), "'it'\\''s $(x) `y` \"z\"\n'");
        assert!(sh("a\0b").is_err());
    }

    #[test]
    fn toml_strings_escape_what_the_spec_requires() {
        assert_eq!(toml("registry.k8s.io/pause:3.10"), "\"registry.k8s.io/pause:3.10\"");
        assert_eq!(toml("a\"b\\c\n\u{0}\u{7f}\u{2028}é"), "\"a\\\"b\\\\c\\n\\u0000\\u007F\\u2028é\"");
    }

    #[test]
    fn systemd_values_double_percent_and_refuse_what_ends_a_setting() {
        assert_eq!(systemd("cp-1 100%").unwrap(), "cp-1 100%%");
        assert!(systemd("a\nb").is_err() && systemd("a\\").is_err() && systemd("a\rb").is_err());
        assert_eq!(systemd_exec("/usr/bin/kubelet").unwrap(), "/usr/bin/kubelet");
        assert_eq!(systemd_exec("/opt/my bin/50%/kubelet").unwrap(), "\"/opt/my bin/50%%/kubelet\"");
        assert_eq!(systemd_exec("/opt/$x/kubelet").unwrap(), "\"/opt/$x/kubelet\"");
        for bad in ["kubelet", "/a//b", "/a/./b", "/a/../b", "/a/", "/a\"b", "/a'b", "/a\\b", "/a\nb"] {
            assert!(systemd_exec(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn environment_values_escape_like_gos_q_for_printable_ascii() {
        assert_eq!(env_double_quoted("--a=b --c=d").unwrap(), "\"--a=b --c=d\"");
        assert_eq!(env_double_quoted("x\"y\\z$w`v").unwrap(), "\"x\\\"y\\\\z$w`v\"");
        assert!(env_double_quoted("a\nb").is_err());
    }

    #[test]
    fn key_file_values_use_glibs_escapes() {
        assert_eq!(keyfile("eth0").unwrap(), "eth0");
        assert_eq!(keyfile("  a\tb\\c\nd ").unwrap(), "\\s\\sa\\tb\\\\c\\nd ");
        assert!(keyfile("a\0").is_err());
    }

    #[test]
    fn hcl_strings_cannot_start_an_interpolation() {
        assert_eq!(hcl("kubebake-demo-v1.36.3"), "\"kubebake-demo-v1.36.3\"");
        assert_eq!(hcl("${a}%{b}$$x\"\\\n"), "\"$${a}%%{b}$$x\\\"\\\\\\n\"");
    }

    #[test]
    fn comments_stay_on_one_line() {
        assert_eq!(comment("cp-1"), "cp-1");
        assert_eq!(comment("a\nb\u{2028}c\u{85}\r\u{0}\td"), "a\\u{000a}b\\u{2028}c\\u{0085}\\u{000d}\\u{0000}\td");
    }

    #[test]
    fn sed_replacements_escape_the_delimiter_the_match_and_backslashes() {
        assert_eq!(sed_replacement("registry.internal", '#').unwrap(), "registry.internal");
        assert_eq!(sed_replacement("a#b&c\\d\ne", '#').unwrap(), "a\\#b\\&c\\\\d\\\ne");
    }

    #[test]
    fn file_names_and_networkd_words_refuse_what_they_cannot_hold() {
        assert_eq!(path_component("docker.io").unwrap(), "docker.io");
        for bad in ["", ".", "..", "a/b", "a b", "a\nb", "a\u{2028}b"] {
            assert!(path_component(bad).is_err(), "{bad:?}");
        }
        assert_eq!(networkd("10.0.0.1").unwrap(), "10.0.0.1");
        for bad in ["", "e\n[Route]", "a b", "en*", "\"x\""] {
            assert!(networkd(bad).is_err(), "{bad:?}");
        }
    }
}
