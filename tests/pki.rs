//! The certificate set against each supported minor's real kubeadm, checked with openssl.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use x509_parser::prelude::*;

/// Every certificate kubeadm writes under /etc/kubernetes/pki, by path.
const CERTS: &[&str] = &[
    "ca.crt",
    "apiserver.crt",
    "apiserver-kubelet-client.crt",
    "apiserver-etcd-client.crt",
    "front-proxy-ca.crt",
    "front-proxy-client.crt",
    "etcd/ca.crt",
    "etcd/server.crt",
    "etcd/peer.crt",
    "etcd/healthcheck-client.crt",
];

/// Which CA signs each leaf.
fn issuer_of(cert: &str) -> &str {
    match cert {
        "ca.crt" | "front-proxy-ca.crt" | "etcd/ca.crt" => cert,
        "front-proxy-client.crt" => "front-proxy-ca.crt",
        c if c.starts_with("etcd/") || c == "apiserver-etcd-client.crt" => "etcd/ca.crt",
        _ => "ca.crt",
    }
}

/// openssl's view of a certificate as a map: subject, issuer, each extension's header and
/// value (key identifiers reduced to their presence), key and signature algorithms.
fn openssl_profile(cert: &Path) -> BTreeMap<String, String> {
    let text = run_ok(Command::new("openssl").arg("x509").arg("-in").arg(cert).args([
        "-noout",
        "-subject",
        "-issuer",
        "-ext",
        "keyUsage,extendedKeyUsage,basicConstraints,authorityKeyIdentifier,subjectKeyIdentifier,subjectAltName",
    ]));
    let full = run_ok(Command::new("openssl").arg("x509").arg("-in").arg(cert).args(["-noout", "-text"]));
    let algs: Vec<&str> = full
        .lines()
        .filter(|l| {
            l.contains("ASN1 OID:") || l.contains("Public Key Algorithm:") || l.contains("Signature Algorithm:")
        })
        .collect();
    parse_dump(&format!("{text}{}\n", algs.join("\n")))
}

fn parse_dump(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut header: Option<String> = None;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=').filter(|(k, _)| *k == "subject" || *k == "issuer") {
            map.insert(k.to_string(), v.trim().to_string());
        } else if line.starts_with("X509v3 ") {
            header = Some(line.trim_end().to_string());
        } else if let Some(h) = header.take().filter(|_| line.starts_with("    ") && !line.starts_with("     ")) {
            let v = if h.contains("Key Identifier") { "<key id>".to_string() } else { line.trim().to_string() };
            map.insert(h, v);
        } else if let Some((k, v)) = line.trim().split_once(": ") {
            map.insert(k.to_string(), v.to_string());
        }
    }
    map
}

/// Seconds between notBefore and notAfter.
fn lifetime(cert_pem: &[u8]) -> i64 {
    let pem = ::pem::parse(cert_pem).unwrap();
    let (_, c) = X509Certificate::from_der(pem.contents()).unwrap();
    c.validity().not_after.timestamp() - c.validity().not_before.timestamp()
}

fn parse(pem_bytes: &[u8]) -> (Vec<u8>, ::pem::Pem) {
    let pem = ::pem::parse(pem_bytes).unwrap();
    (pem.contents().to_vec(), pem)
}

#[test]
fn rsa_certificates_equal_each_minors_kubeadm_field_by_field() {
    if tool("openssl", "openssl").is_none() {
        return;
    }
    for (version, reference) in REFERENCES {
        let b = Bake::new(&reference_spec_for(version, "RSA-2048"));
        b.bake(&[]).assert_ok();
        for cert in CERTS {
            let ours = openssl_profile(&b.pki("cp-1", cert));
            let theirs = openssl_profile(&Path::new(reference).join("pki").join(cert));
            assert_eq!(ours, theirs, "{version} {cert} differs from kubeadm's");
            let (ours, theirs) = (
                fs::read(b.pki("cp-1", cert)).unwrap(),
                fs::read(Path::new(reference).join("pki").join(cert)).unwrap(),
            );
            assert_eq!(lifetime(&ours), lifetime(&theirs), "{version} {cert}: lifetime differs from kubeadm's");
        }
    }
}

#[test]
fn ecdsa_certificates_equal_each_minors_kubeadm_field_by_field() {
    if tool("openssl", "openssl").is_none() {
        return;
    }
    for (version, reference) in REFERENCES {
        ecdsa_certificates_equal(version, Path::new(reference));
    }
}

fn ecdsa_certificates_equal(version: &str, reference: &Path) {
    let b = Bake::new(&reference_spec_for(version, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let dump = fs::read_to_string(reference.join("ecdsa-p256-cert-profiles.txt")).unwrap();
    // The dump ends with one line per key file: `./<path>.key: <PEM header>`.
    let (certs, keys) = dump.split_once("\n./").unwrap();
    let keys = format!("./{keys}");
    let mut sections = BTreeMap::new();
    for section in certs.split("=== ./").skip(1) {
        let (name, body) = section.split_once('\n').unwrap();
        sections.insert(name.to_string(), parse_dump(body));
    }
    let mut key_lines = 0;
    for line in keys.lines() {
        let (file, header) = line.split_once(": ").unwrap();
        let ours = fs::read_to_string(b.pki("cp-1", file.trim_start_matches("./"))).unwrap();
        assert_eq!(ours.lines().next().unwrap(), header, "{version} {file}");
        key_lines += 1;
    }
    assert_eq!(key_lines, 12, "{version}: every key file of the dump was compared");
    assert_eq!(sections.len(), CERTS.len());
    for cert in CERTS {
        let mut ours = openssl_profile(&b.pki("cp-1", cert));
        // The dump prints subjects in DER order with spaces; ours comes out the same way.
        let theirs = &sections[*cert];
        // The dump lists only these fields; compare exactly those.
        ours.retain(|k, _| theirs.contains_key(k));
        assert_eq!(&ours, theirs, "{version} {cert} differs from kubeadm's ECDSA-P256 output");
    }
}

#[test]
fn key_files_use_kubeadms_containers() {
    for (alg, header) in
        [("RSA-2048", "RSA PRIVATE KEY"), ("ECDSA-P256", "EC PRIVATE KEY"), ("ECDSA-P384", "EC PRIVATE KEY")]
    {
        let b = Bake::new(&reference_spec(alg));
        b.bake(&[]).assert_ok();
        for cert in CERTS {
            let key = fs::read_to_string(b.pki("cp-1", &cert.replace(".crt", ".key"))).unwrap();
            assert!(
                key.starts_with(&format!("-----BEGIN {header}-----\n")),
                "{alg} {cert}: {}",
                key.lines().next().unwrap()
            );
        }
        let sa = fs::read_to_string(b.pki("cp-1", "sa.key")).unwrap();
        assert!(sa.starts_with(&format!("-----BEGIN {header}-----\n")), "{alg} sa.key");
        let public = fs::read_to_string(b.pki("cp-1", "sa.pub")).unwrap();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    }
}

#[test]
fn every_leaf_verifies_against_its_ca_with_openssl() {
    if tool("openssl", "openssl").is_none() {
        return;
    }
    for alg in ["RSA-2048", "ECDSA-P256", "ECDSA-P384", "RSA-3072"] {
        let b = Bake::new(&ha_spec(1, alg));
        b.bake(&[]).assert_ok();
        for node in ["cp-1", "cp-2", "cp-3"] {
            for cert in CERTS {
                let out = run_ok(
                    Command::new("openssl")
                        .args(["verify", "-x509_strict", "-CAfile"])
                        .arg(b.pki(node, issuer_of(cert)))
                        .arg(b.pki(node, cert)),
                );
                assert!(out.trim_end().ends_with(": OK"), "{alg} {node} {cert}: {out}");
            }
            // A leaf must not verify against another CA.
            let wrong = Command::new("openssl")
                .args(["verify", "-CAfile"])
                .arg(b.pki(node, "front-proxy-ca.crt"))
                .arg(b.pki(node, "apiserver.crt"))
                .output()
                .unwrap();
            assert!(!wrong.status.success(), "apiserver.crt verified against the front-proxy CA");
        }
    }
}

#[test]
fn subject_and_authority_key_ids_are_computed_as_go_does() {
    // Go derives a CA's subject key id from the public key bits: SHA-1 under go 1.24's
    // defaults, the first 160 bits of SHA-256 from go 1.25's (each minor's go.mod says
    // which); kubeadm's own CA shows it, and ours must follow the same rule so AKIs chain
    // the same way.
    for (version, reference) in REFERENCES {
        let hash = kubebake::model::versions::Version::parse(version).unwrap().kubeadm().ca_key_id;
        key_ids_are_go_s(version, Path::new(reference), hash);
    }
}

fn key_ids_are_go_s(version: &str, reference: &Path, hash: kubebake::model::versions::KeyIdHash) {
    use sha1::Digest;
    let check = |ca_pem: &[u8], leaf_pem: Option<&[u8]>| {
        let (der, _) = parse(ca_pem);
        let (_, ca) = X509Certificate::from_der(&der).unwrap();
        let ski = ca
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            })
            .expect("CA has a subject key id");
        let bits = &ca.public_key().subject_public_key.data;
        let expected = match hash {
            kubebake::model::versions::KeyIdHash::Sha1 => sha1::Sha1::digest(bits).to_vec(),
            kubebake::model::versions::KeyIdHash::Sha256 => sha2::Sha256::digest(bits)[..20].to_vec(),
        };
        assert_eq!(ski, expected, "{version}");
        assert!(
            ca.extensions().iter().all(|e| !matches!(e.parsed_extension(), ParsedExtension::AuthorityKeyIdentifier(_)))
        );
        if let Some(leaf_pem) = leaf_pem {
            let (der, _) = parse(leaf_pem);
            let (_, leaf) = X509Certificate::from_der(&der).unwrap();
            let aki = leaf
                .extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.as_ref().map(|k| k.0.to_vec()),
                    _ => None,
                })
                .expect("leaf has an authority key id");
            assert_eq!(aki, ski);
            assert!(
                leaf.extensions()
                    .iter()
                    .all(|e| !matches!(e.parsed_extension(), ParsedExtension::SubjectKeyIdentifier(_)))
            );
            // kubeadm draws serials below 2^63.
            assert!(leaf.raw_serial().len() <= 8 && leaf.raw_serial()[0] & 0x80 == 0);
        }
    };
    let reference = reference.join("pki");
    check(&fs::read(reference.join("ca.crt")).unwrap(), Some(&fs::read(reference.join("apiserver.crt")).unwrap()));
    let b = Bake::new(&reference_spec_for(version, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    check(&fs::read(b.pki("cp-1", "ca.crt")).unwrap(), Some(&fs::read(b.pki("cp-1", "apiserver.crt")).unwrap()));
}

#[test]
fn each_control_plane_gets_its_own_node_certificates() {
    if tool("openssl", "openssl").is_none() {
        return;
    }
    let b = Bake::new(&ha_spec(2, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let addresses = [("cp-1", "10.0.0.11"), ("cp-2", "10.0.0.12"), ("cp-3", "10.0.0.13")];
    for (node, address) in addresses {
        let apiserver = openssl_profile(&b.pki(node, "apiserver.crt"));
        let sans = &apiserver["X509v3 Subject Alternative Name:"];
        assert_eq!(
            sans,
            &format!(
                "DNS:{node}, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, \
                 DNS:kubernetes.default.svc.cluster.local, DNS:api.example.internal, IP Address:10.96.0.1, IP Address:{address}"
            )
        );
        for etcd in ["etcd/server.crt", "etcd/peer.crt"] {
            let p = openssl_profile(&b.pki(node, etcd));
            assert_eq!(p["subject"], format!("CN = {node}"));
            assert_eq!(
                p["X509v3 Subject Alternative Name:"],
                format!(
                    "DNS:{node}, DNS:localhost, IP Address:{address}, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
                )
            );
        }
        // No other node's name or address appears in this node's certificates.
        for (other, other_address) in addresses.iter().filter(|(n, _)| *n != node) {
            for cert in CERTS {
                let text = run_ok(
                    Command::new("openssl").arg("x509").arg("-in").arg(b.pki(node, cert)).args(["-noout", "-text"]),
                );
                assert!(
                    !text.contains(&format!("DNS:{other},")) && !text.contains(&format!("{other_address},")),
                    "{node} {cert} names {other}"
                );
            }
        }
    }
    // The CAs and the service-account key are shared by every control plane.
    for shared in ["ca.crt", "ca.key", "front-proxy-ca.key", "etcd/ca.key", "sa.key", "sa.pub"] {
        let first = fs::read(b.pki("cp-1", shared)).unwrap();
        assert_eq!(first, fs::read(b.pki("cp-2", shared)).unwrap(), "{shared}");
        assert_eq!(first, fs::read(b.pki("cp-3", shared)).unwrap(), "{shared}");
    }
    // Node-specific keys differ.
    assert_ne!(fs::read(b.pki("cp-1", "apiserver.key")).unwrap(), fs::read(b.pki("cp-2", "apiserver.key")).unwrap());
}

#[test]
fn extra_sans_and_a_dns_endpoint_land_in_the_apiserver_certificate() {
    if tool("openssl", "openssl").is_none() {
        return;
    }
    let spec = reference_spec("ECDSA-P256").replace("127.0.0.1:6443", "api.example.com").replace(
        "encryptionAlgorithm: ECDSA-P256",
        "encryptionAlgorithm: ECDSA-P256\n    apiServerCertSANs: [203.0.113.99, \"*.apps.example.com\", 2001:db8::1]",
    );
    let b = Bake::new(&spec);
    b.bake(&[]).assert_ok();
    let p = openssl_profile(&b.pki("cp-1", "apiserver.crt"));
    assert_eq!(
        p["X509v3 Subject Alternative Name:"],
        "DNS:cp-1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, \
         DNS:api.example.com, DNS:*.apps.example.com, IP Address:10.96.0.1, IP Address:203.0.113.10, IP Address:203.0.113.99, \
         IP Address:2001:DB8:0:0:0:0:0:1"
    );
}

#[test]
fn discovery_hash_is_the_sha256_of_the_ca_public_key() {
    if tool("openssl", "openssl").is_none() {
        return;
    }
    // Our hash function on kubeadm's own CA gives kubeadm's own pin.
    let reference_ca = fs::read(Path::new(REFERENCE).join("pki/ca.crt")).unwrap();
    let expected = fs::read_to_string(Path::new(REFERENCE).join("discovery-token-ca-cert-hash.txt")).unwrap();
    assert_eq!(kubebake::pki::ca_cert_hash(parse(&reference_ca).0.as_slice()).unwrap(), expected.trim());

    // And the hash bake prints equals the one openssl computes from the baked ca.crt.
    let b = Bake::new(&reference_spec("ECDSA-P256"));
    let run = b.bake(&[]);
    run.assert_ok();
    let spki = Command::new("sh")
        .arg("-c")
        .arg("openssl x509 -pubkey -noout -in \"$1\" | openssl pkey -pubin -outform der | sha256sum")
        .arg("sh")
        .arg(b.pki("cp-1", "ca.crt"))
        .output()
        .unwrap();
    let hex = String::from_utf8(spki.stdout).unwrap().split_whitespace().next().unwrap().to_string();
    assert_eq!(hex.len(), 64);
    assert!(run.stdout().contains(&format!("--discovery-token-ca-cert-hash sha256:{hex}")), "{}", run.stdout());
}

#[test]
fn ipv6_single_stack_clusters_bake() {
    if tool("openssl", "openssl").is_none() {
        return;
    }
    let spec = "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata: {name: v6}
spec:
  networking: {podSubnet: 'fd00:10:244::/56', serviceSubnet: 'fd00:10:96::/112'}
  nodes:
    - {name: cp-1, role: control-plane, address: 'fd00::11'}
    - {name: worker-1, role: worker, address: 'fd00::21'}
";
    let b = Bake::new(spec);
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(run.stdout().contains("kubeadm join [fd00::11]:6443 "), "{}", run.stdout());
    let p = openssl_profile(&b.pki("cp-1", "apiserver.crt"));
    assert!(
        p["X509v3 Subject Alternative Name:"]
            .ends_with("IP Address:FD00:10:96:0:0:0:0:1, IP Address:FD00:0:0:0:0:0:0:11"),
        "{p:?}"
    );
    let kubelet = fs::read_to_string(b.node_file("cp-1", "/etc/kubernetes/kubelet.conf")).unwrap();
    assert!(kubelet.contains("server: https://[fd00::11]:6443"));
    // IPv6 forwarding is set on an IPv6 cluster, and only there.
    let sysctl = fs::read_to_string(b.node_file("worker-1", "/etc/sysctl.d/99-kubebake.conf")).unwrap();
    assert!(sysctl.contains("\nnet.ipv6.conf.all.forwarding = 1\n"), "{sysctl}");
    let v4 = Bake::new(&spec.replace("fd00::11", "10.0.0.11").replace("fd00::21", "10.0.0.21").replace(
        "networking: {podSubnet: 'fd00:10:244::/56', serviceSubnet: 'fd00:10:96::/112'}",
        "networking: {podSubnet: 192.168.0.0/16}",
    ));
    v4.bake(&[]).assert_ok();
    let sysctl = fs::read_to_string(v4.node_file("worker-1", "/etc/sysctl.d/99-kubebake.conf")).unwrap();
    assert!(sysctl.contains("\nnet.ipv4.ip_forward = 1\n") && !sysctl.contains("ipv6"), "{sysctl}");
}
