//! Where clients reach the API server: `spec.controlPlaneEndpoint`, and the virtual IP
//! kube-vip announces for it (`spec.vip`).

use std::net::IpAddr;

use super::network::Subnets;
use crate::model::{API_SERVER_BIND_PORT, Endpoint, Host, Node, Role, Vip};
use crate::spec::checker::Checker;
use crate::spec::grammar::{self, dns1123_subdomain};
use crate::spec::{Spec, VipSpec};

pub const DEFAULT_KUBE_VIP_IMAGE: &str = "ghcr.io/kube-vip/kube-vip:v0.9.2";

/// A free address outside the cluster's ranges, the interface to announce it on, and
/// kube-vip's image.
pub(super) fn check_vip(c: &mut Checker, v: &VipSpec, nodes: &[Node], subnets: Subnets) -> Option<Vip> {
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
        for (net, field) in subnets.named() {
            if net.contains(&ip) {
                c.error("spec.vip.address", format!("{ip} lies inside spec.networking.{field} {net}"));
            }
        }
    }
    c.rule("spec.vip.interface", grammar::interface_name(&v.interface));
    let image = v.image.clone().unwrap_or_else(|| DEFAULT_KUBE_VIP_IMAGE.into());
    c.rule("spec.vip.image", grammar::image_reference(&image));
    Some(Vip { address: address?, interface: v.interface.clone(), image })
}

/// The endpoint as given, else the VIP, else (as kubeadm's advertise address) the first
/// control plane's address; an address must reach an API server.
pub(super) fn check_endpoint(
    c: &mut Checker,
    spec: &Spec,
    nodes: &[Node],
    vip: Option<&Vip>,
    subnets: Subnets,
) -> Option<Endpoint> {
    let path = "spec.controlPlaneEndpoint";
    let endpoint = match spec.control_plane_endpoint.as_deref() {
        Some(text) => c.check(path, parse_endpoint(text)),
        None if spec.vip.is_some() => vip.map(|v| Endpoint { host: Host::Ip(v.address), port: API_SERVER_BIND_PORT }),
        None => spec
            .nodes
            .iter()
            .find(|n| n.role == "control-plane")
            .and_then(|n| n.address.parse::<IpAddr>().ok())
            .map(|ip| Endpoint { host: Host::Ip(ip), port: API_SERVER_BIND_PORT }),
    };
    if spec.control_plane_endpoint.is_none() && spec.vip.is_none() && spec.nodes.iter().any(|n| n.replaces.is_some()) {
        c.error(
            path,
            "is needed once a control plane replaces another (spec.nodes, replaces): the default, the first \
             control plane's address, would move to another machine and every certificate and kubeconfig with it; \
             give the address or name clients have used so far (a VIP, a load balancer, a DNS name)",
        );
    }
    let Some(Endpoint { host: Host::Ip(ip), port }) = &endpoint else {
        return endpoint;
    };
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
    for (net, field) in subnets.named() {
        if net.contains(ip) {
            c.error(path, format!("{ip} lies inside spec.networking.{field} {net}"));
        }
    }
    if let Some(v) = vip
        && *ip != v.address
    {
        c.error(
            path,
            format!("{ip} is not the virtual IP {}: with spec.vip, clients reach the API through the VIP", v.address),
        );
    }
    endpoint
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
}
