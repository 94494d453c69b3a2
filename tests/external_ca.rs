//! `pki.externalCA`: kubeadm's external-CA mode. No CA key lands on any node; every kubelet
//! gets a pre-issued client and serving certificate (checked with `openssl verify`); the
//! controller manager signs nothing; workers hold no join token. The end-to-end tier's
//! scenario g runs such a cluster on real Kubernetes.

mod common;

use std::fs;
use std::process::Command;

use common::*;

fn spec() -> String {
    ha_spec(2, "ECDSA-P256").replace("  pki:\n", "  pki:\n    externalCA: true\n")
}

fn openssl(args: &[&str]) -> String {
    run_ok(Command::new("openssl").args(args))
}

#[test]
fn no_node_holds_a_ca_key_and_every_kubelet_has_its_identity() {
    if tool("openssl", "openssl").is_none() {
        return;
    }
    let b = Bake::new(&spec());
    b.bake(&[]).assert_ok();
    let token = fs::read_to_string(b.state().join("token")).unwrap();
    let ca = b.out().join("cp-1/rootfs/etc/kubernetes/pki/ca.crt");
    let ca = ca.to_str().unwrap();
    for node in ["cp-1", "cp-2", "cp-3", "worker-1", "worker-2"] {
        let rootfs = b.out().join(node).join("rootfs");
        let files = snapshot(&rootfs);
        for (rel, (bytes, _)) in &files {
            assert!(!rel.ends_with("ca.key"), "{node}: {rel}");
            let text = String::from_utf8_lossy(bytes);
            if node.starts_with("worker") {
                assert!(!text.contains(token.trim()), "{node}: {rel} holds the join token");
            }
        }
        // The serving certificate: signed by the cluster CA, for this node's name and address.
        let crt = rootfs.join("var/lib/kubelet/pki/kubelet.crt");
        let crt = crt.to_str().unwrap();
        assert!(openssl(&["verify", "-CAfile", ca, crt]).contains(": OK"));
        let text = openssl(&["x509", "-in", crt, "-noout", "-subject", "-ext", "subjectAltName,extendedKeyUsage"]);
        assert!(text.contains(&format!("CN = system:node:{node}")), "{text}");
        assert!(text.contains(&format!("DNS:{node}")), "{text}");
        assert!(text.contains("TLS Web Server Authentication") && !text.contains("Client"), "{text}");
        let key = rootfs.join("var/lib/kubelet/pki/kubelet.key");
        assert_eq!(files["var/lib/kubelet/pki/kubelet.key"].1, 0o600);
        let pubkey = |args: &[&str]| openssl(args);
        assert_eq!(
            pubkey(&["x509", "-in", crt, "-noout", "-pubkey"]),
            pubkey(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]),
            "{node}: key does not match"
        );
        // The kubelet's client identity in kubelet.conf.
        let kc = yaml_value(&fs::read_to_string(rootfs.join("etc/kubernetes/kubelet.conf")).unwrap());
        let der = kc["users"][0]["user"]["client-certificate-data"].as_str().unwrap();
        let pem = b.path(&format!("{node}-kubelet-client.crt"));
        use base64::Engine;
        fs::write(&pem, base64::engine::general_purpose::STANDARD.decode(der).unwrap()).unwrap();
        let pem = pem.to_str().unwrap();
        assert!(openssl(&["verify", "-CAfile", ca, pem]).contains(": OK"));
        let subject = openssl(&["x509", "-in", pem, "-noout", "-subject"]);
        assert!(subject.contains(&format!("O = system:nodes, CN = system:node:{node}")), "{subject}");
        if node.starts_with("worker") {
            let server = kc["clusters"][0]["cluster"]["server"].as_str().unwrap();
            assert_eq!(server, "https://api.example.internal:6443");
            let join = fs::read_to_string(rootfs.join("etc/kubebake/kubeadm-config.yaml")).unwrap();
            assert!(join.contains("kubeConfigPath: /etc/kubernetes/kubelet.conf"), "{join}");
            assert!(join.contains("FileAvailable--etc-kubernetes-kubelet.conf"), "{join}");
        }
    }
    let cm =
        fs::read_to_string(b.out().join("cp-2/rootfs/etc/kubebake/manifests/kube-controller-manager.yaml")).unwrap();
    assert!(cm.contains("- --cluster-signing-cert-file=\n") && cm.contains("- --cluster-signing-key-file=\n"), "{cm}");
    // The state keeps the CA keys: they are the operator's, to renew with.
    assert!(b.state().join("ca.key").exists());
}

#[test]
fn without_external_ca_the_control_planes_hold_the_ca_keys() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    assert!(b.out().join("cp-2/rootfs/etc/kubernetes/pki/ca.key").exists());
    assert!(!b.out().join("worker-1/rootfs/etc/kubernetes/kubelet.conf").exists());
    assert!(!b.out().join("worker-1/rootfs/var/lib/kubelet/pki/kubelet.crt").exists());
}
