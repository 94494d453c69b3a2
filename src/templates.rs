//! The tera templates for text people read and may want to change (the first-boot
//! script, systemd units, containerd configuration). Embedded at build time; a directory
//! given with `--templates` overrides any of them by file name.

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

/// Every template, by file name under `templates/`.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("firstboot.sh.tera", include_str!("../templates/firstboot.sh.tera")),
    ("kubebake-firstboot.service.tera", include_str!("../templates/kubebake-firstboot.service.tera")),
    ("containerd-config.toml.tera", include_str!("../templates/containerd-config.toml.tera")),
    ("containerd-dropin.conf.tera", include_str!("../templates/containerd-dropin.conf.tera")),
    ("hosts.toml.tera", include_str!("../templates/hosts.toml.tera")),
    ("modules-load.conf.tera", include_str!("../templates/modules-load.conf.tera")),
    ("sysctl.conf.tera", include_str!("../templates/sysctl.conf.tera")),
    ("kubelet.service.tera", include_str!("../templates/kubelet.service.tera")),
    ("10-kubeadm.conf.tera", include_str!("../templates/10-kubeadm.conf.tera")),
    ("unpack.sh.tera", include_str!("../templates/unpack.sh.tera")),
    ("bundle-install.sh.tera", include_str!("../templates/bundle-install.sh.tera")),
    ("provision.sh.tera", include_str!("../templates/provision.sh.tera")),
    ("kubebake-node.pkr.hcl.tera", include_str!("../templates/kubebake-node.pkr.hcl.tera")),
    ("networkd.network.tera", include_str!("../templates/networkd.network.tera")),
    ("networkmanager.nmconnection.tera", include_str!("../templates/networkmanager.nmconnection.tera")),
    ("init-spec.yaml.tera", include_str!("../templates/init-spec.yaml.tera")),
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
            tera.add_raw_template(name, &self.sources[i].1).map(|_| tera).map_err(|e| format!("template {name}: {e}"))
        });
        compiled.as_ref().map_err(|m| Error::Usage(m.clone()))
    }

    /// Compiles `names` now, e.g. on another core while other work runs; a template with
    /// an error reports it when rendered.
    pub fn compile(&self, names: &[&str]) {
        for name in names {
            let _ = self.compiled(name);
        }
    }

    /// Compiles every template.
    pub fn check_all(&self) -> Result<()> {
        self.sources.iter().try_for_each(|(name, _)| self.compiled(name).map(|_| ()))
    }

    pub fn render(&self, name: &str, context: &impl Serialize) -> Result<String> {
        let tera = self.compiled(name)?;
        let ctx = tera::Context::from_serialize(context).map_err(|e| Error::Usage(format!("template {name}: {e}")))?;
        tera.render(name, &ctx).map_err(|e| Error::Usage(format!("rendering template {name}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
