//! What `kubebake bundle` takes from upstream, pinned: the sha256 of each download and the
//! digest of each image, as data kept in the project (`pins/upstream.json`, as kubespray
//! keeps its checksums), and whatever the user adds (`--pins FILE`, same format). A
//! download or image with a pin is checked against it whatever its origin serves: a
//! `.sha256` beside a binary comes from the same server as the binary, and a registry's
//! digest header from the same registry as the image, so neither catches a tampered origin.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The pins kubebake ships, for the releases whose published checksums and digests could
/// be read from their upstream sources (docs/kubernetes-versions.md says which).
const UPSTREAM: &str = include_str!("../../pins/upstream.json");

/// Pins by what they pin: a download's URL (as kubebake forms it, before `--rewrite`), an
/// image by its reference (`registry.k8s.io/pause:3.10.2`, before any mirror).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pins {
    /// URL to the sha256 of its bytes (64 lower-case hex digits).
    #[serde(default)]
    pub downloads: BTreeMap<String, String>,
    /// Image reference to the digest of what its tag names (`sha256:` and 64 hex digits):
    /// the image index of a multi-platform image, or its one manifest.
    #[serde(default)]
    pub images: BTreeMap<String, String>,
}

impl Pins {
    /// The pins kubebake ships.
    pub fn upstream() -> Pins {
        Pins::parse(UPSTREAM, "pins/upstream.json").expect("the shipped pins are checked by the tests")
    }

    /// The shipped pins and, when given, the user's (see `Pins::merge`), with a line for
    /// each pin of the user's that replaced one of kubebake's.
    pub fn with_file(file: Option<&Path>) -> Result<(Pins, Vec<String>)> {
        let mut pins = Pins::upstream();
        let Some(file) = file else { return Ok((pins, Vec::new())) };
        let what = format!("--pins {}", file.display());
        let text = std::fs::read_to_string(file).map_err(|e| Error::io("reading", file, e))?;
        let replaced = pins.merge(Pins::parse(&text, &what).map_err(Error::Usage)?, &what);
        Ok((pins, replaced))
    }

    /// Adds `theirs` (from `what`). Where it pins a thing kubebake pins otherwise, the
    /// user's pin is the one checked: someone who bundles their own builds (or a mirror's
    /// re-signed images) says so with their own pins. Each such replacement is returned,
    /// to be shown.
    fn merge(&mut self, theirs: Pins, what: &str) -> Vec<String> {
        let mut replaced = Vec::new();
        for (kind, ours, new) in
            [("download", &mut self.downloads, theirs.downloads), ("image", &mut self.images, theirs.images)]
        {
            for (key, value) in new {
                if let Some(shipped) = ours.insert(key.clone(), value.clone())
                    && shipped != value
                {
                    replaced.push(format!("{what} pins {kind} {key} to {value}, not {shipped} as kubebake does"));
                }
            }
        }
        replaced
    }

    fn parse(text: &str, what: &str) -> std::result::Result<Pins, String> {
        let pins: Pins = serde_json::from_str(text).map_err(|e| format!("{what}: {e}"))?;
        let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        for (url, sha) in &pins.downloads {
            if !hex(sha) {
                return Err(format!("{what}: downloads.{url}: {sha:?} is not a sha256 (64 lower-case hex digits)"));
            }
        }
        for (image, digest) in &pins.images {
            if !digest.strip_prefix("sha256:").is_some_and(hex) {
                return Err(format!("{what}: images.{image}: {digest:?} is not a digest (sha256: and 64 hex digits)"));
            }
        }
        Ok(pins)
    }

    /// The sha256 pinned for the download at `url`, hex, if any.
    pub fn download(&self, url: &str) -> Option<&str> {
        self.downloads.get(url).map(String::as_str)
    }

    /// The digest (`sha256:…`) pinned for the image reference, if any.
    pub fn image(&self, image: &str) -> Option<&str> {
        self.images.get(image).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_pins_parse_and_hold_only_well_formed_values() {
        let pins = Pins::upstream();
        assert!(pins.downloads.keys().all(|u| u.starts_with("https://")), "{:?}", pins.downloads.keys());
        assert!(pins.images.keys().all(|i| i.contains(':') && !i.contains('@')));
    }

    #[test]
    fn every_release_kubebake_was_proven_on_is_pinned_whole() {
        let pins = Pins::upstream();
        for m in crate::model::versions::MINORS {
            let v = m.proven_version();
            let k = v.kubeadm();
            for arch in ["amd64", "arm64"] {
                for name in ["kubeadm", "kubelet", "kubectl"] {
                    let url = format!("https://dl.k8s.io/release/{v}/bin/linux/{arch}/{name}");
                    assert!(pins.download(&url).is_some(), "{url}");
                }
                let cri = k.cri_tools;
                let url = format!(
                    "https://github.com/kubernetes-sigs/cri-tools/releases/download/{cri}/crictl-{cri}-linux-{arch}.tar.gz"
                );
                assert!(pins.download(&url).is_some(), "{url}");
                let cni = k.cni_plugins;
                let url = format!(
                    "https://github.com/containernetworking/plugins/releases/download/{cni}/cni-plugins-linux-{arch}-{cni}.tgz"
                );
                assert!(pins.download(&url).is_some(), "{url}");
            }
            let mut images: Vec<String> = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"]
                .iter()
                .map(|c| format!("registry.k8s.io/{c}:{v}"))
                .collect();
            images.push(format!("registry.k8s.io/pause:{}", k.pause));
            images.push(format!("registry.k8s.io/etcd:{}", k.etcd()));
            images.push(format!("registry.k8s.io/coredns/coredns:{}", k.coredns));
            for image in images {
                assert!(pins.image(&image).is_some(), "{image}");
            }
        }
    }

    #[test]
    fn a_users_pin_adds_to_kubebakes_and_replaces_theirs_saying_so() {
        let one = format!("sha256:{}", "1".repeat(64));
        let two = format!("sha256:{}", "2".repeat(64));
        let mut pins = Pins::parse(&format!(r#"{{"images": {{"r/a:1": "{one}"}}}}"#), "shipped").unwrap();
        let same = Pins::parse(&format!(r#"{{"images": {{"r/a:1": "{one}", "r/b:1": "{two}"}}}}"#), "mine").unwrap();
        assert_eq!(pins.merge(same, "mine"), Vec::<String>::new());
        assert_eq!(pins.image("r/b:1"), Some(two.as_str()));
        let other = Pins::parse(&format!(r#"{{"images": {{"r/a:1": "{two}"}}}}"#), "mine").unwrap();
        assert_eq!(pins.merge(other, "mine"), [format!("mine pins image r/a:1 to {two}, not {one} as kubebake does")]);
        assert_eq!(pins.image("r/a:1"), Some(two.as_str()));
    }

    #[test]
    fn a_pin_that_is_no_hash_is_refused_naming_it() {
        let e = Pins::parse(r#"{"downloads": {"https://x/y": "ABC"}}"#, "p.json").unwrap_err();
        assert_eq!(e, r#"p.json: downloads.https://x/y: "ABC" is not a sha256 (64 lower-case hex digits)"#);
        let e = Pins::parse(r#"{"images": {"r/x:1": "md5:00"}}"#, "p.json").unwrap_err();
        assert!(e.contains("images.r/x:1"), "{e}");
        assert!(Pins::parse(r#"{"other": {}}"#, "p.json").is_err());
    }
}
