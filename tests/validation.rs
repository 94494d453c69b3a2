//! Every validation rule: its bad input, the error a user sees (field path and line), and
//! proof that nothing was written.

mod common;

use common::*;

const BASE: &str = "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata:
  name: demo
spec:
  kubernetesVersion: v1.36.3
  controlPlaneEndpoint: 10.0.0.10:6443
  networking:
    podSubnet: 192.168.0.0/16
    serviceSubnet: 10.96.0.0/12
    dnsDomain: cluster.local
  pki:
    encryptionAlgorithm: ECDSA-P256
    certificateValidityPeriod: 8760h
    caCertificateValidityPeriod: 87600h
  join:
    tokenTTL: 24h
  nodes:
    - name: cp-1
      role: control-plane
      address: 10.0.0.11
    - name: worker-1
      role: worker
      address: 10.0.0.21
";

/// Bakes `spec`, expects failure with each of `expected` in stderr, and checks that no
/// state and no output appeared.
#[track_caller]
fn refused(spec: &str, expected: &[&str]) {
    let b = Bake::new(spec);
    let run = b.bake(&[]);
    assert!(!run.ok(), "accepted:\n{spec}");
    assert_eq!(run.output.status.code(), Some(2));
    for e in expected {
        assert!(run.stderr().contains(e), "expected {e:?} in:\n{}", run.stderr());
    }
    assert!(!b.out().exists(), "output written for an invalid spec");
    assert!(!b.state().exists(), "state written for an invalid spec");
    let entries: Vec<_> = std::fs::read_dir(b.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("cluster.yaml")], "stray files");
    // `validate` reports the same thing, also writing nothing.
    let v = b.run(&["validate", "cluster.yaml"]);
    assert!(!v.ok());
    for e in expected {
        assert!(v.stderr().contains(e), "validate: expected {e:?} in:\n{}", v.stderr());
    }
}

fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from} not in BASE");
    BASE.replacen(from, to, 1)
}

#[test]
fn the_base_spec_is_valid() {
    let b = Bake::new(BASE);
    b.bake(&[]).assert_ok();
    let v = b.run(&["validate", "cluster.yaml"]);
    v.assert_ok();
    assert!(
        v.stdout().contains(
            "valid: cluster \"demo\", Kubernetes v1.36.3, 1 control plane(s), 1 worker(s), endpoint 10.0.0.10:6443"
        ),
        "{}",
        v.stdout()
    );
}

#[test]
fn overlapping_pod_and_service_cidrs() {
    refused(
        &with("serviceSubnet: 10.96.0.0/12", "serviceSubnet: 192.168.128.0/20"),
        &[
            "cluster.yaml:line 10 column 20: spec.networking.serviceSubnet: 192.168.128.0/20 overlaps spec.networking.podSubnet 192.168.0.0/16",
        ],
    );
}

#[test]
fn a_node_address_inside_the_pod_or_service_range() {
    refused(
        &with("address: 10.0.0.21", "address: 192.168.4.7"),
        &["line 24 column 16: spec.nodes[1].address: 192.168.4.7 lies inside spec.networking.podSubnet 192.168.0.0/16"],
    );
    refused(
        &with("address: 10.0.0.21", "address: 10.96.0.7"),
        &["spec.nodes[1].address: 10.96.0.7 lies inside spec.networking.serviceSubnet 10.96.0.0/12"],
    );
}

#[test]
fn the_default_pod_range_is_checked_too() {
    // Home networks often use 192.168.x.x, which is also Calico's default pod range.
    let spec = with("    podSubnet: 192.168.0.0/16\n", "").replace("10.0.0.21", "192.168.1.21");
    refused(&spec, &["spec.nodes[1].address: 192.168.1.21 lies inside spec.networking.podSubnet 192.168.0.0/16"]);
}

#[test]
fn duplicate_node_names_and_addresses() {
    refused(
        &with("name: worker-1", "name: cp-1"),
        &["line 22 column 13: spec.nodes[1].name: \"cp-1\" is already the name of spec.nodes[0]"],
    );
    refused(
        &with("address: 10.0.0.21", "address: 10.0.0.11"),
        &["spec.nodes[1].address: 10.0.0.11 is already the address of spec.nodes[0]"],
    );
}

#[test]
fn names_must_be_dns_1123_labels() {
    for bad in ["Worker_1", "-worker", "worker.one", &"w".repeat(64)] {
        refused(&with("name: worker-1", &format!("name: {bad}")), &["spec.nodes[1].name:", "is not a DNS-1123 label"]);
    }
    refused(&with("name: demo", "name: Demo"), &["line 4 column 9: metadata.name: \"Demo\" is not a DNS-1123 label"]);
}

#[test]
fn a_cluster_needs_a_control_plane() {
    refused(&with("role: control-plane", "role: worker"), &["spec.nodes: has no node with role control-plane"]);
    refused(
        &with("role: worker", "role: master"),
        &["line 23 column 13: spec.nodes[1].role: \"master\" is not a role (control-plane or worker)"],
    );
    let no_nodes = BASE.split("  nodes:\n").next().unwrap().to_string() + "  nodes: []\n";
    refused(&no_nodes, &["spec.nodes: lists no nodes"]);
}

#[test]
fn malformed_endpoints() {
    for (bad, why) in [
        ("10.0.0.10:65536", "the port must be a number from 1 to 65535"),
        ("10.0.0.10:http", "the port must be a number"),
        ("api_server.example.com", "is not a DNS-1123 subdomain"),
        ("[10.0.0.10]:6443", "brackets are only for IPv6 addresses"),
    ] {
        refused(
            &with("controlPlaneEndpoint: 10.0.0.10:6443", &format!("controlPlaneEndpoint: \"{bad}\"")),
            &["line 7 column 25: spec.controlPlaneEndpoint:", why],
        );
    }
}

#[test]
fn an_endpoint_no_control_plane_serves() {
    refused(
        &with("controlPlaneEndpoint: 10.0.0.10:6443", "controlPlaneEndpoint: 10.0.0.21:6443"),
        &["spec.controlPlaneEndpoint: 10.0.0.21 is the address of worker \"worker-1\", which serves no API server"],
    );
    refused(
        &with("controlPlaneEndpoint: 10.0.0.10:6443", "controlPlaneEndpoint: 10.0.0.11:443"),
        &["spec.controlPlaneEndpoint: 10.0.0.11 is control plane \"cp-1\", whose API server listens on 6443, not 443"],
    );
}

#[test]
fn malformed_addresses_and_cidrs() {
    refused(
        &with("address: 10.0.0.21", "address: 10.0.0.300"),
        &["line 24 column 16: spec.nodes[1].address: \"10.0.0.300\" is not an IP address"],
    );
    refused(
        &with("podSubnet: 192.168.0.0/16", "podSubnet: 192.168.0.0/33"),
        &["spec.networking.podSubnet: \"192.168.0.0/33\" is not a CIDR"],
    );
    refused(
        &with("podSubnet: 192.168.0.0/16", "podSubnet: 192.168.1.0/16"),
        &["192.168.1.0/16 has host bits set; did you mean 192.168.0.0/16?"],
    );
    refused(
        &with("serviceSubnet: 10.96.0.0/12", "serviceSubnet: 10.0.0.0/8"),
        &["spec.networking.serviceSubnet: 10.0.0.0/8 is too large"],
    );
    refused(
        &with("podSubnet: 192.168.0.0/16", "podSubnet: 192.168.0.0/26"),
        &["is smaller than one node's /24 pod range"],
    );
}

#[test]
fn malformed_durations() {
    refused(
        &with("tokenTTL: 24h", "tokenTTL: 1d"),
        &["line 17 column 15: spec.join.tokenTTL: \"1d\" is not a duration"],
    );
    refused(
        &with("certificateValidityPeriod: 8760h", "certificateValidityPeriod: 0"),
        &["spec.pki.certificateValidityPeriod: must be longer than zero"],
    );
    refused(
        &with("certificateValidityPeriod: 8760h", "certificateValidityPeriod: 876000h"),
        &["certificates would outlive their CA"],
    );
}

#[test]
fn unsupported_versions_and_algorithms() {
    refused(
        &with("kubernetesVersion: v1.36.3", "kubernetesVersion: v1.28.0"),
        &[
            "line 6 column 22: spec.kubernetesVersion: v1.28.0 is not supported; kubebake supports v1.33.x, v1.34.x, v1.35.x, v1.36.x",
        ],
    );
    refused(
        &with("kubernetesVersion: v1.36.3", "kubernetesVersion: stable"),
        &["\"stable\" is not a Kubernetes release version"],
    );
    refused(
        &with("encryptionAlgorithm: ECDSA-P256", "encryptionAlgorithm: ED25519"),
        &["\"ED25519\" is not one of kubeadm's algorithms (RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384)"],
    );
}

#[test]
fn every_supported_minor_validates_and_the_newest_is_the_default() {
    for m in kubebake::versions::MINORS {
        for patch in [0, m.proven_patch, 99] {
            let v = format!("v1.{}.{patch}", m.minor);
            let b = Bake::new(&with("kubernetesVersion: v1.36.3", &format!("kubernetesVersion: {v}")));
            let run = b.run(&["validate", "cluster.yaml"]);
            run.assert_ok();
            assert!(run.stdout().contains(&format!("Kubernetes {v},")), "{}", run.stdout());
        }
    }
    let b = Bake::new(&with("  kubernetesVersion: v1.36.3\n", ""));
    let run = b.run(&["validate", "cluster.yaml"]);
    run.assert_ok();
    assert!(run.stdout().contains(&format!("Kubernetes {},", default_version())), "{}", run.stdout());
}

#[test]
fn a_minor_past_its_end_of_life_is_baked_with_a_warning() {
    let b = Bake::new(&with("kubernetesVersion: v1.36.3", "kubernetesVersion: v1.33.3"));
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(
        run.stderr().contains(
            "spec.kubernetesVersion: Kubernetes 1.33 reached its end of life on 2026-06-28 and gets no more fixes upstream"
        ),
        "{}",
        run.stderr()
    );
}

#[test]
fn dual_stack_and_mixed_families_are_refused_clearly() {
    refused(
        &with("podSubnet: 192.168.0.0/16", "podSubnet: 192.168.0.0/16,fd00:10:244::/56"),
        &["dual-stack is not supported"],
    );
    refused(
        &with("address: 10.0.0.21", "address: fd00::21"),
        &["spec.nodes[1].address: fd00::21 is not of the same IP family"],
    );
}

#[test]
fn unknown_and_missing_fields_name_the_line() {
    refused(
        &with("    dnsDomain: cluster.local\n", "    dnsDomain: cluster.local\n    podCIDR: 10.0.0.0/8\n"),
        &["line 12 column 5: spec.networking: unknown field `podCIDR`"],
    );
    refused(&with("  nodes:\n", "  workers:\n"), &["spec: unknown field `workers`"]);
    refused(
        &with("apiVersion: kubebake.io/v1alpha1", "apiVersion: kubebake.io/v2"),
        &["line 1 column 13: apiVersion: must be kubebake.io/v1alpha1"],
    );
    refused("spec: [unclosed", &["cluster.yaml:line 1"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let spec = with("serviceSubnet: 10.96.0.0/12", "serviceSubnet: 192.168.0.0/20")
        .replace("tokenTTL: 24h", "tokenTTL: soon")
        .replace("name: worker-1", "name: cp-1")
        .replace("address: 10.0.0.21", "address: nowhere");
    refused(
        &spec,
        &[
            "is not a valid cluster spec (4 problems)",
            "line 10 column 20: spec.networking.serviceSubnet",
            "line 17 column 15: spec.join.tokenTTL",
            "line 22 column 13: spec.nodes[1].name",
            "line 24 column 16: spec.nodes[1].address",
        ],
    );
}

#[test]
fn loopback_addresses_are_accepted_with_a_warning() {
    let spec = BASE
        .replace("10.0.0.10:6443", "127.0.0.11:6443")
        .replace("10.0.0.11", "127.0.0.11")
        .replace("10.0.0.21", "127.0.0.21");
    let b = Bake::new(&spec);
    let run = b.bake(&[]);
    run.assert_ok();
    assert!(
        run.stderr().contains(
            "warning: cluster.yaml:line 21 column 16: spec.nodes[0].address: 127.0.0.11 is a loopback address"
        ),
        "{}",
        run.stderr()
    );
}

#[test]
fn virtual_ip_rules() {
    let vip = |v: &str| BASE.replace("  controlPlaneEndpoint: 10.0.0.10:6443\n", &format!("  vip: {v}\n"));
    refused(
        &vip("{address: 10.0.0.21, interface: eth0}"),
        &["spec.vip.address: 10.0.0.21 is the address of node \"worker-1\""],
    );
    refused(
        &vip("{address: 192.168.7.7, interface: eth0}"),
        &["spec.vip.address: 192.168.7.7 lies inside spec.networking.podSubnet"],
    );
    refused(&vip("{address: ten, interface: eth0}"), &["spec.vip.address: \"ten\" is not a usable IP address"]);
    refused(
        &vip("{address: 10.0.0.10, interface: 'a very long interface'}"),
        &["spec.vip.interface:", "is not a network interface name"],
    );
    refused(&vip("{address: 10.0.0.10, interface: eth0, image: 'https://x/kube-vip'}"), &["spec.vip.image:"]);
    refused(&vip("{address: 10.0.0.10}"), &["spec.vip: missing field `interface`"]);
    // An explicit IP endpoint must be the VIP.
    let both = BASE.replace(
        "  controlPlaneEndpoint: 10.0.0.10:6443\n",
        "  controlPlaneEndpoint: 10.0.0.9:6443\n  vip: {address: 10.0.0.10, interface: eth0}\n",
    );
    refused(&both, &["spec.controlPlaneEndpoint: 10.0.0.9 is not the virtual IP 10.0.0.10"]);
}

#[test]
fn cni_rules() {
    let cni = |c: &str| BASE.replace("  join:\n", &format!("  cni: {c}\n  join:\n"));
    refused(
        &cni("{plugin: flannel}"),
        &["spec.cni.plugin: \"flannel\" is not supported (calico, or none to install your own)"],
    );
    refused(&cni("{mode: helm}"), &["spec.cni.mode: \"helm\" is not a mode (operator or manifest)"]);
    refused(
        &cni("{encapsulation: GRE}"),
        &["spec.cni.encapsulation: \"GRE\" is not one of VXLANCrossSubnet, VXLAN, IPIP, IPIPCrossSubnet, None"],
    );
    refused(&cni("{version: '3.30'}"), &["spec.cni.version: \"3.30\" is not a Calico release like v3.30.3"]);
    refused(&cni("{mtu: 100}"), &["spec.cni.mtu: 100 is not an MTU between 576 and 9000"]);
    refused(&cni("{mode: manifest, mtu: 1450}"), &["spec.cni.mtu: is set through the operator's Installation"]);
    refused(
        &cni("{manifest: {url: 'ftp://x/y.yaml'}}"),
        &["spec.cni.manifest.url: \"ftp://x/y.yaml\" is not an http(s) URL"],
    );
    refused(
        &cni("{manifest: {url: 'https://x/y.yaml', file: y.yaml}}"),
        &["spec.cni.manifest: give either url or file, not both"],
    );
    refused(&cni("{manifest: {file: missing.yaml}}"), &["spec.cni.manifest.file: cannot read"]);
    refused(&cni("{manifest: {sha256: abc}}"), &["spec.cni.manifest.sha256: \"abc\" is not a SHA-256 in hex"]);
    refused(&cni("{registry: 'https://registry.internal'}"), &["spec.cni.registry:"]);
    // `none` leaves the CNI to the operator.
    let b = Bake::new(&cni("{plugin: none}"));
    b.bake(&[]).assert_ok();
    assert!(!b.node_file("cp-1", "/etc/kubebake/calico").exists());
}

#[test]
fn extra_args_and_image_repository_rules() {
    let args = BASE.replace("  join:\n", "  apiServer:\n    extraArgs: {--v: 2}\n  join:\n");
    refused(&args, &["spec.apiServer.extraArgs.--v: write the flag without its dashes: v"]);
    let args = BASE.replace("  join:\n", "  etcd:\n    extraArgs: {'bad flag': x}\n  join:\n");
    refused(&args, &["spec.etcd.extraArgs.bad flag: \"bad flag\" is not a flag name"]);
    let args = BASE.replace("  join:\n", "  scheduler:\n    extraArgs: {v: [1, 2]}\n  join:\n");
    refused(&args, &["spec.scheduler.extraArgs.v: must be a single value"]);
    let repo = BASE.replace("  join:\n", "  imageRepository: 'https://registry.internal/'\n  join:\n");
    refused(&repo, &["spec.imageRepository: \"https://registry.internal/\" is not a registry or image reference"]);
    let timeout = BASE.replace("tokenTTL: 24h", "tokenTTL: 24h\n    timeout: forever");
    refused(&timeout, &["spec.join.timeout: \"forever\" is not a duration"]);
}

#[test]
fn ignored_preflight_checks_must_be_check_names_and_reach_every_node() {
    refused(
        &BASE.replace("  nodes:\n", "  ignorePreflightErrors: [NumCPU, \"all; rm -rf /\"]\n  nodes:\n"),
        &["line 18 column 35: spec.ignorePreflightErrors[1]: \"all; rm -rf /\" is not a kubeadm preflight check name"],
    );
    let b = Bake::new(&BASE.replace("  nodes:\n", "  ignorePreflightErrors: [NumCPU, Mem, NumCPU]\n  nodes:\n"));
    b.bake(&[]).assert_ok();
    for node in ["cp-1", "worker-1"] {
        let config = std::fs::read_to_string(b.node_file(node, "/etc/kubebake/kubeadm-config.yaml")).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(config.split("---\n").next().unwrap()).unwrap();
        let ignored: Vec<&str> = doc["nodeRegistration"]["ignorePreflightErrors"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(ignored.ends_with(&["Mem", "NumCPU"]), "{node}: {ignored:?}");
    }
}

#[test]
fn a_low_order_age_recipient_is_refused() {
    // The all-zero X25519 point: anything sealed to it opens with a shared secret of zero.
    // age refuses it ("low order point"); here it once passed validation and the bake died.
    let zero = "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5cu47z";
    refused(
        &format!("{BASE}  secrets:\n    encryptTo: {zero}\n"),
        &[&format!("line 26 column 16: spec.secrets.encryptTo: \"{zero}\" is a low-order X25519 point")],
    );
}
