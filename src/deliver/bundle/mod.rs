//! `kubebake bundle`: everything a node of the cluster fetches from upstream, fetched once
//! on a connected machine and checked, in one deterministic archive that an image carries
//! to nodes with no network (`packages: bundle`).
//!
//! The archive (plain tar, entries sorted, mtime 0, owner 0:0):
//! ```text
//! kubebake-bundle/manifest.json    what is inside, with versions, sources and digests
//! kubebake-bundle/SHA256SUMS       sha256sum -c format, over every other file
//! kubebake-bundle/bin/{kubeadm,kubelet,kubectl}
//! kubebake-bundle/bin/crictl.tar.gz   cri-tools' release archive of crictl
//! kubebake-bundle/cni/cni-plugins.tgz
//! kubebake-bundle/systemd/{kubelet.service,10-kubeadm.conf}   the kubelet's unit, as the
//!                                  packages ship it, for the profile's binary directory
//! kubebake-bundle/install.sh       installs all of it (first boot, or an image build)
//! kubebake-bundle/images/<name>.tar   one OCI image layout per image (ctr images import)
//! kubebake-bundle/calico/<manifest>.yaml
//! ```
//! Every download is checked before it is kept: against its pin (`crate::deliver::pins`: kubebake's
//! own, the user's `--pins FILE`, and for Calico's manifest the spec's sha256), whatever
//! the origin serves; image blobs against their digests. What has no pin is refused,
//! unless the user takes the origin's word for it (`--trust-origin`: a binary's published
//! `.sha256`, a registry's digest), which `manifest.json` then records (`"pinned": false`).
//! Finished downloads are kept in `FILE.parts/` until the archive is written, so an
//! interrupted run resumes; the archive itself is written beside FILE and renamed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::deliver::pins::Pins;
use crate::error::{Error, Result};
use crate::model::Cluster;
use crate::model::images::{self, ClusterImage};

mod archive;
mod fetch;
mod sources;

pub use archive::ROOT;
pub use sources::{BINARIES, calico_manifest_name, image_file};

use fetch::{Fetcher, Puller};
use sources::{CalicoSource, Download};

/// What `kubebake bundle` is asked for.
pub struct Options {
    /// The cluster spec.
    pub spec: PathBuf,
    /// The archive to write.
    pub out: PathBuf,
    /// The nodes' architecture, as Kubernetes names it (amd64, arm64).
    pub arch: String,
    /// `FROM=TO` URL prefix rewrites for binary downloads (a local mirror of dl.k8s.io).
    pub rewrites: Vec<(String, String)>,
    /// Show a progress bar (stderr is a terminal).
    pub progress: bool,
    /// The user's pins, beside kubebake's own.
    pub pins: Option<PathBuf>,
    /// Take what has no pin on its origin's word instead of refusing it.
    pub trust_origin: bool,
}

/// What `manifest.json` records, and what the command reports.
#[derive(Debug, Serialize)]
pub struct Manifest {
    /// The release the binaries and images are of.
    #[serde(rename = "kubernetesVersion")]
    pub kubernetes_version: String,
    /// The nodes' architecture.
    pub arch: String,
    /// Kubernetes' binaries, crictl and the CNI plugins.
    pub binaries: Vec<Entry>,
    /// Every image of the cluster, one platform each.
    pub images: Vec<ImageEntry>,
    /// Calico's manifests (none for another CNI).
    pub calico: Vec<Entry>,
    /// Pins of the user's that replaced kubebake's own (said in the report, not kept in
    /// the archive's manifest.json).
    #[serde(skip)]
    pub replaced_pins: Vec<String>,
}

/// A downloaded file in the bundle.
#[derive(Debug, Serialize)]
pub struct Entry {
    /// Its path under the bundle's top directory.
    pub file: String,
    /// Where it came from: its URL before any `--rewrite`, or the spec's file.
    pub source: String,
    /// The sha256 of its bytes, hex.
    pub sha256: String,
    /// Checked against a pin (false: on the origin's word, `--trust-origin`).
    pub pinned: bool,
}

/// An image in the bundle.
#[derive(Debug, Serialize)]
pub struct ImageEntry {
    /// Its reference, as the cluster names it (before any mirror).
    pub image: String,
    /// Its OCI layout's path under the bundle's top directory.
    pub file: String,
    /// The digest of the manifest that was bundled (one platform).
    pub digest: String,
    /// The digest the tag named (an index, or that same manifest), checked against a pin.
    pub tag_digest: String,
    /// Checked against a pin (false: on the registry's word, `--trust-origin`).
    pub pinned: bool,
}

/// What `kubebake bundle` wrote.
pub struct Report {
    /// The archive.
    pub out: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// What it holds.
    pub manifest: Manifest,
}

fn err(what: impl Into<String>, message: impl std::fmt::Display) -> Error {
    Error::Fetch { what: what.into(), message: message.to_string() }
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::fmt::hex(&Sha256::digest(bytes))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::files::write_file_atomic(path, bytes, 0o644)
}

/// What has no pin, refused, saying how to give it one.
fn unpinned(what: &str) -> Error {
    err(
        what,
        "kubebake has no pin for it (its own pins cover the releases docs/kubernetes-versions.md lists); \
         give its sha256 or digest in a --pins file, or take what its origin serves with --trust-origin",
    )
}

/// Fetches and checks everything the spec's nodes would download, and writes the bundle.
pub fn bundle(opts: &Options) -> Result<Report> {
    let loaded = crate::spec::load(&opts.spec)?;
    let cluster = loaded.cluster;
    if opts.out.is_dir() {
        return Err(Error::Usage(format!("-o {}: is a directory; give the bundle's file name", opts.out.display())));
    }
    let images = images::images(&cluster)?;
    let parts = parts_dir(&opts.out);
    fs::create_dir_all(&parts).map_err(|e| Error::io("creating", &parts, e))?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting", "the download runtime", e))?;
    let downloads = sources::downloads(&cluster, &opts.arch);
    let calico = sources::calico_sources(&cluster);
    let bar = progress_bar(opts.progress, (downloads.len() + images.len() + calico.len()) as u64);
    let (pins, replaced) = Pins::with_file(opts.pins.as_deref())?;
    let mut run = Run {
        opts,
        runtime,
        fetcher: Fetcher::new(&opts.rewrites, opts.trust_origin)?,
        pins,
        parts,
        bar,
        files: BTreeMap::new(),
        manifest: Manifest {
            kubernetes_version: cluster.kubernetes_version.to_string(),
            arch: opts.arch.clone(),
            binaries: Vec::new(),
            images: Vec::new(),
            calico: Vec::new(),
            replaced_pins: Vec::new(),
        },
    };
    run.downloads(downloads)?;
    run.kubelet_unit_and_installer(&cluster)?;
    run.images(&cluster, &images)?;
    run.calico(calico)?;

    let Run { mut manifest, files, bar, parts, .. } = run;
    let bytes = archive::write_archive(&opts.out, &manifest, &files)?;
    manifest.replaced_pins = replaced;
    if let Some(b) = bar {
        b.finish_with_message("fetched, checked and written");
    }
    fs::remove_dir_all(&parts).map_err(|e| Error::io("removing", &parts, e))?;
    Ok(Report { out: opts.out.clone(), bytes, manifest })
}

/// Where finished downloads wait, beside the bundle.
pub fn parts_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".parts");
    out.with_file_name(name)
}

/// A bar of `total` steps, one per download, image and Calico manifest, when asked for.
fn progress_bar(progress: bool, total: u64) -> Option<indicatif::ProgressBar> {
    progress.then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("a valid template"));
        bar
    })
}

/// One bundle being made: what is fetched so far waits in `parts`, listed in `files`
/// (path in the bundle → where it waits) and `manifest`.
struct Run<'a> {
    opts: &'a Options,
    runtime: tokio::runtime::Runtime,
    fetcher: Fetcher,
    pins: Pins,
    parts: PathBuf,
    bar: Option<indicatif::ProgressBar>,
    files: BTreeMap<String, PathBuf>,
    manifest: Manifest,
}

impl Run<'_> {
    fn step(&self, what: &str) {
        if let Some(b) = &self.bar {
            b.set_message(what.to_string());
            b.inc(1);
        }
    }

    /// The binaries and release archives, each against its pin or published checksum.
    fn downloads(&mut self, downloads: Vec<Download>) -> Result<()> {
        for Download { file, what, url } in downloads {
            let pin = self.pins.download(&url);
            let (path, sha) = self.runtime.block_on(self.fetcher.checked(&url, pin, &self.parts.join(&file)))?;
            self.files.insert(file.clone(), path);
            self.manifest.binaries.push(Entry { file, source: url, sha256: sha, pinned: pin.is_some() });
            self.step(what);
        }
        Ok(())
    }

    /// The kubelet's unit: no package brings it to a bundle node, and in the bundle it costs
    /// the user-data nothing. And the installer that puts everything in place.
    fn kubelet_unit_and_installer(&mut self, cluster: &Cluster) -> Result<()> {
        let templates = crate::node::templates::Templates::load(None)?;
        let bin = crate::node::templates::kubelet_unit_context(&cluster.os.profile.bin_dir);
        for (file, template) in
            [("kubelet.service", "kubelet.service.tera"), ("10-kubeadm.conf", "10-kubeadm.conf.tera")]
        {
            let target = self.parts.join("systemd").join(file);
            write_atomic(&target, templates.render(template, &bin)?.as_bytes())?;
            self.files.insert(format!("systemd/{file}"), target);
        }
        let installer = serde_json::json!({
            "bin_dir": cluster.os.profile.bin_dir,
            "kubernetes_version": cluster.kubernetes_version.to_string(),
            "arch": self.opts.arch,
        });
        let target = self.parts.join("install.sh");
        write_atomic(&target, templates.render("bundle-install.sh.tera", &installer)?.as_bytes())?;
        self.files.insert("install.sh".into(), target);
        Ok(())
    }

    /// Images, pulled through the registry API (or the spec's mirror for that registry).
    fn images(&mut self, cluster: &Cluster, images: &[ClusterImage]) -> Result<()> {
        let puller = Puller::new(cluster, &self.opts.arch);
        for ClusterImage { image, .. } in images {
            let file = format!("images/{}", image_file(image));
            let target = self.parts.join(&file);
            let pin = self.pins.image(image);
            if pin.is_none() && !self.opts.trust_origin {
                return Err(unpinned(image));
            }
            let blobs = self.parts.join("blobs");
            let (tag_digest, digest) = self.runtime.block_on(puller.pull(image, pin, &blobs, &target))?;
            self.files.insert(file.clone(), target);
            let pinned = pin.is_some();
            self.manifest.images.push(ImageEntry { image: image.clone(), file, digest, tag_digest, pinned });
            self.step(image);
        }
        Ok(())
    }

    /// Calico's manifests, as first boot would fetch them.
    fn calico(&mut self, calico: Vec<(String, CalicoSource)>) -> Result<()> {
        for (name, source) in calico {
            let file = format!("calico/{name}");
            let target = self.parts.join(&file);
            let (src, sha, pinned) = match source {
                CalicoSource::Url { url, sha256 } => {
                    let (sha, pinned) = self.calico_download(&url, sha256.as_deref(), &target)?;
                    (url, sha, pinned)
                }
                CalicoSource::File(bytes) => {
                    write_atomic(&target, &bytes)?;
                    ("spec.cni.manifest.file".to_string(), sha256_hex(&bytes), true)
                }
            };
            self.files.insert(file.clone(), target);
            self.manifest.calico.push(Entry { file, source: src, sha256: sha, pinned });
            self.step(&name);
        }
        Ok(())
    }

    /// One of Calico's manifests into `target`, checked against the spec's sha256 (the
    /// user's pin for the URL it gives) or else its pin. Returns its sha256 and whether it
    /// was pinned.
    fn calico_download(&self, url: &str, spec_sha256: Option<&str>, target: &Path) -> Result<(String, bool)> {
        let (want, whose) = match (spec_sha256, self.pins.download(url)) {
            (Some(spec), _) => (Some(spec), "spec.cni.manifest.sha256"),
            (None, Some(pin)) => (Some(pin), "its pin"),
            (None, None) if self.opts.trust_origin => (None, ""),
            (None, None) => return Err(unpinned(url)),
        };
        let bytes = self.runtime.block_on(self.fetcher.get(url))?;
        let sha = sha256_hex(&bytes);
        if let Some(want) = want
            && want != sha
        {
            return Err(err(url, format!("sha256 is {sha}, {whose} says {want}")));
        }
        write_atomic(target, &bytes)?;
        Ok((sha, want.is_some()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_line_is_what_manifest_json_holds() {
        let manifest = super::Manifest {
            kubernetes_version: "v1.36.3".into(),
            arch: "amd64".into(),
            binaries: Vec::new(),
            images: Vec::new(),
            calico: Vec::new(),
            replaced_pins: Vec::new(),
        };
        let json = String::from_utf8(serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
        assert!(json.contains(&crate::node::bundle_layout::manifest_version_line("v1.36.3")), "{json}");
        assert!(!json.contains(&crate::node::bundle_layout::manifest_version_line("v1.36.30")));
    }
}
