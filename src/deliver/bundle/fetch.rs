//! Downloads over HTTP and image pulls over the OCI distribution API, each checked
//! against its pin or digest before it is kept.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, OciImageIndex};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::archive::{OciImage, write_oci_layout};
use super::{err, sha256_hex, unpinned, write_atomic};
use crate::error::Result;
use crate::model::Cluster;

/// The manifest types a pull accepts: an index or one image's manifest, OCI or Docker.
const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// HTTP downloads, checked against their pins, through the URL rewrites.
pub(super) struct Fetcher {
    http: reqwest::Client,
    rewrites: Vec<(String, String)>,
    /// Without a pin, the checksum file the origin publishes beside a download is taken.
    trust_origin: bool,
}

impl Fetcher {
    pub(super) fn new(rewrites: &[(String, String)], trust_origin: bool) -> Result<Self> {
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

    /// `url`'s bytes, through the rewrites; anything but a success status is an error.
    pub(super) async fn get(&self, url: &str) -> Result<Vec<u8>> {
        let real = self.rewrite(url);
        let response = self.http.get(&real).send().await.map_err(|e| err(&real, e))?;
        if !response.status().is_success() {
            return Err(err(&real, format!("HTTP {}", response.status())));
        }
        Ok(response.bytes().await.map_err(|e| err(&real, e))?.to_vec())
    }

    /// `url` into `target`, checked against its pin (or, trusting the origin, against
    /// `url.sha256`); a finished, matching `target` from an earlier run is kept.
    pub(super) async fn checked(&self, url: &str, pin: Option<&str>, target: &Path) -> Result<(PathBuf, String)> {
        let (want, whose) = match pin {
            Some(pin) => (pin.to_string(), "its pin"),
            None if self.trust_origin => (self.published_sha256(url).await?, "its published checksum"),
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

    /// The checksum the origin publishes beside `url` (`url.sha256`), lower-case hex.
    async fn published_sha256(&self, url: &str) -> Result<String> {
        let published = self.get(&format!("{url}.sha256")).await?;
        let want = String::from_utf8_lossy(&published).split_whitespace().next().unwrap_or_default().to_lowercase();
        if want.len() != 64 || !want.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(err(format!("{url}.sha256"), "is not a sha256 checksum"));
        }
        Ok(want)
    }
}

/// Image pulls through the OCI distribution API, one platform, blobs verified and cached.
pub(super) struct Puller {
    client: Client,
    mirrors: BTreeMap<String, String>,
    arch: String,
}

/// The manifest an image's tag leads to for one platform.
struct PlatformManifest {
    /// The digest the tag names: an index's, or that of the manifest itself.
    tag_digest: String,
    raw: Vec<u8>,
    digest: String,
    value: serde_json::Value,
}

impl Puller {
    pub(super) fn new(cluster: &Cluster, arch: &str) -> Self {
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
    pub(super) async fn pull(
        &self,
        image: &str,
        pin: Option<&str>,
        blobs: &Path,
        target: &Path,
    ) -> Result<(String, String)> {
        let mut reference: Reference = image.parse().map_err(|e| err(image, e))?;
        self.mirror(&mut reference);
        let PlatformManifest { tag_digest, raw, digest, value } = self.manifest(image, &reference, pin).await?;
        let media_type =
            value["mediaType"].as_str().unwrap_or("application/vnd.oci.image.manifest.v1+json").to_string();
        let mut wanted: Vec<OciDescriptor> = Vec::new();
        let config: OciDescriptor = serde_json::from_value(value["config"].clone()).map_err(|e| err(image, e))?;
        wanted.push(config);
        let layers: Vec<OciDescriptor> = serde_json::from_value(value["layers"].clone()).map_err(|e| err(image, e))?;
        wanted.extend(layers);

        let mut layout: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for d in &wanted {
            let (hex, bytes) = self.blob(image, &reference, d, blobs).await?;
            layout.insert(format!("blobs/sha256/{hex}"), bytes);
        }
        let tag = reference.tag().unwrap_or("latest");
        let oci = OciImage { image, tag, media_type: &media_type, digest: &digest, manifest: &raw, blobs: layout };
        write_oci_layout(target, oci)?;
        Ok((tag_digest, digest))
    }

    /// Pulls through the spec's mirror for the reference's registry, if it has one.
    fn mirror(&self, reference: &mut Reference) {
        if let Some(mirror) = self.mirrors.get(reference.registry()) {
            reference.set_mirror_registry(mirror.clone());
        }
    }

    /// The manifest `reference`'s tag names, its digest checked against `pin`; for an
    /// index, the `linux/<arch>` manifest it lists, fetched by digest.
    async fn manifest(&self, image: &str, reference: &Reference, pin: Option<&str>) -> Result<PlatformManifest> {
        let (raw, digest) = self.manifest_raw(image, reference).await?;
        if let Some(pin) = pin
            && pin != digest
        {
            return Err(err(image, format!("its tag names {digest}, its pin is {pin}")));
        }
        let tag_digest = digest.clone();
        let value: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| err(image, e))?;
        if value.get("manifests").is_none() {
            return Ok(PlatformManifest { tag_digest, raw, digest, value });
        }
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
        let mut by_digest = Reference::with_digest(
            reference.registry().to_string(),
            reference.repository().to_string(),
            entry.digest.clone(),
        );
        self.mirror(&mut by_digest);
        let (raw, digest) = self.manifest_raw(image, &by_digest).await?;
        let value = serde_json::from_slice(&raw).map_err(|e| err(image, e))?;
        Ok(PlatformManifest { tag_digest, raw, digest, value })
    }

    /// A manifest's bytes and the digest the registry gives, checked against each other.
    async fn manifest_raw(&self, image: &str, reference: &Reference) -> Result<(Vec<u8>, String)> {
        let auth = RegistryAuth::Anonymous;
        let (raw, digest) =
            self.client.pull_manifest_raw(reference, &auth, MANIFEST_TYPES).await.map_err(|e| err(image, e))?;
        let got = format!("sha256:{}", sha256_hex(&raw));
        if got != digest {
            return Err(err(image, format!("manifest is {got}, the registry says {digest}")));
        }
        Ok((raw.to_vec(), digest))
    }

    /// A blob's hex digest and bytes: from the cache in `blobs` when it matches, otherwise
    /// pulled, checked and cached.
    async fn blob(
        &self,
        image: &str,
        reference: &Reference,
        d: &OciDescriptor,
        blobs: &Path,
    ) -> Result<(String, Vec<u8>)> {
        let hex = d.digest.strip_prefix("sha256:").ok_or_else(|| err(image, format!("{}: not sha256", d.digest)))?;
        let cached = blobs.join(hex);
        if let Ok(b) = fs::read(&cached)
            && sha256_hex(&b) == hex
        {
            return Ok((hex.to_string(), b));
        }
        let mut buf: Vec<u8> = Vec::new();
        self.client.pull_blob(reference, d, &mut buf).await.map_err(|e| err(image, e))?;
        if sha256_hex(&buf) != hex {
            return Err(err(image, format!("blob {} does not match its digest", d.digest)));
        }
        write_atomic(&cached, &buf)?;
        Ok((hex.to_string(), buf))
    }
}
