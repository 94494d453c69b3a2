//! The tera templates for text people read and may want to change (the first-boot
//! script, systemd units, containerd configuration). Embedded at build time; a directory
//! given with `--templates` overrides any of them by file name.
//!
//! Every value a template places goes through the escaping filter of the file's format
//! ([`FILTERS`], from [`crate::fmt::quote`]): `sh` in scripts, `systemd`/`systemd_exec` in
//! units, `networkd`, `keyfile`, `toml`, `hcl`, `yaml`, and `comment` on comment lines.
//! A value the format cannot carry fails the render, naming the value. The embedded
//! templates are checked for it (`every_interpolation_goes_through_its_formats_filter`).

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

/// Every template, by file name under `templates/`.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("firstboot.sh.tera", include_str!("../../templates/firstboot.sh.tera")),
    ("kubebake-firstboot.service.tera", include_str!("../../templates/kubebake-firstboot.service.tera")),
    ("containerd-config.toml.tera", include_str!("../../templates/containerd-config.toml.tera")),
    ("containerd-dropin.conf.tera", include_str!("../../templates/containerd-dropin.conf.tera")),
    ("hosts.toml.tera", include_str!("../../templates/hosts.toml.tera")),
    ("modules-load.conf.tera", include_str!("../../templates/modules-load.conf.tera")),
    ("sysctl.conf.tera", include_str!("../../templates/sysctl.conf.tera")),
    ("kubelet.service.tera", include_str!("../../templates/kubelet.service.tera")),
    ("10-kubeadm.conf.tera", include_str!("../../templates/10-kubeadm.conf.tera")),
    ("unpack.sh.tera", include_str!("../../templates/unpack.sh.tera")),
    ("bundle-install.sh.tera", include_str!("../../templates/bundle-install.sh.tera")),
    ("provision.sh.tera", include_str!("../../templates/provision.sh.tera")),
    ("kubebake-node.pkr.hcl.tera", include_str!("../../templates/kubebake-node.pkr.hcl.tera")),
    ("networkd.network.tera", include_str!("../../templates/networkd.network.tera")),
    ("networkmanager.nmconnection.tera", include_str!("../../templates/networkmanager.nmconnection.tera")),
    ("init-spec.yaml.tera", include_str!("../../templates/init-spec.yaml.tera")),
    ("retire.sh.tera", include_str!("../../templates/retire.sh.tera")),
];

/// Each template is compiled the first time it is rendered: a bake uses about half of them,
/// and compiling the rest would cost a small bake a tenth of its run.
pub struct Templates {
    sources: Vec<(String, String)>,
    compiled: Vec<std::sync::OnceLock<std::result::Result<tera::Tera, String>>>,
}

impl Templates {
    /// The embedded templates, with those in `overrides` (files named like the embedded
    /// ones) taking their place. A file there that matches no template is an error, so a
    /// typo does not silently leave the default in use.
    pub fn load(overrides: Option<&Path>) -> Result<Templates> {
        let mut overridden = Vec::new();
        let mut sources: Vec<(String, String)> =
            EMBEDDED.iter().map(|(name, text)| (name.to_string(), text.to_string())).collect();
        if let Some(dir) = overrides {
            let entries = std::fs::read_dir(dir).map_err(|e| Error::io("reading templates in", dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::io("reading templates in", dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(slot) = sources.iter_mut().find(|(n, _)| *n == name) else {
                    let known: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
                    return Err(Error::Usage(format!(
                        "{}: {name} overrides no template (templates are: {})",
                        dir.display(),
                        known.join(", ")
                    )));
                };
                slot.1 = std::fs::read_to_string(entry.path())
                    .map_err(|e| Error::io("reading template", entry.path(), e))?;
                overridden.push(name);
            }
        }
        let compiled = sources.iter().map(|_| std::sync::OnceLock::new()).collect();
        let templates = Templates { sources, compiled };
        // The user's own are compiled now: a mistake in one is reported before any work.
        for name in &overridden {
            templates.compiled(name)?;
        }
        Ok(templates)
    }

    /// The template `name`, compiled once. A syntax error names the template.
    fn compiled(&self, name: &str) -> Result<&tera::Tera> {
        let i = self
            .sources
            .iter()
            .position(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} is not an embedded template"));
        let compiled = self.compiled[i].get_or_init(|| {
            let mut tera = tera::Tera::default();
            tera.autoescape_on(Vec::<&str>::new());
            register_filters(&mut tera);
            tera.add_raw_template(name, &self.sources[i].1).map(|_| tera).map_err(|e| format!("template {name}: {e}"))
        });
        compiled.as_ref().map_err(|m| Error::Usage(m.clone()))
    }

    /// Compiles `name` now (on another thread, say) if it is not yet; an error in it is
    /// reported when it is rendered.
    pub fn warm_up(&self, name: &str) {
        let _ = self.compiled(name);
    }

    /// Compiles every template.
    pub fn check_all(&self) -> Result<()> {
        self.sources.iter().try_for_each(|(name, _)| self.compiled(name).map(|_| ()))
    }

    /// The template `name` filled in from `context`; a template error is a usage error naming it.
    pub fn render(&self, name: &str, context: &impl Serialize) -> Result<String> {
        let tera = self.compiled(name)?;
        let ctx = tera::Context::from_serialize(context).map_err(|e| Error::Usage(format!("template {name}: {e}")))?;
        tera.render(name, &ctx).map_err(|e| Error::Usage(format!("rendering template {name}: {e}")))
    }
}

/// The escaping filters, by name, each one of [`crate::fmt::quote`]'s functions.
pub const FILTERS: &[&str] =
    &["sh", "systemd", "systemd_exec", "networkd", "keyfile", "toml", "hcl", "yaml", "comment"];

fn register_filters(tera: &mut tera::Tera) {
    use crate::fmt::quote;
    use tera::{Kwargs, State, TeraResult};
    fn refused(r: std::result::Result<String, quote::Refused>) -> TeraResult<String> {
        r.map_err(tera::Error::message)
    }
    tera.register_filter("sh", |s: &str, _: Kwargs, _: &State| refused(quote::sh(s)));
    tera.register_filter("systemd", |s: &str, _: Kwargs, _: &State| refused(quote::systemd(s)));
    tera.register_filter("systemd_exec", |s: &str, _: Kwargs, _: &State| refused(quote::systemd_exec(s)));
    tera.register_filter("networkd", |s: &str, _: Kwargs, _: &State| refused(quote::networkd(s)));
    tera.register_filter("keyfile", |s: &str, _: Kwargs, _: &State| refused(quote::keyfile(s)));
    tera.register_filter("toml", |s: &str, _: Kwargs, _: &State| quote::toml(s));
    tera.register_filter("hcl", |s: &str, _: Kwargs, _: &State| quote::hcl(s));
    tera.register_filter("yaml", |s: &str, _: Kwargs, _: &State| crate::fmt::yaml::scalar(s));
    tera.register_filter("comment", |s: &str, _: Kwargs, _: &State| quote::comment(s));
}

/// What the kubelet's unit and kubeadm's drop-in see: the profile's binary directory and
/// the kubelet in it (the `ExecStart=` executable).
pub fn kubelet_unit_context(bin_dir: &str) -> serde_json::Value {
    serde_json::json!({ "bin_dir": bin_dir, "kubelet": format!("{}/kubelet", bin_dir.trim_end_matches('/')) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each embedded template's format: the filter its interpolations must end in (on
    /// comment lines: `comment`; in units, on `Exec…=` lines: `systemd_exec`). A new
    /// template must be listed here.
    const FORMATS: &[(&str, &str)] = &[
        ("firstboot.sh.tera", "sh"),
        ("unpack.sh.tera", "sh"),
        ("bundle-install.sh.tera", "sh"),
        ("provision.sh.tera", "sh"),
        ("kubebake-firstboot.service.tera", "systemd"),
        ("kubelet.service.tera", "systemd"),
        ("10-kubeadm.conf.tera", "systemd"),
        ("containerd-dropin.conf.tera", "systemd"),
        ("networkd.network.tera", "networkd"),
        ("networkmanager.nmconnection.tera", "keyfile"),
        ("containerd-config.toml.tera", "toml"),
        ("hosts.toml.tera", "toml"),
        ("kubebake-node.pkr.hcl.tera", "hcl"),
        ("init-spec.yaml.tera", "yaml"),
        ("retire.sh.tera", "sh"),
        // No values at all.
        ("modules-load.conf.tera", "none"),
        ("sysctl.conf.tera", "none"),
    ];

    /// Interpolations that need no filter: numbers, typed as integers where they are made
    /// (`u64` seconds, a `u8` prefix length, a list's length), which no format reads as
    /// anything but digits.
    const INTEGERS: &[&str] = &["join_timeout_seconds", "prefix_length", "control_planes | length", "workers | length"];

    /// Every `{{ … }}` of `source` that is not `<variable> | <the format's filter>`, with its
    /// line: tera comments and raw blocks skipped; a variable is a dotted name, so nothing
    /// (`~` concatenation, a second filter) can come after or around the filter.
    fn unquoted(source: &str, format: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut rest = source;
        let mut line_start = 0;
        while let Some(open) = rest.find(['{']) {
            let after = &rest[open..];
            let (skip_to, expression) = if after.starts_with("{#") {
                (after.find("#}").expect("closed comment") + 2, None)
            } else if after.starts_with("{% raw %}") {
                (after.find("{% endraw %}").expect("closed raw") + "{% endraw %}".len(), None)
            } else if after.starts_with("{{") {
                let close = after.find("}}").expect("closed interpolation");
                (close + 2, Some(&after[2..close]))
            } else {
                (1, None)
            };
            if let Some(expression) = expression {
                let offset = source.len() - rest.len() + open;
                line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1).max(line_start);
                let line = &source[line_start..offset];
                let expression = expression.trim_matches('-').trim();
                let comment_line = line.trim_start().starts_with('#');
                let wanted = match format {
                    _ if comment_line => "comment",
                    "systemd" if line.starts_with("Exec") => "systemd_exec",
                    other => other,
                };
                let (name, filter) = expression.split_once('|').map_or((expression, ""), |(n, f)| (n.trim(), f.trim()));
                let is_name = !name.is_empty()
                    && name.split('.').all(|p| {
                        p.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
                            && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    });
                let quoted = is_name && filter == wanted;
                if !quoted && !INTEGERS.contains(&expression) {
                    let number = source[..offset].matches('\n').count() + 1;
                    found.push(format!(
                        "line {number}: {{{{ {expression} }}}} (wants `{{{{ <variable> | {wanted} }}}}`)"
                    ));
                }
            }
            rest = &after[skip_to..];
        }
        found
    }

    #[test]
    fn every_interpolation_goes_through_its_formats_filter() {
        for (name, source) in EMBEDDED {
            let format = FORMATS.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name} has no format")).1;
            let found = unquoted(source, format);
            assert!(found.is_empty(), "{name}:\n{}", found.join("\n"));
        }
        // The check itself finds what it must.
        let sh = "readonly BIN={{ bin_dir }}\nx={{ a ~ b | sh }}\n# {{ c | sh }}\ny={{ d | sh | upper }}\n\
                  ok={{ e | sh }} {{- f.g | sh -}}\n# {{ h | comment }}\n{# {{ i }} #}{% raw %}{{ j }}{% endraw %}";
        let found = unquoted(sh, "sh");
        assert_eq!(found.len(), 4, "{found:?}");
        for (i, line) in [1, 2, 3, 4].iter().enumerate() {
            assert!(found[i].starts_with(&format!("line {line}:")), "{found:?}");
        }
        assert_eq!(unquoted("ExecStart={{ kubelet | systemd }}\nDescription={{ x | systemd }}\n", "systemd").len(), 1);
        assert_eq!(unquoted("a = {{ n }}\n", "none").len(), 1);
    }

    #[test]
    fn a_value_a_format_cannot_carry_fails_the_render_naming_it() {
        let t = Templates::load(None).unwrap();
        let unit = serde_json::json!({"role": "init", "node_name": "cp-1\n[Service]\nExecStart=/bin/evil", "script": "/opt/kubebake/firstboot.sh", "unpacker": null});
        let err = t.render("kubebake-firstboot.service.tera", &unit).unwrap_err().to_string();
        assert!(err.contains("cannot hold the character"), "{err}");
        let mut ctx = kubelet_unit_context("/opt/bin");
        assert_eq!(t.render("kubelet.service.tera", &ctx).unwrap().lines().nth(7), Some("ExecStart=/opt/bin/kubelet"));
        ctx["kubelet"] = "/opt/b in/kubelet".into();
        assert!(t.render("kubelet.service.tera", &ctx).unwrap().contains("ExecStart=\"/opt/b in/kubelet\"\n"));
        ctx["kubelet"] = "/opt/b\"in/kubelet".into();
        assert!(t.render("kubelet.service.tera", &ctx).is_err());
    }

    #[test]
    fn embedded_templates_parse() {
        Templates::load(None).unwrap().check_all().unwrap();
    }

    #[test]
    fn an_override_replaces_a_template_and_a_stray_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sysctl.conf.tera"), "custom {{ x }}\n").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        assert_eq!(t.render("sysctl.conf.tera", &serde_json::json!({"x": 1})).unwrap(), "custom 1\n");
        std::fs::write(dir.path().join("sysctl.tera"), "").unwrap();
        assert!(Templates::load(Some(dir.path())).is_err());
    }
}
