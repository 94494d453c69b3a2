//! The nodes the spec lists by name (`spec.nodes`): names, roles and addresses.

use std::collections::HashMap;
use std::net::IpAddr;

use super::network::Subnets;
use crate::model::{Node, Role};
use crate::spec::NodeSpec;
use crate::spec::checker::Checker;
use crate::spec::grammar::dns1123_label;

/// The nodes whose role and address are good, and every good name with its index (worker
/// pools may not reuse them).
pub(super) fn check_nodes<'a>(
    c: &mut Checker,
    specs: &'a [NodeSpec],
    subnets: Subnets,
) -> (Vec<Node>, HashMap<&'a str, usize>) {
    let mut nodes = Vec::new();
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut addresses: HashMap<IpAddr, usize> = HashMap::new();
    if specs.is_empty() {
        c.error("spec.nodes", "lists no nodes; a cluster needs at least one control-plane node");
    }
    for (i, n) in specs.iter().enumerate() {
        let base = format!("spec.nodes[{i}]");
        if let Err(m) = dns1123_label(&n.name) {
            c.error(&format!("{base}.name"), m);
        } else if let Some(first) = names.insert(&n.name, i) {
            c.error(&format!("{base}.name"), format!("{:?} is already the name of spec.nodes[{first}]", n.name));
        }
        let role = check_role(c, &base, &n.role);
        let address = check_address(c, &format!("{base}.address"), &n.address, i, &mut addresses, subnets);
        if let (Some(role), Some(address)) = (role, address) {
            nodes.push(Node {
                name: n.name.clone(),
                role,
                address,
                replaces: n.replaces.clone(),
                release: None,
                upgrade_from: None,
            });
        }
    }
    check_replacements(c, specs);
    (nodes, names)
}

/// `replaces`: the name of a control plane that has left the spec, replaced by this one
/// (its etcd member and Node object go once this one has joined). A worker needs no
/// replacing in place: a new one joins, and the old one is retired (`kubebake retire`).
fn check_replacements(c: &mut Checker, specs: &[NodeSpec]) {
    let mut replaced: HashMap<&str, usize> = HashMap::new();
    for (i, n) in specs.iter().enumerate() {
        let Some(old) = n.replaces.as_deref() else { continue };
        let path = format!("spec.nodes[{i}].replaces");
        if let Err(m) = dns1123_label(old) {
            c.error(&path, m);
        } else if let Some(j) = specs.iter().position(|s| s.name == old) {
            c.error(
                &path,
                format!(
                    "{old:?} is spec.nodes[{j}]: a replaced node leaves spec.nodes, and its replacement takes its place"
                ),
            );
        } else if let Some(first) = replaced.insert(old, i) {
            c.error(&path, format!("{old:?} is already replaced by spec.nodes[{first}]"));
        }
        if n.role == "worker" {
            c.error(
                &path,
                "only a control plane replaces another in place (its etcd member); a new worker joins as any \
                 other, and the one it stands in for is retired: kubebake retire SPEC NAME",
            );
        }
    }
}

fn check_role(c: &mut Checker, base: &str, role: &str) -> Option<Role> {
    match role {
        "control-plane" => Some(Role::ControlPlane),
        "worker" => Some(Role::Worker),
        other => {
            c.error(&format!("{base}.role"), format!("{other:?} is not a role (control-plane or worker)"));
            None
        }
    }
}

/// A node's own address: usable, not another node's, outside the cluster's ranges and of
/// their family.
fn check_address(
    c: &mut Checker,
    path: &str,
    text: &str,
    index: usize,
    addresses: &mut HashMap<IpAddr, usize>,
    subnets: Subnets,
) -> Option<IpAddr> {
    let ip = match text.parse::<IpAddr>() {
        Err(_) => {
            c.error(path, format!("{text:?} is not an IP address"));
            return None;
        }
        Ok(ip) if ip.is_unspecified() || ip.is_multicast() => {
            c.error(path, format!("{ip} cannot be a node's address"));
            return None;
        }
        Ok(ip) => ip,
    };
    if let Some(first) = addresses.insert(ip, index) {
        c.error(path, format!("{ip} is already the address of spec.nodes[{first}]"));
    }
    if ip.is_loopback() {
        c.warn(
            path,
            format!("{ip} is a loopback address: fine for local tests, but kubeadm refuses it as an advertise address on a real node"),
        );
    }
    for (net, field) in subnets.named() {
        if net.contains(&ip) {
            c.error(path, format!("{ip} lies inside spec.networking.{field} {net}"));
        } else if net.addr().is_ipv4() != ip.is_ipv4() {
            c.error(
                path,
                format!(
                    "{ip} is not of the same IP family as spec.networking.{field} {net}; dual-stack is not supported"
                ),
            );
        }
    }
    Some(ip)
}

/// kubeadm init runs on the first control plane: there must be one.
pub(super) fn check_has_control_plane(c: &mut Checker, specs: &[NodeSpec]) {
    if !specs.is_empty() && !specs.iter().any(|n| n.role == "control-plane") {
        c.error("spec.nodes", "has no node with role control-plane");
    }
}
