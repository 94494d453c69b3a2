//! What a bundle holds and where each piece comes from: the release downloads, the
//! images' file names, Calico's manifests.

use crate::model::{Cluster, Cni, ManifestSource};

/// Kubernetes' binaries, each downloaded to `bin/<name>`.
pub const BINARIES: [&str; 3] = ["kubeadm", "kubelet", "kubectl"];

/// A release download: the bundle's file, what the progress bar calls it, its URL.
pub(super) struct Download {
    pub file: String,
    pub what: &'static str,
    pub url: String,
}

/// Binaries and release archives, each checked against its published checksum:
/// Kubernetes' three; crictl, as the packages' cri-tools brings it (kubeadm does not need
/// it, people looking at a node's containers do); the CNI reference plugins.
pub(super) fn downloads(cluster: &Cluster, arch: &str) -> Vec<Download> {
    let v = cluster.kubernetes_version;
    let (cri, cni) = (v.kubeadm().cri_tools, v.kubeadm().cni_plugins);
    let mut downloads: Vec<Download> = BINARIES
        .iter()
        .map(|name| Download {
            file: format!("bin/{name}"),
            what: name,
            url: format!("https://dl.k8s.io/release/{v}/bin/linux/{arch}/{name}"),
        })
        .collect();
    downloads.push(Download {
        file: "bin/crictl.tar.gz".into(),
        what: "crictl",
        url: format!(
            "https://github.com/kubernetes-sigs/cri-tools/releases/download/{cri}/crictl-{cri}-linux-{arch}.tar.gz"
        ),
    });
    downloads.push(Download {
        file: "cni/cni-plugins.tgz".into(),
        what: "cni plugins",
        url: format!(
            "https://github.com/containernetworking/plugins/releases/download/{cni}/cni-plugins-linux-{arch}-{cni}.tgz"
        ),
    });
    downloads
}

/// `registry.k8s.io/kube-apiserver:v1.36.3` → `registry.k8s.io_kube-apiserver_v1.36.3.tar`.
pub fn image_file(image: &str) -> String {
    let safe: String =
        image.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
    format!("{safe}.tar")
}

/// The bundle's file for the spec's `n`-th Calico manifest URL (from 1), under `calico/`.
pub fn calico_manifest_name(n: usize) -> String {
    format!("manifest-{n}.yaml")
}

/// Where one of Calico's manifests comes from.
pub(super) enum CalicoSource {
    /// Downloaded; the spec's sha256, when it gives one, is its pin.
    Url { url: String, sha256: Option<String> },
    /// The spec's own file, already read.
    File(Vec<u8>),
}

/// Calico's manifests by their file name under `calico/`; none for another CNI.
pub(super) fn calico_sources(cluster: &Cluster) -> Vec<(String, CalicoSource)> {
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
