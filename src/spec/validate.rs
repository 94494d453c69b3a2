//! Checks a parsed spec as a whole and resolves it into the [`Cluster`] model.
//! Every problem is collected, each with its field path and position.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;

use super::checker::Checker;
use super::grammar::{self, UrlUse, dns1123_label, dns1123_subdomain};
use super::{API_VERSION, ClusterFile, CniSpec, KIND, Locator, VipSpec};
use crate::error::Problem;
use crate::fmt::duration::parse_go_duration;
use crate::model::versions::DEFAULT_VERSION;
use crate::model::*;

const DEFAULT_POD_SUBNET: &str = "192.168.0.0/16";
const DEFAULT_SERVICE_SUBNET: &str = "10.96.0.0/12";
const DEFAULT_DNS_DOMAIN: &str = "cluster.local";
const DEFAULT_CLUSTER_NAME: &str = "kubernetes";
const DEFAULT_CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
const DEFAULT_CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const DEFAULT_IMAGE_REPOSITORY: &str = "registry.k8s.io";
pub const DEFAULT_KUBE_VIP_IMAGE: &str = "ghcr.io/kube-vip/kube-vip:v0.9.2";
pub const DEFAULT_CALICO_VERSION: &str = "v3.30.3";
const DEFAULT_JOIN_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// A pool's user-data lives as long as the pool, so its token must outlive kubeadm's 24 h
/// default: 30 days lets an autoscaling group scale up for a month between rotations, and a
/// leaked user-data stops joining machines within a month. The token can only join.
pub const DEFAULT_POOL_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Taint effects the API server accepts.
const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
/// Labels in the kubernetes.io and k8s.io namespaces that a kubelet may set on its own Node
/// (k8s.io/kubelet's well_known_labels.go); any other such label makes the kubelet refuse to
/// start, and the NodeRestriction admission plugin would refuse it anyway.
const KUBELET_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
];
/// Label namespaces (and their subdomains) a kubelet may set on its own Node.
const KUBELET_LABEL_NAMESPACES: &[&str] = &["kubelet.kubernetes.io", "node.kubernetes.io"];

pub fn validate(
    file: &ClusterFile,
    locator: &Locator,
    base_dir: &Path,
) -> Result<(Cluster, Vec<Problem>), Vec<Problem>> {
    let mut c = Checker::new(locator, None);
    let spec = &file.spec;

    if file.api_version != API_VERSION {
        c.error("apiVersion", format!("must be {API_VERSION}, not {:?}", file.api_version));
    }
    if file.kind != KIND {
        c.error("kind", format!("must be {KIND}, not {:?}", file.kind));
    }
    if let Err(m) = dns1123_label(&file.metadata.name) {
        c.error("metadata.name", m);
    }
    let cluster_name = spec.cluster_name.clone().unwrap_or_else(|| DEFAULT_CLUSTER_NAME.into());
    if let Err(m) = dns1123_subdomain(&cluster_name) {
        c.error("spec.clusterName", m);
    }

    let version = match &spec.kubernetes_version {
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

    // Networking.
    let net = &spec.networking;
    let pod = c.check("spec.networking.podSubnet", parse_cidr(net.pod_subnet.as_deref().unwrap_or(DEFAULT_POD_SUBNET)));
    let svc = c.check(
        "spec.networking.serviceSubnet",
        parse_cidr(net.service_subnet.as_deref().unwrap_or(DEFAULT_SERVICE_SUBNET)),
    );
    let dns_domain = net.dns_domain.clone().unwrap_or_else(|| DEFAULT_DNS_DOMAIN.into());
    if let Err(m) = dns1123_subdomain(&dns_domain) {
        c.error("spec.networking.dnsDomain", m);
    }
    if let Some(pod) = pod {
        // The controller manager hands each node a /24 (/64) out of the pod range.
        let (node_mask, max) = if pod.addr().is_ipv4() { (24, 24) } else { (64, 64) };
        if pod.prefix_len() > max {
            c.error(
                "spec.networking.podSubnet",
                format!("{pod} is smaller than one node's /{node_mask} pod range; use /{max} or larger"),
            );
        }
    }
    if let Some(svc) = svc {
        // The API server allocates service IPs from a bitmap capped at 20 bits.
        let host_bits = u32::from(svc.max_prefix_len() - svc.prefix_len());
        if host_bits > 20 {
            let min = svc.max_prefix_len() - 20;
            c.error(
                "spec.networking.serviceSubnet",
                format!("{svc} is too large: the API server allows at most 20 host bits (/{min} or smaller)"),
            );
        } else if host_bits < 4 {
            c.error(
                "spec.networking.serviceSubnet",
                format!("{svc} is too small to hold the cluster DNS address (the 10th address)"),
            );
        }
    }
    if let (Some(pod), Some(svc)) = (pod, svc) {
        if pod.addr().is_ipv4() != svc.addr().is_ipv4() {
            c.error(
                "spec.networking.serviceSubnet",
                format!("{svc} and podSubnet {pod} are of different IP families; dual-stack is not supported"),
            );
        } else if overlaps(&pod, &svc) {
            c.error("spec.networking.serviceSubnet", format!("{svc} overlaps spec.networking.podSubnet {pod}"));
        }
    }

    // PKI.
    let pki = &spec.pki;
    let algorithm = match pki.encryption_algorithm.as_deref() {
        None => Some(KeyAlgorithm::EcdsaP256),
        Some(name) => {
            let alg = KeyAlgorithm::from_name(name);
            if alg.is_none() {
                let names: Vec<_> = KeyAlgorithm::ALL.iter().map(|a| a.name()).collect();
                c.error(
                    "spec.pki.encryptionAlgorithm",
                    format!("{name:?} is not one of kubeadm's algorithms ({})", names.join(", ")),
                );
            }
            alg
        }
    };
    let cert_validity = duration_field(
        &mut c,
        "spec.pki.certificateValidityPeriod",
        pki.certificate_validity_period.as_deref(),
        DEFAULT_CERT_VALIDITY,
        false,
    );
    let ca_validity = duration_field(
        &mut c,
        "spec.pki.caCertificateValidityPeriod",
        pki.ca_certificate_validity_period.as_deref(),
        DEFAULT_CA_VALIDITY,
        false,
    );
    if let (Some(cert), Some(ca)) = (cert_validity, ca_validity)
        && cert > ca
    {
        c.error(
            "spec.pki.certificateValidityPeriod",
            "is longer than caCertificateValidityPeriod: certificates would outlive their CA",
        );
    }
    let mut sans = Vec::new();
    for (i, s) in pki.api_server_cert_sans.iter().enumerate() {
        let path = format!("spec.pki.apiServerCertSANs[{i}]");
        match s.parse::<IpAddr>() {
            Ok(ip) => sans.push(San::Ip(ip)),
            Err(_) => match dns_san(s) {
                Ok(()) => sans.push(San::Dns(s.clone())),
                Err(m) => c.error(&path, m),
            },
        }
    }
    let token_ttl =
        duration_field(&mut c, "spec.join.tokenTTL", spec.join.token_ttl.as_deref(), DEFAULT_TOKEN_TTL, true);
    let join_timeout =
        duration_field(&mut c, "spec.join.timeout", spec.join.timeout.as_deref(), DEFAULT_JOIN_TIMEOUT, false);

    // Nodes.
    let mut nodes = Vec::new();
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut addresses: HashMap<IpAddr, usize> = HashMap::new();
    if spec.nodes.is_empty() {
        c.error("spec.nodes", "lists no nodes; a cluster needs at least one control-plane node");
    }
    for (i, n) in spec.nodes.iter().enumerate() {
        let base = format!("spec.nodes[{i}]");
        if let Err(m) = dns1123_label(&n.name) {
            c.error(&format!("{base}.name"), m);
        } else if let Some(first) = names.insert(&n.name, i) {
            c.error(&format!("{base}.name"), format!("{:?} is already the name of spec.nodes[{first}]", n.name));
        }
        let role = match n.role.as_str() {
            "control-plane" => Some(Role::ControlPlane),
            "worker" => Some(Role::Worker),
            other => {
                c.error(&format!("{base}.role"), format!("{other:?} is not a role (control-plane or worker)"));
                None
            }
        };
        let path = format!("{base}.address");
        let address = match n.address.parse::<IpAddr>() {
            Err(_) => {
                c.error(&path, format!("{:?} is not an IP address", n.address));
                None
            }
            Ok(ip) if ip.is_unspecified() || ip.is_multicast() => {
                c.error(&path, format!("{ip} cannot be a node's address"));
                None
            }
            Ok(ip) => Some(ip),
        };
        if let Some(ip) = address {
            if let Some(first) = addresses.insert(ip, i) {
                c.error(&path, format!("{ip} is already the address of spec.nodes[{first}]"));
            }
            if ip.is_loopback() {
                c.warn(
                    &path,
                    format!("{ip} is a loopback address: fine for local tests, but kubeadm refuses it as an advertise address on a real node"),
                );
            }
            for (net, field) in [(pod, "podSubnet"), (svc, "serviceSubnet")] {
                if let Some(net) = net {
                    if net.contains(&ip) {
                        c.error(&path, format!("{ip} lies inside spec.networking.{field} {net}"));
                    } else if net.addr().is_ipv4() != ip.is_ipv4() {
                        c.error(
                            &path,
                            format!("{ip} is not of the same IP family as spec.networking.{field} {net}; dual-stack is not supported"),
                        );
                    }
                }
            }
        }
        if let (Some(role), Some(address)) = (role, address) {
            nodes.push(Node { name: n.name.clone(), role, address });
        }
    }
    let worker_pools = check_worker_pools(&mut c, spec, &names);
    let first_cp = spec.nodes.iter().position(|n| n.role == "control-plane");
    if !spec.nodes.is_empty() && first_cp.is_none() {
        c.error("spec.nodes", "has no node with role control-plane");
    }

    // Endpoint: defaults to the first control plane's address, as kubeadm's advertise address.
    let vip = spec.vip.as_ref().and_then(|v| check_vip(&mut c, v, &nodes, pod, svc));
    let endpoint = match spec.control_plane_endpoint.as_deref() {
        Some(text) => c.check("spec.controlPlaneEndpoint", parse_endpoint(text)),
        None if spec.vip.is_some() => {
            vip.as_ref().map(|v| Endpoint { host: Host::Ip(v.address), port: API_SERVER_BIND_PORT })
        }
        None => first_cp
            .and_then(|i| spec.nodes[i].address.parse::<IpAddr>().ok())
            .map(|ip| Endpoint { host: Host::Ip(ip), port: API_SERVER_BIND_PORT }),
    };
    if let Some(Endpoint { host: Host::Ip(ip), port }) = &endpoint {
        let path = "spec.controlPlaneEndpoint";
        if let Some(node) = nodes.iter().find(|n| n.address == *ip) {
            if node.role == Role::Worker {
                c.error(path, format!("{ip} is the address of worker {:?}, which serves no API server", node.name));
            } else if *port != API_SERVER_BIND_PORT {
                c.error(
                    path,
                    format!(
                        "{ip} is control plane {:?}, whose API server listens on {API_SERVER_BIND_PORT}, not {port}",
                        node.name
                    ),
                );
            }
        }
        for (net, field) in [(pod, "podSubnet"), (svc, "serviceSubnet")] {
            if let Some(net) = net
                && net.contains(ip)
            {
                c.error(path, format!("{ip} lies inside spec.networking.{field} {net}"));
            }
        }
    }

    if let (Some(v), Some(Endpoint { host: Host::Ip(ip), .. })) = (&vip, &endpoint)
        && *ip != v.address
    {
        c.error(
            "spec.controlPlaneEndpoint",
            format!("{ip} is not the virtual IP {}: with spec.vip, clients reach the API through the VIP", v.address),
        );
    }

    let mut ignore_preflight_errors = Vec::new();
    for (i, check) in spec.ignore_preflight_errors.iter().enumerate() {
        if c.rule(&format!("spec.ignorePreflightErrors[{i}]"), grammar::preflight_check(check))
            && !ignore_preflight_errors.contains(check)
        {
            ignore_preflight_errors.push(check.clone());
        }
    }
    ignore_preflight_errors.sort();
    let image_repository = spec.image_repository.clone().unwrap_or_else(|| DEFAULT_IMAGE_REPOSITORY.into());
    c.rule("spec.imageRepository", grammar::image_repository(&image_repository));
    let extra_args = ExtraArgs {
        api_server: extra_args(&mut c, "spec.apiServer.extraArgs", &spec.api_server.extra_args),
        controller_manager: extra_args(&mut c, "spec.controllerManager.extraArgs", &spec.controller_manager.extra_args),
        scheduler: extra_args(&mut c, "spec.scheduler.extraArgs", &spec.scheduler.extra_args),
        etcd: extra_args(&mut c, "spec.etcd.extraArgs", &spec.etcd.extra_args),
    };
    let cni = check_cni(&mut c, spec.cni.as_ref(), base_dir);
    let os = check_os(&mut c, spec, base_dir);
    let mut extra_args = extra_args;
    if let Some(dir) = os.as_ref().and_then(|o| o.profile.flex_volume_dir.clone()) {
        // The OS's /usr is read-only: the controller manager (and the kubelet) use the
        // profile's flexvolume directory unless the spec says otherwise.
        extra_args.controller_manager.entry("flex-volume-plugin-dir".into()).or_insert(dir);
    }
    if let Some(o) = os.as_ref().filter(|o| o.format == crate::model::profile::Format::Ignition)
        && spec.node_network.is_some()
        && o.profile.network_config.is_none()
    {
        c.error(
            "spec.nodeNetwork",
            format!("profile {} says how to write no static network configuration (networkConfig)", o.profile.name),
        );
    }
    let login = check_login(&mut c, spec.login.as_ref(), os.as_ref().map(|os| &os.profile));
    let mut registry_mirrors = std::collections::BTreeMap::new();
    for (host, urls) in &spec.registry_mirrors {
        let path = format!("spec.registryMirrors.{host}");
        // The host names a directory on the node (certs.d/<host>/) and the server containerd
        // falls back to (https://<host>).
        c.rule(&path, grammar::registry_host(host));
        if urls.is_empty() {
            c.error(&path, "lists no mirror");
        }
        for (i, u) in urls.iter().enumerate() {
            c.rule(&format!("{path}[{i}]"), grammar::url(u, UrlUse::Mirror));
        }
        registry_mirrors.insert(host.clone(), urls.clone());
    }
    let node_network = spec.node_network.as_ref().and_then(|n| check_node_network(&mut c, n, &nodes));
    let sealing = spec.secrets.as_ref().and_then(|s| {
        let recipient =
            c.check("spec.secrets.encryptTo", crate::model::recipient::Recipient::parse(s.encrypt_to.trim()));
        let identity = s.identity.clone().unwrap_or_else(|| crate::model::recipient::DEFAULT_IDENTITY.into());
        if !c.rule("spec.secrets.identity", grammar::node_path(&identity)) {
            return None;
        }
        recipient.map(|recipient| Sealing { recipient, identity })
    });

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    let (
        Some(version),
        Some(pod),
        Some(svc),
        Some(algorithm),
        Some(cert_validity),
        Some(ca_validity),
        Some(token_ttl),
        Some(endpoint),
    ) = (version, pod, svc, algorithm, cert_validity, ca_validity, token_ttl, endpoint)
    else {
        unreachable!("every missing value recorded a problem");
    };
    let cluster = Cluster {
        name: file.metadata.name.clone(),
        cluster_name,
        kubernetes_version: version,
        endpoint,
        networking: Networking { pod_subnet: pod, service_subnet: svc, dns_domain },
        pki: PkiSettings {
            algorithm,
            cert_validity,
            ca_validity,
            api_server_cert_sans: sans,
            external_ca: spec.pki.external_ca,
        },
        join: JoinSettings { token_ttl, timeout: join_timeout.expect("every missing value recorded a problem") },
        nodes,
        worker_pools,
        image_repository,
        extra_args,
        vip,
        cni: cni.expect("every missing value recorded a problem"),
        os: os.expect("every missing value recorded a problem"),
        login: login.expect("every missing value recorded a problem"),
        registry_mirrors,
        node_network,
        ignore_preflight_errors,
        sealing,
    };
    Ok((cluster, c.warnings))
}

fn check_worker_pools(c: &mut Checker, spec: &super::Spec, node_names: &HashMap<&str, usize>) -> Vec<WorkerPool> {
    let mut pools = Vec::new();
    if !spec.worker_pools.is_empty() && spec.pki.external_ca {
        // Pool machines have no baked identity: their kubelet must get its certificate
        // through the token and a CSR, which nothing signs in external-CA mode.
        c.error(
            "spec.workerPools",
            "cannot be used with spec.pki.externalCA: a pool's machines get their kubelet certificate through \
             the bootstrap token and a CSR, and with an external CA nothing in the cluster signs CSRs \
             (list those workers under spec.nodes instead, each gets a pre-issued identity)",
        );
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, pool) in spec.worker_pools.iter().enumerate() {
        let base = format!("spec.workerPools[{i}]");
        let path = format!("{base}.name");
        let dir = format!("pool-{}", pool.name);
        if let Err(m) = dns1123_label(&pool.name) {
            c.error(&path, m);
        } else if let Some(first) = seen.insert(&pool.name, i) {
            c.error(&path, format!("{:?} is already the name of spec.workerPools[{first}]", pool.name));
        } else if let Some(n) = node_names.get(pool.name.as_str()) {
            c.error(&path, format!("{:?} is already the name of spec.nodes[{n}]", pool.name));
        } else if let Some(n) = node_names.get(dir.as_str()) {
            c.error(&path, format!("its output directory {dir} is that of spec.nodes[{n}] ({dir:?}); rename one"));
        }
        let mut labels = std::collections::BTreeMap::new();
        for (key, value) in &pool.labels {
            let path = format!("{base}.labels.{key}");
            let value = match value {
                serde_yaml::Value::String(s) => s.clone(),
                serde_yaml::Value::Null => String::new(),
                other => {
                    let text = serde_yaml::to_string(other).unwrap_or_default();
                    c.error(&path, format!("must be a string; quote it: '{}'", text.trim()));
                    continue;
                }
            };
            let key_ok = c.check(&path, qualified_name(key)).is_some();
            if key_ok && let Err(m) = kubelet_may_set(key) {
                c.error(&path, m);
            }
            if let Err(m) = label_value(&value) {
                c.error(&path, m);
            }
            labels.insert(key.clone(), value);
        }
        let mut taints: Vec<Taint> = Vec::new();
        for (j, t) in pool.taints.iter().enumerate() {
            let path = format!("{base}.taints[{j}]");
            if let Err(m) = qualified_name(&t.key) {
                c.error(&format!("{path}.key"), m);
            }
            let value = t.value.clone().unwrap_or_default();
            if let Err(m) = label_value(&value) {
                c.error(&format!("{path}.value"), m);
            }
            if !TAINT_EFFECTS.contains(&t.effect.as_str()) {
                c.error(
                    &format!("{path}.effect"),
                    format!("{:?} is not a taint effect ({})", t.effect, TAINT_EFFECTS.join(", ")),
                );
            }
            if let Some(k) = taints.iter().position(|o| o.key == t.key && o.effect == t.effect) {
                c.error(
                    &format!("{path}.key"),
                    format!(
                        "{:?} with effect {} is already {base}.taints[{k}]; taints are unique by key and effect",
                        t.key, t.effect
                    ),
                );
            }
            taints.push(Taint { key: t.key.clone(), value, effect: t.effect.clone() });
        }
        let ttl =
            duration_field(c, &format!("{base}.tokenTTL"), pool.token_ttl.as_deref(), DEFAULT_POOL_TOKEN_TTL, true);
        if let Some(token_ttl) = ttl {
            pools.push(WorkerPool { name: pool.name.clone(), labels, taints, token_ttl });
        }
    }
    pools
}

/// A Kubernetes qualified name (label and taint keys): an optional DNS-subdomain prefix and
/// `/`, then at most 63 characters of alphanumerics, '-', '_' and '.', alphanumeric at both ends.
fn qualified_name(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix
        && dns1123_subdomain(p).is_err()
    {
        return Err(format!(
            "{s:?}: its prefix {p:?} is not a DNS-1123 subdomain (lower-case labels separated by dots)"
        ));
    }
    if name.len() > 63 || !label_like(name) || name.is_empty() {
        return Err(format!(
            "{s:?} is not a Kubernetes qualified name: [prefix/]name, the name at most 63 characters of \
             letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A label value: empty, or at most 63 characters shaped like a qualified name's name.
fn label_value(s: &str) -> Result<(), String> {
    if s.is_empty() || (s.len() <= 63 && label_like(s)) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a label value: at most 63 characters of letters, digits, '-', '_' and '.', \
             starting and ending with a letter or digit"
        ))
    }
}

fn label_like(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && alnum(bytes[0])
        && alnum(bytes[bytes.len() - 1])
        && bytes.iter().all(|&b| alnum(b) || b == b'-' || b == b'_' || b == b'.')
}

/// The kubelet's own rule for `--node-labels` (cmd/kubelet/app/options): kubernetes.io and
/// k8s.io labels only from the allowed set and namespaces.
fn kubelet_may_set(key: &str) -> Result<(), String> {
    let namespace = key.split_once('/').map_or("", |(p, _)| p);
    let in_ns = |ns: &str| namespace == ns || namespace.ends_with(&format!(".{ns}"));
    let kubernetes = in_ns("kubernetes.io") || in_ns("k8s.io");
    if !kubernetes || KUBELET_LABELS.contains(&key) || KUBELET_LABEL_NAMESPACES.iter().any(|ns| in_ns(ns)) {
        return Ok(());
    }
    Err(format!(
        "{key:?} is a kubernetes.io/k8s.io label a kubelet may not set on its own Node (the kubelet refuses to \
         start with it, as NodeRestriction would refuse it): use your own prefix (example.com/role), \
         node.kubernetes.io/… or kubelet.kubernetes.io/…, or label the nodes with kubectl"
    ))
}

fn check_vip(c: &mut Checker, v: &VipSpec, nodes: &[Node], pod: Option<IpNet>, svc: Option<IpNet>) -> Option<Vip> {
    let address = match v.address.parse::<IpAddr>() {
        Ok(ip) if !ip.is_unspecified() && !ip.is_multicast() => Some(ip),
        _ => {
            c.error("spec.vip.address", format!("{:?} is not a usable IP address", v.address));
            None
        }
    };
    if let Some(ip) = address {
        if let Some(n) = nodes.iter().find(|n| n.address == ip) {
            c.error(
                "spec.vip.address",
                format!("{ip} is the address of node {:?}; the VIP must be a free address", n.name),
            );
        }
        for (net, field) in [(pod, "podSubnet"), (svc, "serviceSubnet")] {
            if let Some(net) = net
                && net.contains(&ip)
            {
                c.error("spec.vip.address", format!("{ip} lies inside spec.networking.{field} {net}"));
            }
        }
    }
    c.rule("spec.vip.interface", grammar::interface_name(&v.interface));
    let image = v.image.clone().unwrap_or_else(|| DEFAULT_KUBE_VIP_IMAGE.into());
    c.rule("spec.vip.image", grammar::image_reference(&image));
    Some(Vip { address: address?, interface: v.interface.clone(), image })
}

fn extra_args(
    c: &mut Checker,
    path: &str,
    args: &std::collections::BTreeMap<String, serde_yaml::Value>,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for (name, value) in args {
        let field = format!("{path}.{name}");
        if let Some(bare) = name.strip_prefix("--") {
            c.error(&field, format!("write the flag without its dashes: {bare}"));
            continue;
        }
        if !c.rule(&field, grammar::flag_name(name)) {
            continue;
        }
        let text = match value {
            serde_yaml::Value::String(s) => s.clone(),
            serde_yaml::Value::Bool(b) => b.to_string(),
            serde_yaml::Value::Number(n) => n.to_string(),
            _ => {
                c.error(&field, "must be a single value (string, number or boolean)");
                continue;
            }
        };
        if c.rule(&field, grammar::flag_value(&text)) {
            out.insert(name.clone(), text);
        }
    }
    out
}

fn check_cni(c: &mut Checker, spec: Option<&CniSpec>, base_dir: &Path) -> Option<Cni> {
    let default = CniSpec::default();
    let spec = spec.unwrap_or(&default);
    match spec.plugin.as_deref().unwrap_or("calico") {
        "none" => return Some(Cni::None),
        "calico" => {}
        other => {
            c.error("spec.cni.plugin", format!("{other:?} is not supported (calico, or none to install your own)"));
            return None;
        }
    }
    let version = spec.version.clone().unwrap_or_else(|| DEFAULT_CALICO_VERSION.into());
    let version_ok = version.strip_prefix('v').is_some_and(|v| {
        let parts: Vec<&str> = v.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    if !version_ok {
        c.error("spec.cni.version", format!("{version:?} is not a Calico release like {DEFAULT_CALICO_VERSION}"));
    }
    let mode = match spec.mode.as_deref().unwrap_or("operator") {
        "operator" => Some(CalicoMode::Operator),
        "manifest" => Some(CalicoMode::Manifest),
        other => {
            c.error("spec.cni.mode", format!("{other:?} is not a mode (operator or manifest)"));
            None
        }
    };
    let encapsulation = match spec.encapsulation.as_deref() {
        None => Some(Encapsulation::VxlanCrossSubnet),
        Some(name) => {
            let e = Encapsulation::ALL.into_iter().find(|e| e.name() == name);
            if e.is_none() {
                let names: Vec<_> = Encapsulation::ALL.iter().map(|e| e.name()).collect();
                c.error("spec.cni.encapsulation", format!("{name:?} is not one of {}", names.join(", ")));
            }
            e
        }
    };
    if let Some(mtu) = spec.mtu
        && !(576..=9000).contains(&mtu)
    {
        c.error(
            "spec.cni.mtu",
            format!("{mtu} is not an MTU between 576 and 9000 (leave it out to let Calico detect it)"),
        );
    }
    if spec.mtu.is_some() && mode == Some(CalicoMode::Manifest) {
        c.error("spec.cni.mtu", "is set through the operator's Installation; in manifest mode Calico detects the MTU");
    }
    if let Some(r) = &spec.registry {
        c.rule("spec.cni.registry", grammar::image_repository(r));
    }
    let m = &spec.manifest;
    let sha256 = m.sha256.clone();
    if let Some(h) = &sha256 {
        c.rule("spec.cni.manifest.sha256", grammar::sha256(h));
    }
    let source = match (&m.url, &m.file) {
        (Some(_), Some(_)) => {
            c.error("spec.cni.manifest", "give either url or file, not both");
            None
        }
        (_, Some(file)) => {
            if !c.rule("spec.cni.manifest.file", grammar::local_path(file)) {
                return None;
            }
            let path = base_dir.join(file);
            match std::fs::read(&path) {
                Err(e) => {
                    c.error("spec.cni.manifest.file", format!("cannot read {}: {e}", path.display()));
                    None
                }
                Ok(bytes) => {
                    use sha2::Digest;
                    let actual = crate::fmt::hex(&sha2::Sha256::digest(&bytes));
                    match &sha256 {
                        Some(h) if *h != actual => {
                            c.error(
                                "spec.cni.manifest.sha256",
                                format!("{} has sha256 {actual}, not {h}", path.display()),
                            );
                            None
                        }
                        _ => Some(ManifestSource::File { bytes }),
                    }
                }
            }
        }
        (Some(url), None) => {
            c.rule("spec.cni.manifest.url", grammar::url(url, UrlUse::Download { checked: sha256.is_some() }));
            Some(ManifestSource::Url { urls: vec![url.clone()], sha256 })
        }
        (None, None) => {
            if sha256.is_some() {
                c.error(
                    "spec.cni.manifest.sha256",
                    "checks a url or file the spec names; the default is several files",
                );
            }
            let base = format!("https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests");
            let mode = mode.unwrap_or(CalicoMode::Operator);
            // Since v3.30 the operator's CRDs come in a file of their own, applied first.
            let minor = version.trim_start_matches('v').split('.').nth(1).and_then(|m| m.parse::<u32>().ok());
            let mut urls = Vec::new();
            if mode == CalicoMode::Operator && minor.is_none_or(|m| m >= 30) {
                urls.push(format!("{base}/operator-crds.yaml"));
            }
            urls.push(format!("{base}/{}", mode.manifest_name()));
            Some(ManifestSource::Url { urls, sha256: None })
        }
    };
    Some(Cni::Calico(Calico {
        version,
        mode: mode?,
        encapsulation: encapsulation?,
        mtu: spec.mtu,
        registry: spec.registry.clone(),
        source: source?,
    }))
}

fn check_os(c: &mut Checker, spec: &super::Spec, base_dir: &Path) -> Option<NodeOs> {
    use crate::model::profile::{Format, Packages};
    use crate::spec::profile::{LoadError, load as load_profile};
    let name = spec.os.as_deref().unwrap_or(crate::model::profile::DEFAULT);
    let profile = match load_profile(name, base_dir) {
        Ok(p) => p,
        Err(LoadError::Name(m)) => {
            c.error("spec.os", m);
            return None;
        }
        Err(LoadError::Profile(problems)) => {
            c.problems.extend(problems);
            return None;
        }
    };
    let format = match spec.format.as_deref() {
        None => profile.formats[0],
        Some(f) => {
            let format = match f {
                "cloud-init" => Format::CloudInit,
                "ignition" => Format::Ignition,
                other => {
                    c.error("spec.format", format!("{other:?} is not a format (cloud-init or ignition)"));
                    return None;
                }
            };
            if !profile.formats.contains(&format) {
                c.error("spec.format", format!("{} does not take {f} user-data", profile.name));
                return None;
            }
            format
        }
    };
    let ignition_version = spec.ignition_version.clone().unwrap_or_else(|| "3.3.0".into());
    if !["3.3.0", "3.4.0"].contains(&ignition_version.as_str()) {
        c.error(
            "spec.ignitionVersion",
            format!("{ignition_version:?} is not a supported Ignition spec (3.3.0 or 3.4.0)"),
        );
    }
    let packages = match spec.packages.as_deref() {
        None => profile.packages,
        Some("apt") if profile.containerd_package.is_some() => Packages::Apt,
        Some("apt") => {
            c.error("spec.packages", format!("{} has no apt (its profile names no containerd package)", profile.name));
            return None;
        }
        Some("download") => Packages::Download,
        Some("prebaked") => Packages::Prebaked,
        Some("bundle") => Packages::Bundle,
        Some(other) => {
            c.error("spec.packages", format!("{other:?} is not a package source (apt, download, prebaked or bundle)"));
            return None;
        }
    };
    Some(NodeOs { profile, format, ignition_version, packages, bundle_sha256: None })
}

/// The login's fields are checked whether or not the profile could be had, so that a spec
/// with a bad profile still hears about every other problem at once.
fn check_login(
    c: &mut Checker,
    spec: Option<&super::LoginSpec>,
    profile: Option<&crate::model::profile::Profile>,
) -> Option<Login> {
    // The profile's own user was checked with the profile.
    let given = spec.and_then(|l| l.user.clone());
    if let Some(user) = &given {
        c.rule("spec.login.user", grammar::user_name(user));
    }
    let keys = spec.map(|l| l.ssh_authorized_keys.clone()).unwrap_or_default();
    for (i, k) in keys.iter().enumerate() {
        c.rule(&format!("spec.login.sshAuthorizedKeys[{i}]"), grammar::ssh_authorized_key(k));
    }
    let profile = profile?;
    let user = given.unwrap_or_else(|| profile.login_user.clone());
    Some(Login { create: user != profile.login_user, user, ssh_authorized_keys: keys })
}

fn check_node_network(c: &mut Checker, n: &super::NodeNetworkSpec, nodes: &[Node]) -> Option<NodeNetwork> {
    let gateway = match n.gateway.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            c.error("spec.nodeNetwork.gateway", format!("{:?} is not an IP address", n.gateway));
            None
        }
    };
    let max = if gateway.is_some_and(|g| g.is_ipv6()) { 128 } else { 32 };
    if n.prefix_length == 0 || n.prefix_length > max {
        c.error("spec.nodeNetwork.prefixLength", format!("{} is not a prefix length (1 to {max})", n.prefix_length));
    }
    if let Some(gw) = gateway {
        for node in nodes {
            let net = IpNet::new(node.address, n.prefix_length.min(max)).map(|n| n.trunc());
            if net.as_ref().is_ok_and(|net| !net.contains(&gw)) {
                c.error(
                    "spec.nodeNetwork.gateway",
                    format!("{gw} is not on node {:?}'s network {}", node.name, net.expect("checked")),
                );
                break;
            }
        }
    }
    let mut nameservers = Vec::new();
    for (i, s) in n.nameservers.iter().enumerate() {
        match s.parse::<IpAddr>() {
            Ok(ip) => nameservers.push(ip),
            Err(_) => c.error(&format!("spec.nodeNetwork.nameservers[{i}]"), format!("{s:?} is not an IP address")),
        }
    }
    let interface = n.interface.clone().unwrap_or_else(|| "eth0".into());
    c.rule("spec.nodeNetwork.interface", grammar::interface_name(&interface));
    Some(NodeNetwork { interface, prefix_length: n.prefix_length, gateway: gateway?, nameservers })
}

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

fn parse_cidr(s: &str) -> Result<IpNet, String> {
    if s.contains(',') {
        return Err(format!("{s:?} lists several ranges; dual-stack is not supported"));
    }
    let net: IpNet = s.parse().map_err(|_| format!("{s:?} is not a CIDR like 10.96.0.0/12"))?;
    if net.addr() != net.network() {
        return Err(format!("{s} has host bits set; did you mean {}?", net.trunc()));
    }
    Ok(net)
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    let bad = |why: &str| format!("{s:?} is not a host[:port] endpoint: {why}");
    // A bare IPv6 address has colons but no port.
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Endpoint { host: Host::Ip(ip), port: API_SERVER_BIND_PORT });
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        match tail {
            "" => (h, None),
            t => (h, Some(t.strip_prefix(':').ok_or_else(|| bad("expected ':' after ']'"))?)),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => API_SERVER_BIND_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        },
    };
    match host.parse::<IpAddr>() {
        Ok(ip @ IpAddr::V6(_)) => return Ok(Endpoint { host: Host::Ip(ip), port }),
        Ok(ip) if !s.starts_with('[') => return Ok(Endpoint { host: Host::Ip(ip), port }),
        _ => {}
    }
    if s.starts_with('[') {
        return Err(bad("brackets are only for IPv6 addresses"));
    }
    dns1123_subdomain(host).map_err(|m| bad(&m))?;
    Ok(Endpoint { host: Host::Dns(host.to_string()), port })
}

/// A certificate DNS name: a subdomain, optionally with a leading wildcard label.
fn dns_san(s: &str) -> Result<(), String> {
    let rest = s.strip_prefix("*.").unwrap_or(s);
    dns1123_subdomain(rest).map_err(|_| format!("{s:?} is neither an IP address nor a DNS name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = parse_endpoint("10.0.0.10:6443").unwrap();
        assert_eq!((e.host_port(), e.port), ("10.0.0.10:6443".into(), 6443));
        assert_eq!(parse_endpoint("api.example.com").unwrap().host_port(), "api.example.com:6443");
        assert_eq!(parse_endpoint("[fd00::10]:443").unwrap().host_port(), "[fd00::10]:443");
        assert_eq!(parse_endpoint("fd00::10").unwrap().host_port(), "[fd00::10]:6443");
        for bad in ["10.0.0.10:0", "10.0.0.10:99999", "Bad_Host:6443", "[api.example.com]:6443", "[fd00::1", ":6443"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_labels_follow_the_kubelets_rules() {
        for ok in
            ["example.com/role", "tier", "node.kubernetes.io/pool", "a.kubelet.kubernetes.io/x", "kubernetes.io/arch"]
        {
            assert!(qualified_name(ok).is_ok() && kubelet_may_set(ok).is_ok(), "{ok}");
        }
        for refused in ["node-role.kubernetes.io/worker", "kubernetes.io/role", "x.k8s.io/y", "k8s.io/z"] {
            assert!(qualified_name(refused).is_ok() && kubelet_may_set(refused).is_err(), "{refused}");
        }
        for bad in ["", "a/", "/a", "a/b/c", "-a", "a_", "UPPER.example.com/x", &"x".repeat(64)] {
            assert!(qualified_name(bad).is_err(), "{bad:?}");
        }
        assert!(label_value("").is_ok() && label_value("A_b.c-1").is_ok());
        assert!(label_value("a b").is_err() && label_value(&"v".repeat(64)).is_err() && label_value("a,b").is_err());
    }

    #[test]
    fn cidrs() {
        assert!(parse_cidr("10.96.0.0/12").is_ok());
        assert!(parse_cidr("10.96.0.1/12").unwrap_err().contains("did you mean 10.96.0.0/12"));
        assert!(parse_cidr("10.96.0.0/12,fd00::/108").unwrap_err().contains("dual-stack"));
        assert!(parse_cidr("10.96.0.0").is_err());
    }
}
