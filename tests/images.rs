//! `kubebake images`: kubeadm's part equals kubeadm's own list (the reference run's, and
//! the e2e kit's kubeadm for other repositories when present); kube-vip and Calico's
//! images follow the spec's choices.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

fn spec(extra: &str) -> String {
    format!(
        "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata: {{name: images}}
spec:
{extra}  nodes:
    - {{name: cp-1, role: control-plane, address: 10.0.0.11}}
"
    )
}

fn images(b: &Bake) -> Vec<String> {
    let run = b.run(&["images", "cluster.yaml"]);
    run.assert_ok();
    run.stdout().lines().map(String::from).collect()
}

#[test]
fn kubeadms_part_is_kubeadms_list_and_calicos_follows_the_operator() {
    let b = Bake::new(&spec(""));
    let list = images(&b);
    let reference = fs::read_to_string(Path::new(REFERENCE).join("images.txt")).unwrap();
    let reference: Vec<&str> = reference.lines().collect();
    assert_eq!(list[..7], reference[..]);
    if let Some(theirs) = kit_kubeadm_images(&[]) {
        assert_eq!(list[..7].join("\n"), theirs.trim_end());
    }
    assert_eq!(
        list[7..],
        [
            "quay.io/tigera/operator:v1.38.6",
            "docker.io/calico/node:v3.30.3",
            "docker.io/calico/cni:v3.30.3",
            "docker.io/calico/kube-controllers:v3.30.3",
            "docker.io/calico/typha:v3.30.3",
            "docker.io/calico/pod2daemon-flexvol:v3.30.3",
            "docker.io/calico/csi:v3.30.3",
            "docker.io/calico/node-driver-registrar:v3.30.3",
            "docker.io/calico/apiserver:v3.30.3",
        ]
    );
    // JSON says where each comes from.
    let run = b.run(&["images", "cluster.yaml", "--json"]);
    run.assert_ok();
    let json: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(json["images"][0]["source"], "kubeadm");
    assert_eq!(json["images"][7]["source"], "calico");
    assert_eq!(json["images"].as_array().unwrap().len(), list.len());
}

#[test]
fn a_private_repository_moves_every_image_as_kubeadm_moves_its_own() {
    let b = Bake::new(&spec(
        "  imageRepository: registry.internal/k8s\n  cni: {plugin: calico, mode: manifest, registry: registry.internal}\n  \
         vip: {address: 10.0.0.10, interface: eth0}\n",
    ));
    let list = images(&b);
    // kubeadm drops CoreDNS's extra path segment outside registry.k8s.io.
    let coredns = kubebake::model::versions::DEFAULT_VERSION.kubeadm().coredns;
    assert_eq!(list[4], format!("registry.internal/k8s/coredns:{coredns}"));
    assert_eq!(list[7], "ghcr.io/kube-vip/kube-vip:v0.9.2");
    assert_eq!(
        list[list.len() - 3..],
        [
            "registry.internal/calico/cni:v3.30.3",
            "registry.internal/calico/node:v3.30.3",
            "registry.internal/calico/kube-controllers:v3.30.3"
        ]
    );
    if let Some(theirs) = kit_kubeadm_images(&["--image-repository", "registry.internal/k8s"]) {
        assert_eq!(list[..7].join("\n"), theirs.trim_end());
    }
}

/// `kubeadm config images list` for the default version from its e2e kit's kubeadm, when present.
fn kit_kubeadm_images(extra: &[&str]) -> Option<String> {
    let Some(kit) = kits::default_kit() else {
        println!("kubeadm check not run: no e2e kit of {} (kits::kit_dirs)", default_version());
        return None;
    };
    let kubeadm = kit.dir.join("bin/kubeadm");
    Some(run_ok(
        Command::new(kubeadm).args(["config", "images", "list", "--kubernetes-version", &kit.version]).args(extra),
    ))
}

#[test]
fn every_minors_kubeadm_images_are_its_kubeadms_list() {
    for (version, reference) in REFERENCES {
        let b = Bake::new(&spec(&format!("  kubernetesVersion: {version}\n  cni: {{plugin: none}}\n")));
        let reference = fs::read_to_string(Path::new(reference).join("images.txt")).unwrap();
        assert_eq!(images(&b), reference.lines().collect::<Vec<_>>(), "{version}");
    }
}

#[test]
fn a_local_manifest_names_its_own_images_and_no_cni_none() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/calico-operator-stand-in.yaml");
    let b = Bake::new(&spec(&format!("  cni: {{plugin: calico, manifest: {{file: {manifest}}}}}\n")));
    let list = images(&b);
    // The stand-in's operator runs the pause image, already in kubeadm's part: listed once,
    // and no operator image is guessed from the version.
    let pause = format!("registry.k8s.io/pause:{}", kubebake::model::versions::DEFAULT_VERSION.kubeadm().pause);
    assert_eq!(list.iter().filter(|i| **i == pause).count(), 1, "{list:?}");
    assert!(!list.iter().any(|i| i.contains("tigera/operator")), "{list:?}");
    assert_eq!(list.len(), 7 + 8);
    let none = Bake::new(&spec("  cni: {plugin: none}\n"));
    assert_eq!(images(&none).len(), 7);
}

#[test]
fn an_unknown_calico_release_is_refused_naming_the_field() {
    let b = Bake::new(&spec("  cni: {plugin: calico, version: v3.29.9}\n"));
    let run = b.run(&["images", "cluster.yaml"]);
    assert_eq!(run.output.status.code(), Some(2));
    assert!(run.stderr().starts_with("error: spec.cni.version: kubebake does not know"), "{}", run.stderr());
    assert!(run.stdout().is_empty());
}

#[test]
fn a_calico_registry_moves_the_operator_too_and_first_boot_pulls_from_it() {
    let b = Bake::new(&spec("  cni: {plugin: calico, registry: mirror.internal:5000/mirror}\n"));
    let list = images(&b);
    let upstream: Vec<&String> =
        list.iter().filter(|i| i.starts_with("quay.io/") || i.starts_with("docker.io/")).collect();
    assert!(upstream.is_empty(), "{upstream:?}");
    assert_eq!(list[7], "mirror.internal:5000/mirror/tigera/operator:v1.38.6");
    assert!(list[8..].iter().all(|i| i.starts_with("mirror.internal:5000/mirror/calico/")), "{list:?}");

    // The first-boot script's sed rewrites the operator's manifest the same way.
    let Some(sed) = tool("sed", "sed") else { return };
    b.bake(&[]).assert_ok();
    let script = fs::read_to_string(b.node_file("cp-1", "/opt/kubebake/firstboot.sh")).unwrap();
    let line = script.lines().find(|l| l.trim_start().starts_with("sed -i 's#image: docker[.]io")).expect(&script);
    let program = line.trim_start().strip_prefix("sed -i '").unwrap().split('\'').next().unwrap();
    let manifest = "      image: quay.io/tigera/operator:v1.38.6\n      image: docker.io/calico/node:v3.30.3\n";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tigera-operator.yaml");
    fs::write(&file, manifest).unwrap();
    assert!(Command::new(sed).args(["-i", program]).arg(&file).status().unwrap().success());
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "      image: mirror.internal:5000/mirror/tigera/operator:v1.38.6\n      image: mirror.internal:5000/mirror/calico/node:v3.30.3\n"
    );
}
