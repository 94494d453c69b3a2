//! Kubeconfigs: parsed by kubectl, and equal to kubeadm's in names, servers and identities.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use x509_parser::prelude::*;

const KUBECONFIGS: &[&str] = &["admin", "super-admin", "controller-manager", "scheduler", "kubelet"];

/// (CN, O) of the client certificate kubeadm puts in each kubeconfig.
fn expected_identity(name: &str, node: &str) -> (String, Vec<String>) {
    match name {
        "admin" => ("kubernetes-admin".into(), vec!["kubeadm:cluster-admins".into()]),
        "super-admin" => ("kubernetes-super-admin".into(), vec!["system:masters".into()]),
        "controller-manager" => ("system:kube-controller-manager".into(), vec![]),
        "scheduler" => ("system:kube-scheduler".into(), vec![]),
        "kubelet" => (format!("system:node:{node}"), vec!["system:nodes".into()]),
        _ => unreachable!(),
    }
}

fn yaml(path: &Path) -> serde_json::Value {
    yaml_value(&fs::read_to_string(path).unwrap())
}

fn subject(cert_pem: &[u8]) -> (String, Vec<String>) {
    let pem = ::pem::parse(cert_pem).unwrap();
    let (_, c) = X509Certificate::from_der(pem.contents()).unwrap();
    let cn = c.subject().iter_common_name().next().unwrap().as_str().unwrap().to_string();
    let orgs = c.subject().iter_organization().map(|o| o.as_str().unwrap().to_string()).collect();
    (cn, orgs)
}

/// kubectl's view (`config view --raw -o json`) of a kubeconfig, or the test fails.
fn kubectl_view(kubectl: &Path, file: &Path) -> serde_json::Value {
    let out = run_ok(Command::new(kubectl).args(["config", "view", "--raw", "-o", "json", "--kubeconfig"]).arg(file));
    serde_json::from_str(&out).unwrap()
}

#[test]
fn kubeconfigs_match_each_minors_kubeadm_and_parse_with_kubectl() {
    let Some(kubectl) = tool("kubectl", "kubernetes-client") else { return };
    for (version, reference) in REFERENCES {
        kubeconfigs_match(&kubectl, version, Path::new(reference));
    }
}

fn kubeconfigs_match(kubectl: &Path, version: &str, reference: &Path) {
    let b = Bake::new(&reference_spec_for(version, "RSA-2048"));
    b.bake(&[]).assert_ok();
    let ca = fs::read(b.pki("cp-1", "ca.crt")).unwrap();
    for name in KUBECONFIGS {
        let file = b.node_file("cp-1", &format!("/etc/kubernetes/{name}.conf"));
        let view = kubectl_view(kubectl, &file);
        let theirs = yaml(&reference.join(format!("kubeconfigs/{name}.conf")));
        let ours = yaml(&file);

        // Same cluster, user and context names, same server, same current context.
        let cluster = &view["clusters"][0];
        assert_eq!(cluster["name"].as_str(), theirs["clusters"][0]["name"].as_str(), "{name}");
        assert_eq!(
            cluster["cluster"]["server"].as_str(),
            theirs["clusters"][0]["cluster"]["server"].as_str(),
            "{name}"
        );
        assert_eq!(view["users"][0]["name"].as_str(), theirs["users"][0]["name"].as_str(), "{name}");
        assert_eq!(view["contexts"][0]["name"].as_str(), theirs["contexts"][0]["name"].as_str(), "{name}");
        assert_eq!(view["current-context"].as_str(), theirs["current-context"].as_str(), "{name}");
        assert_eq!(ours["contexts"], theirs["contexts"], "{name}");
        // The same keys at every level (kubeadm's shape: preferences {}, no extras).
        let keys = |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
        assert_eq!(keys(&ours), keys(&theirs), "{name}");
        assert_eq!(keys(&ours["users"][0]["user"]), keys(&theirs["users"][0]["user"]), "{name}");

        // The embedded CA is ca.crt; the client certificate is kubeadm's identity.
        let embedded_ca = B64.decode(cluster["cluster"]["certificate-authority-data"].as_str().unwrap()).unwrap();
        assert_eq!(embedded_ca, ca, "{name}: embedded CA is not ca.crt");
        let client = B64.decode(view["users"][0]["user"]["client-certificate-data"].as_str().unwrap()).unwrap();
        assert_eq!(subject(&client), expected_identity(name, "cp-1"), "{name}");
        let reference_client =
            B64.decode(theirs["users"][0]["user"]["client-certificate-data"].as_str().unwrap()).unwrap();
        assert_eq!(subject(&client), subject(&reference_client), "{version} {name}: identity differs from kubeadm's");
        let key = B64.decode(view["users"][0]["user"]["client-key-data"].as_str().unwrap()).unwrap();
        assert!(key.starts_with(b"-----BEGIN RSA PRIVATE KEY-----\n"), "{name}");
    }
}

#[test]
fn client_certificates_verify_and_match_their_keys() {
    if tool("openssl", "openssl").is_none() {
        return;
    }
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    for node in ["cp-1", "cp-2", "cp-3"] {
        for name in KUBECONFIGS {
            // super-admin.conf (system:masters) only where kubeadm init writes it.
            if *name == "super-admin" && node != "cp-1" {
                assert!(!b.node_file(node, "/etc/kubernetes/super-admin.conf").exists(), "{node} has super-admin.conf");
                continue;
            }
            let kc = yaml(&b.node_file(node, &format!("/etc/kubernetes/{name}.conf")));
            let user = &kc["users"][0]["user"];
            let cert = B64.decode(user["client-certificate-data"].as_str().unwrap()).unwrap();
            let key = B64.decode(user["client-key-data"].as_str().unwrap()).unwrap();
            assert_eq!(subject(&cert), expected_identity(name, node));
            let cert_path = b.path(&format!("{node}-{name}.crt"));
            let key_path = b.path(&format!("{node}-{name}.key"));
            fs::write(&cert_path, &cert).unwrap();
            fs::write(&key_path, &key).unwrap();
            let out =
                run_ok(Command::new("openssl").args(["verify", "-CAfile"]).arg(b.pki(node, "ca.crt")).arg(&cert_path));
            assert!(out.trim_end().ends_with(": OK"));
            let from_cert = run_ok(Command::new("openssl").args(["x509", "-noout", "-pubkey", "-in"]).arg(&cert_path));
            let from_key = run_ok(Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&key_path));
            assert_eq!(from_cert, from_key, "{node} {name}: key does not match certificate");
        }
        // Admins go through the endpoint; the node's own components through its own API server.
        let server = |name: &str| {
            let kc = yaml(&b.node_file(node, &format!("/etc/kubernetes/{name}.conf")));
            kc["clusters"][0]["cluster"]["server"].as_str().unwrap().to_string()
        };
        let own = format!("https://10.0.0.{}:6443", 10 + node[3..].parse::<u32>().unwrap());
        assert_eq!(server("admin"), "https://api.example.internal:6443");
        if node == "cp-1" {
            assert_eq!(server("super-admin"), "https://api.example.internal:6443");
        }
        for local in ["controller-manager", "scheduler", "kubelet"] {
            assert_eq!(server(local), own, "{node} {local}");
        }
    }
}

#[test]
fn the_operator_kubeconfig_points_at_the_endpoint() {
    let Some(kubectl) = tool("kubectl", "kubernetes-client") else { return };
    let b = Bake::new(&ha_spec(0, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let view = kubectl_view(&kubectl, &b.out().join("admin.conf"));
    assert_eq!(view["current-context"], "ha");
    assert_eq!(view["clusters"][0]["cluster"]["server"], "https://api.example.internal:6443");
    let client = B64.decode(view["users"][0]["user"]["client-certificate-data"].as_str().unwrap()).unwrap();
    assert_eq!(subject(&client), ("kubebake-operator".into(), vec!["kubeadm:cluster-admins".into()]));
    // Its key is the operator's own: not any node's admin key.
    let operator_key = view["users"][0]["user"]["client-key-data"].as_str().unwrap().to_string();
    for node in ["cp-1", "cp-2", "cp-3"] {
        let admin = fs::read_to_string(b.node_file(node, "/etc/kubernetes/admin.conf")).unwrap();
        assert!(!admin.contains(&operator_key));
    }
}
