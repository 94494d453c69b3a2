//! Worker pools (`spec.workerPools`): names, and the labels, taints and join token their
//! machines register with.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::duration_field;
use crate::model::{Taint, WorkerPool};
use crate::spec::checker::Checker;
use crate::spec::grammar::{dns1123_label, dns1123_subdomain};
use crate::spec::{Scalar, Spec, TaintSpec, WorkerPoolSpec};

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

/// The pools whose token lifetime is good; `node_names` are the names `spec.nodes` took.
pub(super) fn check_worker_pools(c: &mut Checker, spec: &Spec, node_names: &HashMap<&str, usize>) -> Vec<WorkerPool> {
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
        check_pool_name(c, &base, pool, i, &mut seen, node_names);
        let labels = check_labels(c, &base, pool);
        let taints = check_taints(c, &base, &pool.taints);
        let ttl =
            duration_field(c, &format!("{base}.tokenTTL"), pool.token_ttl.as_deref(), DEFAULT_POOL_TOKEN_TTL, true);
        if let Some(token_ttl) = ttl {
            pools.push(WorkerPool { name: pool.name.clone(), labels, taints, token_ttl, release: None });
        }
    }
    pools
}

/// A pool's name is a node name's prefix and names its output directory `pool-<name>`:
/// it may clash with neither another pool nor a node.
fn check_pool_name<'a>(
    c: &mut Checker,
    base: &str,
    pool: &'a WorkerPoolSpec,
    index: usize,
    seen: &mut HashMap<&'a str, usize>,
    node_names: &HashMap<&str, usize>,
) {
    let path = format!("{base}.name");
    let dir = format!("pool-{}", pool.name);
    if let Err(m) = dns1123_label(&pool.name) {
        c.error(&path, m);
    } else if let Some(first) = seen.insert(&pool.name, index) {
        c.error(&path, format!("{:?} is already the name of spec.workerPools[{first}]", pool.name));
    } else if let Some(n) = node_names.get(pool.name.as_str()) {
        c.error(&path, format!("{:?} is already the name of spec.nodes[{n}]", pool.name));
    } else if let Some(n) = node_names.get(dir.as_str()) {
        c.error(&path, format!("its output directory {dir} is that of spec.nodes[{n}] ({dir:?}); rename one"));
    }
}

/// Node labels: string values, and keys the kubelet may register with.
fn check_labels(c: &mut Checker, base: &str, pool: &WorkerPoolSpec) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for (key, value) in &pool.labels {
        let path = format!("{base}.labels.{key}");
        let value = match value {
            Scalar::String(s) => s.clone(),
            Scalar::Null => String::new(),
            Scalar::Bool(b) => {
                c.error(&path, format!("must be a string; quote it: '{b}'"));
                continue;
            }
            Scalar::Number(n) => {
                c.error(&path, format!("must be a string; quote it: '{n}'"));
                continue;
            }
            Scalar::Collection => {
                c.error(&path, "must be a string, not a list or a mapping");
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
    labels
}

/// Taints as the API server takes them: qualified keys, label-like values, a known effect,
/// unique by key and effect.
fn check_taints(c: &mut Checker, base: &str, specs: &[TaintSpec]) -> Vec<Taint> {
    let mut taints: Vec<Taint> = Vec::new();
    for (j, t) in specs.iter().enumerate() {
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
    taints
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
