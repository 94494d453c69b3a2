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
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, OciImageIndex};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::images::{self, ClusterImage};
use crate::model::{Cluster, Cni, ManifestSource};

/// The archive's top directory, and where first boot expects it on the node.
pub const ROOT: &str = "kubebake-bundle";
pub const BINARIES: [&str; 3] = ["kubeadm", "kubelet", "kubectl"];
const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

pub struct Options {
    pub spec: PathBuf,
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
    #[serde(rename = "kubernetesVersion")]
    pub kubernetes_version: String,
    pub arch: String,
    pub binaries: Vec<Entry>,
    pub images: Vec<ImageEntry>,
    pub calico: Vec<Entry>,
    /// Pins of the user's that replaced kubebake's own (said in the report, not kept in
    /// the archive's manifest.json).
    #[serde(skip)]
    pub replaced_pins: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Entry {
    pub file: String,
    pub source: String,
    pub sha256: String,
    /// Checked against a pin (false: on the origin's word, `--trust-origin`).
    pub pinned: bool,
}

#[derive(Debug, Serialize)]
pub struct ImageEntry {
    pub image: String,
    pub file: String,
    /// The digest of the manifest that was bundled (one platform).
    pub digest: String,
    /// The digest the tag named (an index, or that same manifest), checked against a pin.
    pub tag_digest: String,
    /// Checked against a pin (false: on the registry's word, `--trust-origin`).
    pub pinned: bool,
}

pub struct Report {
    pub out: PathBuf,
    pub bytes: u64,
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

/// `registry.k8s.io/kube-apiserver:v1.36.3` → `registry.k8s.io_kube-apiserver_v1.36.3.tar`.
pub fn image_file(image: &str) -> String {
    let safe: String =
        image.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
    format!("{safe}.tar")
}

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
    // The binaries, crictl, the CNI plugins, the images, Calico's manifests.
    let total = (BINARIES.len() + 2 + images.len() + calico_sources(&cluster).len()) as u64;
    let bar = if opts.progress {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("a valid template"));
        Some(bar)
    } else {
        None
    };
    let step = |what: &str| {
        if let Some(b) = &bar {
            b.set_message(what.to_string());
            b.inc(1);
        }
    };

    let (pins, replaced) = crate::deliver::pins::Pins::with_file(opts.pins.as_deref())?;
    let fetcher = Fetcher::new(&opts.rewrites, opts.trust_origin)?;
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut manifest = Manifest {
        kubernetes_version: cluster.kubernetes_version.to_string(),
        arch: opts.arch.clone(),
        binaries: Vec::new(),
        images: Vec::new(),
        calico: Vec::new(),
        replaced_pins: Vec::new(),
    };

    // Binaries and release archives, each against its published checksum: Kubernetes'
    // three; crictl, as the packages' cri-tools brings it (kubeadm does not need it,
    // people looking at a node's containers do); the CNI reference plugins.
    let v = cluster.kubernetes_version;
    let (arch, cri, cni) = (&opts.arch, v.kubeadm().cri_tools, v.kubeadm().cni_plugins);
    let mut downloads: Vec<(String, &str, String)> = BINARIES
        .iter()
        .map(|name| (format!("bin/{name}"), *name, format!("https://dl.k8s.io/release/{v}/bin/linux/{arch}/{name}")))
        .collect();
    downloads.push((
        "bin/crictl.tar.gz".into(),
        "crictl",
        format!(
            "https://github.com/kubernetes-sigs/cri-tools/releases/download/{cri}/crictl-{cri}-linux-{arch}.tar.gz"
        ),
    ));
    downloads.push((
        "cni/cni-plugins.tgz".into(),
        "cni plugins",
        format!(
            "https://github.com/containernetworking/plugins/releases/download/{cni}/cni-plugins-linux-{arch}-{cni}.tgz"
        ),
    ));
    for (file, what, url) in downloads {
        let pin = pins.download(&url);
        let (path, sha) = runtime.block_on(fetcher.checked(&url, pin, &parts.join(&file)))?;
        files.insert(file.clone(), path);
        manifest.binaries.push(Entry { file, source: url, sha256: sha, pinned: pin.is_some() });
        step(what);
    }

    // The kubelet's unit: no package brings it to a bundle node, and in the bundle it costs
    // the user-data nothing.
    let templates = crate::node::templates::Templates::load(None)?;
    let bin = crate::node::templates::kubelet_unit_context(&cluster.os.profile.bin_dir);
    for (file, template) in [("kubelet.service", "kubelet.service.tera"), ("10-kubeadm.conf", "10-kubeadm.conf.tera")] {
        let target = parts.join("systemd").join(file);
        write_atomic(&target, templates.render(template, &bin)?.as_bytes())?;
        files.insert(format!("systemd/{file}"), target);
    }
    let installer = serde_json::json!({
        "bin_dir": cluster.os.profile.bin_dir,
        "kubernetes_version": v.to_string(),
        "arch": opts.arch,
    });
    let target = parts.join("install.sh");
    write_atomic(&target, templates.render("bundle-install.sh.tera", &installer)?.as_bytes())?;
    files.insert("install.sh".into(), target);

    // Images, pulled through the registry API (or the spec's mirror for that registry).
    let puller = Puller::new(&cluster, &opts.arch);
    for ClusterImage { image, .. } in &images {
        let file = format!("images/{}", image_file(image));
        let target = parts.join(&file);
        let pin = pins.image(image);
        if pin.is_none() && !opts.trust_origin {
            return Err(unpinned(image));
        }
        let (tag_digest, digest) = runtime.block_on(puller.pull(image, pin, &parts.join("blobs"), &target))?;
        files.insert(file.clone(), target);
        manifest.images.push(ImageEntry { image: image.clone(), file, digest, tag_digest, pinned: pin.is_some() });
        step(image);
    }

    // Calico's manifests, as first boot would fetch them.
    for (name, source) in calico_sources(&cluster) {
        let file = format!("calico/{name}");
        let target = parts.join(&file);
        let (src, sha, pinned) = match source {
            CalicoSource::Url { url, sha256 } => {
                // The spec's sha256 is the user's pin for the URL it gives.
                let (want, whose) = match (&sha256, pins.download(&url)) {
                    (Some(spec), _) => (Some(spec.as_str()), "spec.cni.manifest.sha256"),
                    (None, Some(pin)) => (Some(pin), "its pin"),
                    (None, None) if opts.trust_origin => (None, ""),
                    (None, None) => return Err(unpinned(&url)),
                };
                let bytes = runtime.block_on(fetcher.get(&url))?;
                let sha = sha256_hex(&bytes);
                if let Some(want) = want
                    && want != sha
                {
                    return Err(err(url, format!("sha256 is {sha}, {whose} says {want}")));
                }
                write_atomic(&target, &bytes)?;
                (url, sha, want.is_some())
            }
            CalicoSource::File(bytes) => {
                write_atomic(&target, &bytes)?;
                ("spec.cni.manifest.file".to_string(), sha256_hex(&bytes), true)
            }
        };
        files.insert(file.clone(), target);
        manifest.calico.push(Entry { file, source: src, sha256: sha, pinned });
        step(&name);
    }

    let bytes = write_archive(&opts.out, &manifest, &files)?;
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

/// The bundle's file for the spec's `n`-th Calico manifest URL (from 1), under `calico/`.
pub fn calico_manifest_name(n: usize) -> String {
    format!("manifest-{n}.yaml")
}

enum CalicoSource {
    Url { url: String, sha256: Option<String> },
    File(Vec<u8>),
}

fn calico_sources(cluster: &Cluster) -> Vec<(String, CalicoSource)> {
    let Cni::Calico(calico) = &cluster.cni else { return Vec::new() };
    match &calico.source {
        ManifestSource::File { bytes } => {
            vec![(calico.mode.manifest_name().to_string(), CalicoSource::File(bytes.clone()))]
        }
        // Named by position, as first boot looks them up (`manifest-N.yaml` for the spec's
        // N-th URL): a URL's last segment need be neither a file name nor unique.
        ManifestSource::Url { urls, sha256 } => urls
            .iter()
            .enumerate()
            .map(|(i, url)| {
                (calico_manifest_name(i + 1), CalicoSource::Url { url: url.clone(), sha256: sha256.clone() })
            })
            .collect(),
    }
}

/// What has no pin, refused, saying how to give it one.
fn unpinned(what: &str) -> Error {
    err(
        what,
        "kubebake has no pin for it (its own pins cover the releases docs/kubernetes-versions.md lists); \
         give its sha256 or digest in a --pins file, or take what its origin serves with --trust-origin",
    )
}

/// HTTP downloads, checked against their pins, through the URL rewrites.
struct Fetcher {
    http: reqwest::Client,
    rewrites: Vec<(String, String)>,
    /// Without a pin, the checksum file the origin publishes beside a download is taken.
    trust_origin: bool,
}

impl Fetcher {
    fn new(rewrites: &[(String, String)], trust_origin: bool) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("kubebake/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| err("the HTTP client", e))?;
        Ok(Fetcher { http, rewrites: rewrites.to_vec(), trust_origin })
    }

    fn rewrite(&self, url: &str) -> String {
        for (from, to) in &self.rewrites {
            if let Some(rest) = url.strip_prefix(from.as_str()) {
                return format!("{to}{rest}");
            }
        }
        url.to_string()
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>> {
        let real = self.rewrite(url);
        let response = self.http.get(&real).send().await.map_err(|e| err(&real, e))?;
        if !response.status().is_success() {
            return Err(err(&real, format!("HTTP {}", response.status())));
        }
        Ok(response.bytes().await.map_err(|e| err(&real, e))?.to_vec())
    }

    /// `url` into `target`, checked against its pin (or, trusting the origin, against
    /// `url.sha256`); a finished, matching `target` from an earlier run is kept.
    async fn checked(&self, url: &str, pin: Option<&str>, target: &Path) -> Result<(PathBuf, String)> {
        let (want, whose) = match pin {
            Some(pin) => (pin.to_string(), "its pin"),
            None if self.trust_origin => {
                let published = self.get(&format!("{url}.sha256")).await?;
                let want =
                    String::from_utf8_lossy(&published).split_whitespace().next().unwrap_or_default().to_lowercase();
                if want.len() != 64 || !want.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(err(format!("{url}.sha256"), "is not a sha256 checksum"));
                }
                (want, "its published checksum")
            }
            None => return Err(unpinned(url)),
        };
        if let Ok(existing) = fs::read(target)
            && sha256_hex(&existing) == want
        {
            return Ok((target.to_path_buf(), want));
        }
        let bytes = self.get(url).await?;
        let got = sha256_hex(&bytes);
        if got != want {
            return Err(err(self.rewrite(url), format!("sha256 is {got}, {whose} is {want}")));
        }
        write_atomic(target, &bytes)?;
        Ok((target.to_path_buf(), want))
    }
}

/// Image pulls through the OCI distribution API, one platform, blobs verified and cached.
struct Puller {
    client: Client,
    mirrors: BTreeMap<String, String>,
    arch: String,
}

impl Puller {
    fn new(cluster: &Cluster, arch: &str) -> Self {
        // The spec's first mirror per registry, as host[:port]; plain-HTTP mirrors by scheme.
        let mut mirrors = BTreeMap::new();
        let mut http = Vec::new();
        for (registry, urls) in &cluster.registry_mirrors {
            if let Some(url) = urls.first() {
                let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
                let host = rest.trim_end_matches('/').to_string();
                if scheme == "http" {
                    http.push(host.clone());
                }
                mirrors.insert(registry.clone(), host);
            }
        }
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(http),
            platform_resolver: None,
            ..Default::default()
        });
        Puller { client, mirrors, arch: arch.to_string() }
    }

    /// `image` into `target` as an OCI layout of its `linux/<arch>` image; the digest its tag
    /// names is checked against `pin` when there is one. Returns that digest and the
    /// bundled manifest's.
    async fn pull(&self, image: &str, pin: Option<&str>, blobs: &Path, target: &Path) -> Result<(String, String)> {
        let mut reference: Reference = image.parse().map_err(|e| err(image, e))?;
        if let Some(mirror) = self.mirrors.get(reference.registry()) {
            reference.set_mirror_registry(mirror.clone());
        }
        let auth = RegistryAuth::Anonymous;
        let (mut raw, mut digest) =
            self.client.pull_manifest_raw(&reference, &auth, MANIFEST_TYPES).await.map_err(|e| err(image, e))?;
        check_digest(image, &raw, &digest)?;
        if let Some(pin) = pin
            && pin != digest
        {
            return Err(err(image, format!("its tag names {digest}, its pin is {pin}")));
        }
        let tag_digest = digest.clone();
        let mut value: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| err(image, e))?;
        if value.get("manifests").is_some() {
            // An index: the manifest for linux/<arch>.
            let index: OciImageIndex = serde_json::from_value(value).map_err(|e| err(image, e))?;
            let entry = index
                .manifests
                .iter()
                .find(|m| {
                    m.platform
                        .as_ref()
                        .is_some_and(|p| p.os.to_string() == "linux" && p.architecture.to_string() == self.arch)
                })
                .ok_or_else(|| err(image, format!("has no linux/{} image", self.arch)))?;
            let by_digest = Reference::with_digest(
                reference.registry().to_string(),
                reference.repository().to_string(),
                entry.digest.clone(),
            );
            let mut by_digest = by_digest;
            if let Some(mirror) = self.mirrors.get(reference.registry()) {
                by_digest.set_mirror_registry(mirror.clone());
            }
            (raw, digest) =
                self.client.pull_manifest_raw(&by_digest, &auth, MANIFEST_TYPES).await.map_err(|e| err(image, e))?;
            check_digest(image, &raw, &digest)?;
            value = serde_json::from_slice(&raw).map_err(|e| err(image, e))?;
        }
        let media_type =
            value["mediaType"].as_str().unwrap_or("application/vnd.oci.image.manifest.v1+json").to_string();
        let mut wanted: Vec<OciDescriptor> = Vec::new();
        let config: OciDescriptor = serde_json::from_value(value["config"].clone()).map_err(|e| err(image, e))?;
        wanted.push(config);
        let layers: Vec<OciDescriptor> = serde_json::from_value(value["layers"].clone()).map_err(|e| err(image, e))?;
        wanted.extend(layers);

        let mut layout: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for d in &wanted {
            let hex =
                d.digest.strip_prefix("sha256:").ok_or_else(|| err(image, format!("{}: not sha256", d.digest)))?;
            let cached = blobs.join(hex);
            let bytes = match fs::read(&cached) {
                Ok(b) if sha256_hex(&b) == hex => b,
                _ => {
                    let mut buf: Vec<u8> = Vec::new();
                    self.client.pull_blob(&reference, d, &mut buf).await.map_err(|e| err(image, e))?;
                    if sha256_hex(&buf) != hex {
                        return Err(err(image, format!("blob {} does not match its digest", d.digest)));
                    }
                    write_atomic(&cached, &buf)?;
                    buf
                }
            };
            layout.insert(format!("blobs/sha256/{hex}"), bytes);
        }
        let manifest_hex = digest.strip_prefix("sha256:").unwrap_or(&digest).to_string();
        layout.insert(format!("blobs/sha256/{manifest_hex}"), raw.to_vec());
        layout.insert("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec());
        let tag = reference.tag().unwrap_or("latest");
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": media_type,
                "digest": digest,
                "size": raw.len(),
                "annotations": {
                    "io.containerd.image.name": image,
                    "org.opencontainers.image.ref.name": tag,
                },
            }],
        });
        layout.insert("index.json".into(), serde_json::to_vec(&index).expect("json"));
        let mut tar = Vec::new();
        {
            let mut builder = tar::Builder::new(&mut tar);
            for (name, bytes) in &layout {
                append(&mut builder, name, bytes, 0o644)?;
            }
            builder.finish().map_err(|e| Error::io("writing", target, e))?;
        }
        write_atomic(target, &tar)?;
        Ok((tag_digest, digest))
    }
}

fn check_digest(image: &str, raw: &[u8], digest: &str) -> Result<()> {
    let got = format!("sha256:{}", sha256_hex(raw));
    if got != digest {
        return Err(err(image, format!("manifest is {got}, the registry says {digest}")));
    }
    Ok(())
}

fn append<W: Write>(builder: &mut tar::Builder<W>, name: &str, bytes: &[u8], mode: u32) -> Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, name, bytes).map_err(|e| Error::io("archiving", name, e))?;
    Ok(())
}

/// The archive, sorted, fixed mtimes, written beside `out` and renamed over it.
fn write_archive(out: &Path, manifest: &Manifest, files: &BTreeMap<String, PathBuf>) -> Result<u64> {
    let mut sums = String::new();
    let mut entries: BTreeMap<String, (Vec<u8>, u32)> = BTreeMap::new();
    for (rel, path) in files {
        let bytes = fs::read(path).map_err(|e| Error::io("reading", path, e))?;
        sums.push_str(&format!("{}  {rel}\n", sha256_hex(&bytes)));
        let mode = if rel.starts_with("bin/") || rel == "install.sh" { 0o755 } else { 0o644 };
        entries.insert(format!("{ROOT}/{rel}"), (bytes, mode));
    }
    let json = serde_json::to_vec_pretty(manifest).expect("json");
    sums.push_str(&format!("{}  manifest.json\n", sha256_hex(&json)));
    entries.insert(format!("{ROOT}/manifest.json"), (json, 0o644));
    entries.insert(format!("{ROOT}/SHA256SUMS"), (sums.into_bytes(), 0o644));

    let tmp = crate::files::PendingFile::beside(out)?;
    {
        let mut builder = tar::Builder::new(std::io::BufWriter::new(tmp.file()));
        for (name, (bytes, mode)) in &entries {
            append(&mut builder, name, bytes, *mode)?;
        }
        builder.into_inner().and_then(|mut w| w.flush()).map_err(|e| Error::io("writing", out, e))?;
    }
    let size = tmp.file().metadata().map_err(|e| Error::io("writing", out, e))?.len();
    tmp.persist(out)?;
    Ok(size)
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
