//! The cluster's address ranges (`spec.networking`) and the nodes' own static addressing
//! (`spec.nodeNetwork`).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::{Node, NodeNetwork};
use crate::spec::checker::Checker;
use crate::spec::grammar::{self, dns1123_subdomain};
use crate::spec::{Networking as NetworkingSpec, NodeNetworkSpec};

const DEFAULT_POD_SUBNET: &str = "192.168.0.0/16";
const DEFAULT_SERVICE_SUBNET: &str = "10.96.0.0/12";
const DEFAULT_DNS_DOMAIN: &str = "cluster.local";

/// The pod and service ranges, each when it parsed: later checks refuse addresses
/// (nodes, the endpoint, the VIP) inside them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Subnets {
    pub pod: Option<IpNet>,
    pub service: Option<IpNet>,
}

impl Subnets {
    /// Each range that parsed, with its field's name under `spec.networking`.
    pub fn named(self) -> impl Iterator<Item = (IpNet, &'static str)> {
        [(self.pod, "podSubnet"), (self.service, "serviceSubnet")].into_iter().filter_map(|(n, f)| Some((n?, f)))
    }
}

/// The pod and service ranges and the DNS domain, defaulted as kubeadm does.
pub(super) fn check_networking(c: &mut Checker, net: &NetworkingSpec) -> (Subnets, String) {
    let pod = c.check("spec.networking.podSubnet", parse_cidr(net.pod_subnet.as_deref().unwrap_or(DEFAULT_POD_SUBNET)));
    let service = c.check(
        "spec.networking.serviceSubnet",
        parse_cidr(net.service_subnet.as_deref().unwrap_or(DEFAULT_SERVICE_SUBNET)),
    );
    let dns_domain = net.dns_domain.clone().unwrap_or_else(|| DEFAULT_DNS_DOMAIN.into());
    if let Err(m) = dns1123_subdomain(&dns_domain) {
        c.error("spec.networking.dnsDomain", m);
    }
    let subnets = Subnets { pod, service };
    check_subnet_sizes(c, subnets);
    (subnets, dns_domain)
}

/// Each range large enough for what Kubernetes carves out of it, small enough for the API
/// server, and the two apart.
fn check_subnet_sizes(c: &mut Checker, Subnets { pod, service: svc }: Subnets) {
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
}

/// Static addressing: a gateway on every node's network, nameservers, the interface.
pub(super) fn check_node_network(c: &mut Checker, n: &NodeNetworkSpec, nodes: &[Node]) -> Option<NodeNetwork> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        assert!(parse_cidr("10.96.0.0/12").is_ok());
        assert!(parse_cidr("10.96.0.1/12").unwrap_err().contains("did you mean 10.96.0.0/12"));
        assert!(parse_cidr("10.96.0.0/12,fd00::/108").unwrap_err().contains("dual-stack"));
        assert!(parse_cidr("10.96.0.0").is_err());
    }
}
