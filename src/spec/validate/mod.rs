//! Checks a parsed spec as a whole and resolves it into the [`Cluster`] model.
//! Every problem is collected, each with its field path and position.
//!
//! [`validate`] runs one named check per concern, in the order of the spec's reference
//! (docs/spec.md), so that problems are reported in the order a reader meets the fields.
//! A check that finds a problem records it and yields `None` (or a placeholder) so that
//! the checks after it still run and the user hears about every problem at once.

mod cni;
mod components;
mod endpoint;
mod network;
mod nodes;
mod os;
mod pools;
mod security;

use std::path::Path;
use std::time::Duration;

pub use pools::DEFAULT_POOL_TOKEN_TTL;

use super::checker::Checker;
use super::grammar::{dns1123_label, dns1123_subdomain};
use super::{API_VERSION, ClusterFile, KIND, Locator};
use crate::error::Problem;
use crate::fmt::duration::parse_go_duration;
use crate::model::versions::DEFAULT_VERSION;
use crate::model::{Cluster, Networking, Version};

const DEFAULT_CLUSTER_NAME: &str = "kubernetes";

/// Checks `file` as a whole. On success, the resolved cluster and the warnings worth
/// showing; otherwise every problem found, in the order of the spec's fields.
pub fn validate(
    file: &ClusterFile,
    locator: &Locator,
    base_dir: &Path,
) -> Result<(Cluster, Vec<Problem>), Vec<Problem>> {
    let mut c = Checker::new(locator, None);
    let cluster = check_all(&mut c, file, base_dir);
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    Ok((cluster.expect("every missing value recorded a problem"), c.warnings))
}

/// The checks, in order. Each records its problems; the cluster is only assembled when
/// every value it needs came through.
fn check_all(c: &mut Checker, file: &ClusterFile, base_dir: &Path) -> Option<Cluster> {
    let spec = &file.spec;
    let cluster_name = check_identity(c, file);
    let version = check_version(c, spec.kubernetes_version.as_deref());
    let (subnets, dns_domain) = network::check_networking(c, &spec.networking);
    let pki = security::check_pki(c, &spec.pki);
    let join = security::check_join(c, &spec.join);
    let (nodes, node_names) = nodes::check_nodes(c, &spec.nodes, subnets);
    let worker_pools = pools::check_worker_pools(c, spec, &node_names);
    nodes::check_has_control_plane(c, &spec.nodes);
    let vip = spec.vip.as_ref().and_then(|v| endpoint::check_vip(c, v, &nodes, subnets));
    let endpoint = endpoint::check_endpoint(c, spec, &nodes, vip.as_ref(), subnets);
    let ignore_preflight_errors = components::check_preflight_errors(c, &spec.ignore_preflight_errors);
    let image_repository = components::check_image_repository(c, spec.image_repository.as_deref());
    let mut extra_args = components::check_extra_args(c, spec);
    let cni = cni::check_cni(c, spec.cni.as_ref(), base_dir);
    let os = os::check_os(c, spec, base_dir);
    os::apply_flex_volume_dir(&mut extra_args, os.as_ref());
    os::check_static_network_support(c, spec, os.as_ref());
    let login = os::check_login(c, spec.login.as_ref(), os.as_ref().map(|os| &os.profile));
    let registry_mirrors = components::check_registry_mirrors(c, &spec.registry_mirrors);
    let node_network = spec.node_network.as_ref().and_then(|n| network::check_node_network(c, n, &nodes));
    let sealing = spec.secrets.as_ref().and_then(|s| security::check_secrets(c, s));
    Some(Cluster {
        name: file.metadata.name.clone(),
        cluster_name,
        kubernetes_version: version?,
        endpoint: endpoint?,
        networking: Networking { pod_subnet: subnets.pod?, service_subnet: subnets.service?, dns_domain },
        pki: pki?,
        join: join?,
        nodes,
        worker_pools,
        image_repository,
        extra_args,
        vip,
        cni: cni?,
        os: os?,
        login: login?,
        registry_mirrors,
        node_network,
        ignore_preflight_errors,
        sealing,
        initialized_by: None,
    })
}

/// The document's type and names; yields kubeadm's cluster name, defaulted.
fn check_identity(c: &mut Checker, file: &ClusterFile) -> String {
    if file.api_version != API_VERSION {
        c.error("apiVersion", format!("must be {API_VERSION}, not {:?}", file.api_version));
    }
    if file.kind != KIND {
        c.error("kind", format!("must be {KIND}, not {:?}", file.kind));
    }
    if let Err(m) = dns1123_label(&file.metadata.name) {
        c.error("metadata.name", m);
    }
    let cluster_name = file.spec.cluster_name.clone().unwrap_or_else(|| DEFAULT_CLUSTER_NAME.into());
    if let Err(m) = dns1123_subdomain(&cluster_name) {
        c.error("spec.clusterName", m);
    }
    cluster_name
}

/// A supported Kubernetes release, with a warning once its minor is past end of life.
fn check_version(c: &mut Checker, text: Option<&str>) -> Option<Version> {
    let version = match text {
        None => Some(DEFAULT_VERSION),
        Some(v) => c.check("spec.kubernetesVersion", Version::parse(v)),
    };
    if let Some(v) = version {
        let minor = v.kubeadm();
        let today = today();
        if minor.past_end_of_life(&today) {
            c.warn(
                "spec.kubernetesVersion",
                format!(
                    "Kubernetes {} reached its end of life on {} and gets no more fixes upstream; {} is the newest supported",
                    v.minor_name(),
                    minor.end_of_life,
                    DEFAULT_VERSION
                ),
            );
        }
    }
    version
}

/// A Go duration (kubeadm's format) in whole seconds; zero only where `zero_ok` (a token
/// that never expires).
fn duration_field(
    c: &mut Checker,
    path: &str,
    text: Option<&str>,
    default: Duration,
    zero_ok: bool,
) -> Option<Duration> {
    let d = c.check(path, text.map_or(Ok(default), parse_go_duration))?;
    if d.is_zero() && !zero_ok {
        c.error(path, "must be longer than zero");
        return None;
    }
    if d.subsec_nanos() != 0 {
        c.error(path, "must be a whole number of seconds");
        return None;
    }
    Some(d)
}

/// Today's date in UTC, `YYYY-MM-DD`: end-of-life warnings are about the day the spec is
/// checked, and nothing this date decides lands in any output.
fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}
