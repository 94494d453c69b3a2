//! Static pod manifests, kubeadm and kubelet configuration against kubeadm v1.33.3's.

mod common;

use std::fs;
use std::path::Path;

use common::*;

fn read_yaml(path: &Path) -> serde_yaml::Value {
    serde_yaml::from_str(&fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn manifests_equal_kubeadms() {
    let b = Bake::new(&reference_spec("RSA-2048"));
    b.bake(&[]).assert_ok();
    for name in ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"] {
        let ours = read_yaml(&b.node_file("cp-1", &format!("/etc/kubernetes/manifests/{name}.yaml")));
        let theirs = read_yaml(&Path::new(REFERENCE).join(format!("manifests/{name}.yaml")));
        let diff = yaml_differences(&ours, &theirs);
        assert!(diff.is_empty(), "{name}.yaml differs from kubeadm's:\n{}", diff.join("\n"));
        // And byte for byte, so `kubeadm upgrade` finds nothing to change.
        assert_eq!(
            fs::read_to_string(b.node_file("cp-1", &format!("/etc/kubernetes/manifests/{name}.yaml"))).unwrap(),
            fs::read_to_string(Path::new(REFERENCE).join(format!("manifests/{name}.yaml"))).unwrap(),
            "{name}.yaml"
        );
    }
}

#[test]
fn the_comparison_names_a_differing_flag() {
    // The check above can fail: a changed flag is reported by name.
    let theirs = read_yaml(&Path::new(REFERENCE).join("manifests/kube-apiserver.yaml"));
    let text = fs::read_to_string(Path::new(REFERENCE).join("manifests/kube-apiserver.yaml")).unwrap();
    let ours: serde_yaml::Value =
        serde_yaml::from_str(&text.replace("--secure-port=6443", "--secure-port=443")).unwrap();
    let diff = yaml_differences(&ours, &theirs);
    assert_eq!(diff, vec![".spec.containers[0].command.--secure-port: ours is '443', kubeadm's is '6443'"]);
}

#[test]
fn every_manifest_parses_as_a_v1_pod() {
    let spec = ha_spec(1, "ECDSA-P256").replace(
        "  controlPlaneEndpoint: api.example.internal:6443\n",
        "  vip: {address: 10.0.0.10, interface: eth0}\n",
    );
    let b = Bake::new(&spec);
    b.bake(&[]).assert_ok();
    let mut seen = 0;
    for node in ["cp-1", "cp-2", "cp-3"] {
        for entry in fs::read_dir(b.node_file(node, "/etc/kubernetes/manifests")).unwrap() {
            let text = fs::read_to_string(entry.unwrap().path()).unwrap();
            let pod: k8s_openapi::api::core::v1::Pod = serde_yaml::from_str(&text).unwrap();
            let spec = pod.spec.unwrap();
            assert!(spec.host_network.unwrap());
            assert_eq!(spec.containers.len(), 1);
            seen += 1;
        }
    }
    assert_eq!(seen, 3 * 5);
}

/// The reference spec with kubeadm.yaml's token, so configuration files can be compared.
fn reference_bake() -> Bake {
    let spec = reference_spec("RSA-2048")
        .replace("  nodes:\n", "  nodes:\n    - {name: worker-1, role: worker, address: 203.0.113.21}\n");
    let b = Bake::new(&spec);
    std::fs::create_dir_all(b.state()).unwrap();
    b.bake(&[]).assert_ok();
    // Swap in the reference's token and bake again: everything token-bearing follows.
    std::fs::write(b.state().join("token"), "abcdef.0123456789abcdef\n").unwrap();
    b.bake(&[]).assert_ok();
    b
}

#[test]
fn kubelet_configuration_and_flags_equal_kubeadms() {
    let b = reference_bake();
    let reference = Path::new(REFERENCE);
    // Byte for byte: the kubelet's own config, on control planes and workers alike.
    for node in ["cp-1", "worker-1"] {
        assert_eq!(
            fs::read_to_string(b.node_file(node, "/var/lib/kubelet/config.yaml")).unwrap(),
            fs::read_to_string(reference.join("kubelet/config.yaml")).unwrap(),
            "{node}: kubelet config.yaml"
        );
    }
    assert_eq!(
        fs::read_to_string(b.node_file("cp-1", "/var/lib/kubelet/kubeadm-flags.env")).unwrap(),
        fs::read_to_string(reference.join("kubelet/kubeadm-flags.env")).unwrap()
    );
    assert_eq!(
        fs::read_to_string(b.node_file("worker-1", "/var/lib/kubelet/kubeadm-flags.env")).unwrap(),
        fs::read_to_string(reference.join("join/kubeadm-flags.env")).unwrap()
    );
    // What kubeadm uploads as the kubelet-config ConfigMap is the same document.
    let cm = read_yaml(&reference.join("cluster-objects/kubelet-config-configmap.yaml"));
    let uploaded: serde_yaml::Value = serde_yaml::from_str(cm["data"]["kubelet"].as_str().unwrap()).unwrap();
    let ours = read_yaml(&b.node_file("cp-1", "/var/lib/kubelet/config.yaml"));
    assert_eq!(yaml_differences(&ours, &uploaded), Vec::<String>::new());
}

/// Splits a multi-document YAML file into its documents.
fn documents(text: &str) -> Vec<serde_yaml::Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text).map(|d| serde_yaml::Value::deserialize(d).unwrap()).collect()
}

#[test]
fn kubeadm_configuration_equals_what_kubeadm_uploads() {
    let b = reference_bake();
    let reference = Path::new(REFERENCE);
    let text = fs::read_to_string(b.node_file("cp-1", "/etc/kubebake/kubeadm-config.yaml")).unwrap();
    let docs = documents(&text);
    assert_eq!(docs.len(), 2);
    let (init, cluster) = (&docs[0], &docs[1]);
    // ClusterConfiguration: field for field what kubeadm stored in the kubeadm-config ConfigMap.
    let cm = read_yaml(&reference.join("cluster-objects/kubeadm-config-configmap.yaml"));
    let uploaded: serde_yaml::Value =
        serde_yaml::from_str(cm["data"]["ClusterConfiguration"].as_str().unwrap()).unwrap();
    assert_eq!(yaml_differences(cluster, &uploaded), Vec::<String>::new());
    // InitConfiguration: the reference's token, TTL, usages, groups, node and endpoint.
    let input = documents(&fs::read_to_string(reference.join("kubeadm.yaml")).unwrap());
    let theirs = &input[0];
    assert_eq!(init["kind"], "InitConfiguration");
    assert_eq!(init["bootstrapTokens"], theirs["bootstrapTokens"]);
    assert_eq!(init["localAPIEndpoint"], theirs["localAPIEndpoint"]);
    assert_eq!(init["nodeRegistration"]["name"], theirs["nodeRegistration"]["name"]);
    assert_eq!(init["nodeRegistration"]["criSocket"], theirs["nodeRegistration"]["criSocket"]);
    // Joiners: token discovery pinned to the CA.
    let join =
        &documents(&fs::read_to_string(b.node_file("worker-1", "/etc/kubebake/kubeadm-config.yaml")).unwrap())[0];
    assert_eq!(join["kind"], "JoinConfiguration");
    let discovery = &join["discovery"]["bootstrapToken"];
    assert_eq!(discovery["token"], "abcdef.0123456789abcdef");
    assert_eq!(discovery["apiServerEndpoint"], "127.0.0.1:6443");
    let pin = fs::read_to_string(reference.join("discovery-token-ca-cert-hash.txt")).unwrap();
    let ours_pin =
        kubebake::pki::ca_cert_hash(&::pem::parse(fs::read(b.pki("cp-1", "ca.crt")).unwrap()).unwrap().into_contents())
            .unwrap();
    assert_eq!(discovery["caCertHashes"][0].as_str().unwrap(), ours_pin);
    assert!(pin.starts_with("sha256:"));
    assert!(join["controlPlane"].is_null(), "a worker joins without controlPlane");
}
