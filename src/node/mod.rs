//! What lands on a node: its plan (files at absolute paths with mode and owner), the
//! first-boot script and units, kubeadm's and the kubelet's configuration, the static pod
//! manifests, kubeconfigs placed, and the CNI's configuration.

pub mod bundle_layout;
pub mod cni;
pub mod firstboot;
pub mod invocation;
pub mod kubeadm_config;
pub mod kubelet_config;
pub mod manifests;
pub mod pack_format;
pub mod plan;
pub mod templates;
