//! Every container image a baked cluster runs, pinned: kubeadm's set for the version and
//! `imageRepository` (as `kubeadm config images list` prints it), kube-vip when the spec
//! asks for a VIP, and Calico's for its mode and version. The list an air-gapped install
//! must mirror or bundle.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::versions::image;
use crate::model::{CalicoMode, Cluster, Cni, ManifestSource};

/// kubeadm's default repository; its CoreDNS image lives one path deeper there.
const DEFAULT_REPOSITORY: &str = "registry.k8s.io";
/// Where the Tigera operator puts Calico's images unless the Installation names a registry.
const CALICO_REGISTRY: &str = "docker.io";
/// The operator image each Calico release's `tigera-operator.yaml` deploys.
const TIGERA_OPERATOR: &[(&str, &str)] = &[("v3.30.3", "quay.io/tigera/operator:v1.38.6")];
/// The images the operator runs for kubebake's Installation and APIServer (no Goldmane or
/// Whisker resources, no certificate management, Linux only).
const OPERATOR_COMPONENTS: &[&str] =
    &["node", "cni", "kube-controllers", "typha", "pod2daemon-flexvol", "csi", "node-driver-registrar", "apiserver"];
/// What `calico.yaml` runs.
const MANIFEST_COMPONENTS: &[&str] = &["cni", "node", "kube-controllers"];

/// One image, and what runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterImage {
    /// The full reference, `registry/repository:tag`, as a node pulls it.
    pub image: String,
    /// kubeadm, kube-vip or calico.
    pub source: &'static str,
}

/// The cluster's images, kubeadm's first in kubeadm's order, then the others; no duplicates.
pub fn images(cluster: &Cluster) -> Result<Vec<ClusterImage>> {
    let mut out: Vec<ClusterImage> = Vec::new();
    let mut add = |image: String, source: &'static str| {
        if !out.iter().any(|i| i.image == image) {
            out.push(ClusterImage { image, source });
        }
    };
    for image in kubeadm_images(cluster) {
        add(image, "kubeadm");
    }
    if let Some(vip) = &cluster.vip {
        add(vip.image.clone(), "kube-vip");
    }
    for image in calico_images(cluster)? {
        add(image, "calico");
    }
    Ok(out)
}

/// `kubeadm config images list` for the cluster's version and repository.
pub fn kubeadm_images(cluster: &Cluster) -> Vec<String> {
    let repo = &cluster.image_repository;
    let v = cluster.kubernetes_version.to_string();
    let p = cluster.kubernetes_version.kubeadm();
    let dns_repo = if repo == DEFAULT_REPOSITORY { format!("{repo}/coredns") } else { repo.clone() };
    vec![
        image(repo, "kube-apiserver", &v),
        image(repo, "kube-controller-manager", &v),
        image(repo, "kube-scheduler", &v),
        image(repo, "kube-proxy", &v),
        image(&dns_repo, "coredns", p.coredns),
        image(repo, "pause", p.pause),
        image(repo, "etcd", p.etcd()),
    ]
}

fn calico_images(cluster: &Cluster) -> Result<Vec<String>> {
    let Cni::Calico(calico) = &cluster.cni else { return Ok(Vec::new()) };
    let registry = calico.registry.as_deref().unwrap_or(CALICO_REGISTRY).trim_end_matches('/');
    let component = |name: &str| format!("{registry}/calico/{name}:{}", calico.version);
    match calico.mode {
        CalicoMode::Operator => {
            // The operator's own image is whatever the manifest deploys.
            let operator = match &calico.source {
                ManifestSource::File { bytes } => manifest_images(bytes, "spec.cni.manifest.file")?,
                _ => match TIGERA_OPERATOR.iter().find(|(v, _)| *v == calico.version) {
                    Some((_, image)) => vec![image.to_string()],
                    None => {
                        let known: Vec<&str> = TIGERA_OPERATOR.iter().map(|(v, _)| *v).collect();
                        return Err(Error::Usage(format!(
                            "spec.cni.version: kubebake does not know which operator image Calico {} deploys (it knows {}); \
                             give the release's tigera-operator.yaml as spec.cni.manifest.file and its image is read from there",
                            calico.version,
                            known.join(", ")
                        )));
                    }
                },
            };
            let operator = operator.into_iter().map(|i| from_registry(&i, calico.registry.as_deref()));
            Ok(operator.chain(OPERATOR_COMPONENTS.iter().map(|c| component(c))).collect())
        }
        CalicoMode::Manifest => match &calico.source {
            // First boot rewrites the upstream registries to the spec's, so the list does too.
            ManifestSource::File { bytes } => Ok(manifest_images(bytes, "spec.cni.manifest.file")?
                .into_iter()
                .map(|i| from_registry(&i, calico.registry.as_deref()))
                .collect()),
            _ => Ok(MANIFEST_COMPONENTS.iter().map(|c| component(c)).collect()),
        },
    }
}

/// The upstream registries of Calico's manifests, and each one's path under
/// `spec.cni.registry`: Calico's images (docker.io/calico/) and the Tigera operator's
/// (quay.io/tigera/operator), as Tigera's air-gap instructions mirror them. First boot
/// rewrites the manifest's `image:` lines the same way (`firstboot::calico_image_sed`).
pub const CALICO_UPSTREAMS: &[(&str, &str)] =
    &[("docker.io/calico/", "calico/"), ("quay.io/tigera/operator:", "tigera/operator:")];

/// `image` as pulled from `registry` when the spec names one and the image is one of
/// Calico's upstreams; any other image as it is.
fn from_registry(image: &str, registry: Option<&str>) -> String {
    let Some(registry) = registry else { return image.to_string() };
    CALICO_UPSTREAMS
        .iter()
        .find_map(|(upstream, path)| {
            image.strip_prefix(upstream).map(|rest| format!("{}/{path}{rest}", registry.trim_end_matches('/')))
        })
        .unwrap_or_else(|| image.to_string())
}

/// Every `image:` value in a multi-document YAML manifest, in order, once each.
fn manifest_images(bytes: &[u8], field: &str) -> Result<Vec<String>> {
    use serde_saphyr::granit_parser::{Event, Parser};
    let text = std::str::from_utf8(bytes).map_err(|_| Error::Usage(format!("{field}: is not UTF-8 text")))?;
    let mut out: Vec<String> = Vec::new();
    // Each open collection: for a mapping, whether its next node is a key and whether the
    // last key was `image`; None for a sequence.
    let mut open: Vec<Option<(bool, bool)>> = Vec::new();
    for next in Parser::new_from_str(text) {
        let (event, _) = next.map_err(|e| Error::Usage(format!("{field}: {e}")))?;
        let scalar = match &event {
            Event::Scalar(v, ..) => Some(v.as_ref()),
            Event::Alias(_) | Event::MappingStart(..) | Event::SequenceStart(..) => None,
            Event::MappingEnd | Event::SequenceEnd => {
                open.pop();
                continue;
            }
            _ => continue,
        };
        if let Some(Some((next_is_key, image))) = open.last_mut() {
            if *next_is_key {
                *image = scalar == Some("image");
            } else if let Some(v) = scalar.filter(|v| *image && !out.iter().any(|i| i == v)) {
                out.push(v.to_string());
            }
            *next_is_key = !*next_is_key;
        }
        match event {
            Event::MappingStart(..) => open.push(Some((true, false))),
            Event::SequenceStart(..) => open.push(None),
            _ => {}
        }
    }
    Ok(out)
}
