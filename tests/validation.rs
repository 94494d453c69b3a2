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
    refused_with_files(spec, &[], expected);
}

/// Like [`refused`], with `files` (name, text) beside the spec, such as a profile file.
#[track_caller]
fn refused_with_files(spec: &str, files: &[(&str, &str)], expected: &[&str]) {
    let b = Bake::new(spec);
    for (name, text) in files {
        std::fs::write(b.path(name), text).unwrap();
    }
    let run = b.bake(&[]);
    assert!(!run.ok(), "accepted:\n{spec}");
    assert_eq!(run.output.status.code(), Some(2));
    for e in expected {
        assert!(run.stderr().contains(e), "expected {e:?} in:\n{}", run.stderr());
    }
    assert!(!b.out().exists(), "output written for an invalid spec");
    assert!(!b.state().exists(), "state written for an invalid spec");
    let mut entries: Vec<_> = std::fs::read_dir(b.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    entries.sort();
    let mut expected_entries: Vec<std::ffi::OsString> =
        files.iter().map(|(n, _)| n.into()).chain(["cluster.yaml".into()]).collect();
    expected_entries.sort();
    assert_eq!(entries, expected_entries, "stray files");
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
    for m in kubebake::model::versions::MINORS {
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
        &[
            "spec.cni.manifest.url: \"ftp://x/y.yaml\" is not an https URL (http only with a sha256 that checks the download) with no user name or password: the scheme is ftp",
        ],
    );
    refused(
        &cni("{manifest: {url: 'https://x/y.yaml', file: y.yaml}}"),
        &["spec.cni.manifest: give either url or file, not both"],
    );
    refused(&cni("{manifest: {file: missing.yaml}}"), &["spec.cni.manifest.file: cannot read"]);
    refused(
        &cni("{manifest: {sha256: abc}}"),
        &["spec.cni.manifest.sha256: \"abc\" is not a SHA-256: 64 lower-case hex digits"],
    );
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
    refused(&repo, &["spec.imageRepository: \"https://registry.internal/\" is not an image repository"]);
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
        let doc = yaml_value(config.split("---\n").next().unwrap());
        let ignored: Vec<&str> = doc["nodeRegistration"]["ignorePreflightErrors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(ignored.ends_with(&["Mem", "NumCPU"]), "{node}: {ignored:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Grammars (issue 21): every free-text field of the spec and of a profile file says what
// it may hold; a value outside it is refused with the field, the rule, its line and column.

/// BASE with `lines` (YAML under `spec:`, without a final newline) added at line 16, and
/// "line L column C" of where `value`, which `lines` holds once, starts.
fn spec_with(lines: &str, value: &str) -> (String, String) {
    assert_eq!(lines.matches(value).count(), 1, "{value:?} once in {lines:?}");
    let before = &lines[..lines.find(value).unwrap()];
    let line = 16 + before.matches('\n').count();
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    (with("  join:\n", &format!("{lines}\n  join:\n")), format!("line {line} column {column}"))
}

/// `kubebake validate` accepts `spec` (with `files` beside it).
#[track_caller]
fn accepted(spec: &str, files: &[(&str, &str)]) {
    let b = Bake::new(spec);
    for (name, text) in files {
        std::fs::write(b.path(name), text).unwrap();
    }
    let run = b.run(&["validate", "cluster.yaml"]);
    assert!(run.ok(), "refused:\n{spec}\n{}", run.stderr());
}

/// Each of `bad` in `lines` (where it replaces `{}`) is refused at its position, naming
/// `field` and `rule`; each of `good` is accepted.
#[track_caller]
fn grammar(lines: &str, field: &str, rule: &str, good: &[&str], bad: &[&str]) {
    grammar_at(lines, None, field, rule, good, bad);
}

/// Like [`grammar`], for a value that is a mapping's key: the problem is where `at` (the
/// key's value) is, and `field` is the mapping's path, which the key (unquoted) follows.
#[track_caller]
fn grammar_at(lines: &str, at: Option<&str>, field: &str, rule: &str, good: &[&str], bad: &[&str]) {
    for value in good {
        accepted(&spec_with(&lines.replace("{}", value), at.unwrap_or(value)).0, &[]);
    }
    for value in bad {
        let (spec, pos) = spec_with(&lines.replace("{}", value), at.unwrap_or(value));
        let field = if at.is_some() { field.to_string() } else { format!("{field}: ") };
        refused(&spec, &[&format!("cluster.yaml:{pos}: {field}"), rule]);
    }
}

const AGE_RECIPIENT: &str = "age1pce3h48yq6wxkgfcdhyefu4my9lycys3jyun7rexs0e9h05j0alqzx27te";
const ED25519: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIDq0bPbBsOTVJbnS9PzWSk9IeJrn0RjxwMmfQjvbSlQe";
/// ssh-keygen -t ecdsa -b 256 and -t rsa -b 2048, public halves.
const ECDSA: &str = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCDAQqm9cesq5MCC9pCQztkiVZPmBEZbFJnqq4Px+WnPR+FZyRW1bXzjzZHBRISd0NNY0qAPtEDgwJZfd2dVnv4=";
const RSA: &str = "AAAAB3NzaC1yc2EAAAADAQABAAABAQCuSIgNlYsePpuX+MbnvuJUrLdxCOSIDlDf1OXr+xue4d3vXk4xjpsWZD3kdEUUMvdc/D8ShiX9C6ntVNwtJE9Rne9sOjcszAsBMYARPAWT70qBMpH8TFYnGeXbnlk30USv/xcKuXXHIEIwU8hkh2sVNOhlmGu2XVAjbBM6Uj3KNjuxvJRbkVhpm3+3Bsx/Rd1WWF0wCYt/mC3yECtr5q2oD0iJX4v2U13nJHz19LVFziwQxx0ZVrQ7UrtUuJVtNrG4iPpwWquUlnol6OuLmheVo3/fUlwlHN+pNJB9qfX6mTVSZ1P+UFzUIftZDrdjPAtfQZ0DSKdwpD1BzdiaNucH";

#[test]
fn issue_21_the_values_that_reached_scripts_and_units_are_refused_all_at_once() {
    let spec = with(
        "  join:\n",
        concat!(
            "  imageRepository: 'reg.example.com/k8s\"x'\n",
            "  vip: {address: 10.0.0.10, interface: eth0, image: 'ghcr.io/kube-vip/kube-vip:v0.9.2\"'}\n",
            "  cni:\n",
            "    registry: 'registry.example.com/calico\"x'\n",
            "    manifest: {url: \"https://example.com/x.yaml';touch${IFS}/tmp/A;'\"}\n",
            "  secrets:\n",
            "    encryptTo: age1pce3h48yq6wxkgfcdhyefu4my9lycys3jyun7rexs0e9h05j0alqzx27te\n",
            "    identity: /etc/kubebake/age$(touch${IFS}/tmp/C).key\n",
            "  nodeNetwork: {interface: \"e\\n[Route]\\nX=1\", prefixLength: 24, gateway: 10.0.0.1}\n",
            "  registryMirrors:\n",
            "    'reg\"x.example.com': [https://mirror.example.com]\n",
            "    '..': [https://mirror.example.com]\n",
            "  join:\n",
        ),
    );
    refused(
        &spec,
        &[
            "is not a valid cluster spec (8 problems)",
            "cluster.yaml:line 16 column 20: spec.imageRepository: \"reg.example.com/k8s\\\"x\" is not an image repository \
             ([host[:port]/]path of the OCI distribution grammar: ",
            "its path component \"k8s\\\"x\" is not lower-case letters and digits joined by '.', '_', '__' or '-'",
            "cluster.yaml:line 17 column 53: spec.vip.image: \"ghcr.io/kube-vip/kube-vip:v0.9.2\\\"\" is not an image \
             reference (name[:tag][@digest], the name [host[:port]/]path of the OCI distribution grammar",
            "its tag \"v0.9.2\\\"\" is not one",
            "cluster.yaml:line 19 column 15: spec.cni.registry: \"registry.example.com/calico\\\"x\" is not an image repository",
            "cluster.yaml:line 20 column 21: spec.cni.manifest.url: \"https://example.com/x.yaml';touch${IFS}/tmp/A;'\" is \
             not an https URL (http only with a sha256 that checks the download) with no user name or password: \"'\" is \
             not one of RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~), the delimiters : / ? [ ] @ & = + , ; or a \
             %XX escape",
            "cluster.yaml:line 23 column 15: spec.secrets.identity: \"/etc/kubebake/age$(touch${IFS}/tmp/C).key\" is not an \
             absolute, normalised path: '/' then names separated by single '/' (none of them '.' or '..', no trailing \
             '/'), each 1 to 255 of POSIX's portable file name characters A-Z a-z 0-9 '.' '_' '-'",
            "cluster.yaml:line 24 column 28: spec.nodeNetwork.interface: \"e\\n[Route]\\nX=1\" is not a network interface \
             name: 1 to 15 characters (the kernel's limit) of A-Z a-z 0-9 '_' '.' '-', not \".\" or \"..\"",
            "cluster.yaml:line 26 column 26: spec.registryMirrors.reg\"x.example.com: \"reg\\\"x.example.com\" is not a \
             registry host (host[:port]: the host a DNS name (labels of letters, digits and '-', separated by dots) or an \
             IP address (IPv6 in brackets), the port 1 to 65535)",
            "cluster.yaml:line 27 column 11: spec.registryMirrors...: \"..\" is not a registry host",
        ],
    );
}

#[test]
fn image_repositories_follow_the_oci_reference_grammar() {
    let rule = "is not an image repository ([host[:port]/]path of the OCI distribution grammar";
    let good = [
        "registry.k8s.io",
        "registry.example.com/k8s",
        "localhost:5000/k8s",
        "10.0.0.5:5000/mirror/k8s",
        "'[fd00::5]:5000/k8s'",
        "Registry.Example.com/a__b/c-d/e.f/g--h",
    ];
    let bad = [
        "'https://registry.internal/'",
        "registry.internal/",
        "registry.internal//k8s",
        "registry.internal/K8s",
        "registry.internal/k8s:v1.36.3",
        "'registry.internal/k8s@sha256:00'",
        "registry.internal:99999/k8s",
        "reg..internal/k8s",
        "-reg.internal/k8s",
        "registry.internal/_k8s",
        "'registry.internal/k8s x'",
        "\"registry.internal/k8s'x\"",
        "registry.internal/k8s$x",
        "'réseau.example/k8s'",
    ];
    grammar("  imageRepository: {}", "spec.imageRepository", rule, &good, &bad);
    grammar("  cni:\n    registry: {}", "spec.cni.registry", rule, &good, &bad);
}

#[test]
fn image_references_follow_the_oci_reference_grammar() {
    let digest = "sha256:".to_string() + &"0123456789abcdef".repeat(4);
    let good = [
        "ghcr.io/kube-vip/kube-vip:v0.9.2".to_string(),
        "kube-vip".into(),
        "localhost:5000/kube-vip:v1_2.3-x".into(),
        format!("'ghcr.io/kube-vip/kube-vip@{digest}'"),
        format!("'ghcr.io/kube-vip/kube-vip:v0.9.2@{digest}'"),
    ];
    let bad = [
        "'ghcr.io/kube-vip/kube-vip:'".to_string(),
        "ghcr.io/kube-vip/kube-vip:.v1".into(),
        format!("ghcr.io/kube-vip/kube-vip:{}", "t".repeat(129)),
        "'ghcr.io/kube-vip/kube-vip@sha256:abc'".into(),
        format!("'ghcr.io/kube-vip/kube-vip@{}'", digest.to_uppercase().replace("SHA", "sha")),
        format!("'ghcr.io/kube-vip/kube-vip@md5:{}'", "a".repeat(32)),
        "'https://ghcr.io/kube-vip/kube-vip'".into(),
        "'ghcr.io/kube-vip/kube-vip:v1;id'".into(),
    ];
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    grammar(
        "  vip: {address: 10.0.0.10, interface: eth0, image: {}}",
        "spec.vip.image",
        "is not an image reference (name[:tag][@digest], the name [host[:port]/]path of the OCI distribution grammar",
        &good,
        &bad,
    );
}

#[test]
fn manifest_urls_are_https_or_http_checked_by_a_sha256() {
    let rule = "is not an https URL (http only with a sha256 that checks the download) with no user name or password: ";
    let sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    grammar(
        "  cni:\n    manifest: {url: {}}",
        "spec.cni.manifest.url",
        rule,
        &[
            "https://example.com/x.yaml",
            "https://example.com:8443/a/b.yaml?version=v3.30.3&x=1",
            "'https://[fd00::1]/x.yaml'",
            "https://10.0.0.1/a%20b.yaml",
            "https://example.com",
        ],
        &[
            "http://example.com/x.yaml",
            "ftp://example.com/x.yaml",
            "file:///etc/calico.yaml",
            "https://user:secret@example.com/x.yaml",
            "'https://example.com/x.yaml#frag'",
            "'https://example.com/x y.yaml'",
            "\"https://example.com/x.yaml'\"",
            "'https://example.com/$(id).yaml'",
            "https://example.com/%zz.yaml",
            "HTTPS://example.com/x.yaml",
            "https://Example.com/x.yaml",
            "https://example.com:443/x.yaml",
            "https://example.com/a/../x.yaml",
            "https://0x7f.1/x.yaml",
            "'https://exämple.com/x.yaml'",
            "example.com/x.yaml",
        ],
    );
    // Plain http when a sha256 checks what it fetches.
    accepted(
        &spec_with(&format!("  cni:\n    manifest: {{url: 'http://10.0.0.1:8080/x.yaml', sha256: {sha}}}"), sha).0,
        &[],
    );
    let (spec, at) = spec_with("  cni:\n    manifest: {url: 'http://10.0.0.1:8080/x.yaml'}", "'http:");
    refused(
        &spec,
        &[&format!(
            "{at}: spec.cni.manifest.url: \"http://10.0.0.1:8080/x.yaml\" {rule}plain http without a sha256 lets anyone \
             on the way change what the node runs"
        )],
    );
}

#[test]
fn sha256s_are_64_lower_case_hex_digits() {
    let sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let upper = sha.to_uppercase();
    let short = &sha[1..];
    let long = format!("{sha}0");
    let not_hex = sha.replace('e', "g");
    grammar(
        "  cni:\n    manifest: {url: 'https://example.com/x.yaml', sha256: {}}",
        "spec.cni.manifest.sha256",
        "is not a SHA-256: 64 lower-case hex digits (0-9, a-f), as sha256sum prints it",
        &[sha],
        &[&upper, short, &long, &not_hex, "''"],
    );
}

#[test]
fn registry_mirrors_are_host_port_keys_and_http_urls() {
    grammar_at(
        "  registryMirrors:\n    {}: [https://mirror.example.com]",
        Some("[https://mirror.example.com]"),
        "spec.registryMirrors.",
        "is not a registry host (host[:port]: the host a DNS name (labels of letters, digits and '-', separated by dots) \
         or an IP address (IPv6 in brackets), the port 1 to 65535)",
        &["docker.io", "registry.k8s.io", "'10.0.0.5:5000'", "'[fd00::5]:5000'", "localhost"],
        &["'a\"b'", "'..'", "docker.io/library", "'host:0'", "'fd00::5'", "_default", "'a b'", "'a$b'"],
    );
    grammar(
        "  registryMirrors:\n    docker.io: [{}]",
        "spec.registryMirrors.docker.io[0]",
        "is not an http or https URL with no user name, password or query: ",
        &["https://mirror.example.com", "'http://10.0.0.5:5000'", "https://mirror.example.com/v2/prefix"],
        &[
            "ftp://mirror.example.com",
            "https://user:pw@mirror.example.com",
            "'https://mirror.example.com/?x=1'",
            "\"https://mirror.example.com/'\"",
            "'https://mirror.example.com/#x'",
            "'https://mirror.example.com/a b'",
        ],
    );
}

#[test]
fn paths_on_the_node_are_absolute_normalised_and_portable() {
    grammar(
        &format!("  secrets:\n    encryptTo: {AGE_RECIPIENT}\n    identity: {{}}"),
        "spec.secrets.identity",
        "is not an absolute, normalised path: '/' then names separated by single '/' (none of them '.' or '..', no \
         trailing '/'), each 1 to 255 of POSIX's portable file name characters A-Z a-z 0-9 '.' '_' '-' (the path is \
         written into shell scripts, systemd units and Packer templates, where other characters have meanings)",
        &["/etc/kubebake/age.key", "/var/lib/kubebake/k_1-2.key", "/.age"],
        &[
            "etc/kubebake/age.key",
            "/etc/kubebake/",
            "/etc//kubebake/age.key",
            "/etc/./kubebake/age.key",
            "/etc/../kubebake/age.key",
            "'/etc/kubebake/age key'",
            "\"/etc/kubebake/age'.key\"",
            "/etc/kubebake/age%i.key",
            "'/etc/kubebake/âge.key'",
            "\"/etc/kubebake/age.key\\n\"",
            "'/etc/kubebake/${x}.key'",
        ],
    );
}

#[test]
fn interface_names_are_what_the_kernel_names_interfaces() {
    let rule = "is not a network interface name: 1 to 15 characters (the kernel's limit) of A-Z a-z 0-9 '_' '.' '-', not \".\" or \"..\"";
    let good = ["eth0", "ens18", "enp0s31f6", "br-lan.100", "wg_0", "abcdefghijklmno"];
    let bad = ["''", "'.'", "'..'", "abcdefghijklmnop", "'eth0:1'", "'a b'", "a/b", "\"e\\n[Route]\\nX=1\"", "'ëth0'"];
    grammar("  vip: {address: 10.0.0.10, interface: {}}", "spec.vip.interface", rule, &good, &bad);
    grammar(
        "  nodeNetwork: {interface: {}, prefixLength: 24, gateway: 10.0.0.1}",
        "spec.nodeNetwork.interface",
        rule,
        &good,
        &bad,
    );
}

#[test]
fn login_users_follow_useradd_and_keys_the_authorized_keys_line() {
    grammar(
        "  login: {user: {}}",
        "spec.login.user",
        "is not a Linux user name: a lower-case letter or '_', then lower-case letters, digits, '_' or '-', at most 32 \
         in all (useradd's rule)",
        &["ops", "_svc", "a-b_c9"],
        &["Root", "'9ops'", "'ops$'", "o.ps", "\"o'ps\"", &"u".repeat(33), "''"],
    );
    let good = [
        format!("'ssh-ed25519 {ED25519}'"),
        format!("'ssh-ed25519 {ED25519} ops@example'"),
        format!("'ecdsa-sha2-nistp256 {ECDSA} a comment, with spaces é'"),
        format!("'ssh-rsa {RSA} rsa@example'"),
    ];
    let bad = [
        format!("'ssh-dss {ED25519}'"),
        format!("'ssh-rsa {ED25519}'"),
        format!("'ssh-ed25519 {}'", &ED25519[..40]),
        format!("'ssh-rsa {}'", &RSA[..RSA.len() - 8]),
        format!("'ssh-ed25519 {ED25519}!'"),
        format!("\"ssh-ed25519 {ED25519} x\\ny\""),
        format!("\"ssh-ed25519\\t{ED25519}\""),
        format!("'from=\"10.0.0.0/8\" ssh-ed25519 {ED25519}'"),
        "ssh-ed25519".into(),
        "'ssh-ed25519 AAAA x'".into(),
    ];
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    grammar(
        "  login: {sshAuthorizedKeys: [{}]}",
        "spec.login.sshAuthorizedKeys[0]",
        "is not an OpenSSH public key line: a key type, its base64 key and an optional comment, separated by spaces on \
         one line (like ssh-ed25519 AAAA… you@host, as in a .pub file)",
        &good,
        &bad,
    );
}

#[test]
fn extra_args_names_are_flag_names_and_values_one_printable_line() {
    grammar_at(
        "  apiServer:\n    extraArgs: {{}: flagvalue}",
        Some("flagvalue"),
        "spec.apiServer.extraArgs.",
        "is not a flag name: a letter or digit, then letters, digits, '-', '_' or '.' (without the leading --)",
        &["v", "audit-log-maxage", "x_y.z"],
        &["'-v'", "'a=b'", "'a\"b'", "'ä'", "'a;b'"],
    );
    grammar(
        "  controllerManager:\n    extraArgs: {v: {}}",
        "spec.controllerManager.extraArgs.v",
        "is not a flag value: one line of printable text, with no control characters or line breaks",
        &["'a b'", "'Node,RBAC'", "'日本'", "\"'quoted' $(x) `y`\"", "''"],
        &["\"a\\nb\"", "\"a\\tb\"", "\"a\\rb\"", "\"a\\0b\"", "\"a\\Nb\"", "\"a\\Lb\"", "\"a\\Pb\"", "\"\\e[31m\""],
    );
}

#[test]
fn ignored_preflight_checks_are_kubeadm_check_names() {
    grammar(
        "  ignorePreflightErrors: [{}]",
        "spec.ignorePreflightErrors[0]",
        "is not a kubeadm preflight check name: a letter, then letters, digits, '.', '_' or '-' (like NumCPU, Port-6443, \
         FileContent--proc-sys-net-ipv4-ip_forward or all)",
        &["NumCPU", "Port-6443", "FileContent--proc-sys-net-ipv4-ip_forward", "all"],
        &["'all; rm -rf /'", "'-x'", "'1x'", "'a b'", "'a,b'", "''"],
    );
}

#[test]
fn local_file_paths_are_on_one_line() {
    let (spec, at) = spec_with("  os: \"sub/x\\n.yaml\"", "\"sub");
    refused(&spec, &[&format!("{at}: spec.os: \"sub/x\\n.yaml\" is not a file path on one line")]);
    let (spec, at) = spec_with("  cni:\n    manifest: {file: \"a\\tb.yaml\"}", "\"a");
    refused(&spec, &[&format!("{at}: spec.cni.manifest.file: \"a\\tb.yaml\" is not a file path on one line")]);
}

/// A profile file with every field set, valid; each test replaces a line.
const PROFILE: &str = "name: my-os.example
formats: [cloud-init]
packages: apt
containerdPackage: containerd.io
firewall: none
loginUser: ops
adminGroup: wheel
binDir: /opt/bin
caDirs: [/etc/pki, /etc/ca-certificates]
flexVolumeDir: /var/lib/kubelet/volumeplugins
";

#[test]
fn profile_files_are_checked_by_the_same_grammars_at_their_own_lines() {
    let spec = with("  join:\n", "  os: my-os.yaml\n  join:\n");
    accepted(&spec, &[("my-os.yaml", PROFILE)]);
    // (field, line, a bad value, the rule)
    let path_rule = "is not an absolute, normalised path: '/' then names separated by single '/'";
    let cases: &[(&str, usize, &str, &str)] = &[
        ("name", 1, "'My OS'", "is not a DNS-1123 subdomain (lower-case labels separated by dots)"),
        ("name", 1, "a/b", "is not a DNS-1123 subdomain"),
        (
            "containerdPackage",
            4,
            "'containerd;ls'",
            "is not a Debian package name: at least two characters of a-z, 0-9, '+', '-' and '.', starting with a letter or digit (Debian Policy 5.6.1)",
        ),
        ("containerdPackage", 4, "Containerd", "is not a Debian package name"),
        (
            "loginUser",
            6,
            "'root$'",
            "is not a Linux user name: a lower-case letter or '_', then lower-case letters, digits, '_' or '-', at most 32 in all (useradd's rule)",
        ),
        (
            "adminGroup",
            7,
            "'wheel group'",
            "is not a Linux group name: a lower-case letter or '_', then lower-case letters, digits, '_' or '-', at most 32 in all (groupadd's rule)",
        ),
        ("adminGroup", 7, "\"adm'\"", "is not a Linux group name"),
        ("binDir", 8, "'/opt/b$(id)'", path_rule),
        ("binDir", 8, "opt/bin", path_rule),
        ("binDir", 8, "/opt/bin/", path_rule),
        ("binDir", 8, "/opt/../bin", path_rule),
        ("binDir", 8, "'/opt/b%n'", path_rule),
        ("flexVolumeDir", 10, "'/var/lib/kubelet/volume plugins'", path_rule),
        ("flexVolumeDir", 10, "relative", path_rule),
    ];
    for (field, line, value, rule) in cases {
        let profile: String = PROFILE
            .lines()
            .map(|l| if l.starts_with(&format!("{field}:")) { format!("{field}: {value}\n") } else { format!("{l}\n") })
            .collect();
        let column = field.len() + 3;
        refused_with_files(
            &spec,
            &[("my-os.yaml", &profile)],
            &[
                "cluster.yaml is not a valid cluster spec (1 problem)",
                &format!("\n  my-os.yaml:line {line} column {column}: {field}: "),
                rule,
            ],
        );
    }
    // Lists: each item at its own column.
    for (dirs, at, message) in [
        ("[/etc/pki, /etc/pki/../x]", "line 9 column 20", format!("caDirs[1]: \"/etc/pki/../x\" {path_rule}")),
        ("[/etc/pki, /srv/ca]", "line 9 column 20", "caDirs[1]: /srv/ca is not one of kubeadm's CA directories".into()),
        ("[/etc/pki, /etc/pki]", "line 9 column 20", "caDirs[1]: /etc/pki is already caDirs[0]".into()),
    ] {
        let profile = PROFILE.replace("caDirs: [/etc/pki, /etc/ca-certificates]", &format!("caDirs: {dirs}"));
        refused_with_files(&spec, &[("my-os.yaml", &profile)], &[&format!("my-os.yaml:{at}: {message}")]);
    }
    // Shape errors point into the profile too.
    let profile = PROFILE.replace("firewall: none\n", "firewall: none\nbinDirs: /opt/bin\n");
    refused_with_files(&spec, &[("my-os.yaml", &profile)], &["my-os.yaml:line 6 column 1: unknown field `binDirs`"]);
}

#[test]
fn issue_21_a_hostile_profile_file_is_refused_with_every_problem_and_the_spec_s_own() {
    let spec = with("  join:\n", "  os: my-os.yaml\n  login: {user: Root}\n  join:\n");
    let profile = "name: My OS
formats: [cloud-init]
packages: apt
containerdPackage: \"containerd;touch /tmp/D\"
firewall: none
loginUser: \"root$(id)\"
adminGroup: \"sudo\\n\"
binDir: /opt/bin;touch${IFS}/tmp/B
caDirs: [/etc/pki/../../tmp]
flexVolumeDir: '/opt/x y'
";
    let files = [("my-os.yaml", profile)];
    refused_with_files(
        &spec,
        &files,
        &[
            "is not a valid cluster spec (8 problems)",
            "my-os.yaml:line 1 column 7: name: \"My OS\" is not a DNS-1123 subdomain",
            "my-os.yaml:line 4 column 20: containerdPackage: \"containerd;touch /tmp/D\" is not a Debian package name",
            "my-os.yaml:line 6 column 12: loginUser: \"root$(id)\" is not a Linux user name",
            "my-os.yaml:line 7 column 13: adminGroup: \"sudo\\n\" is not a Linux group name",
            "my-os.yaml:line 8 column 9: binDir: \"/opt/bin;touch${IFS}/tmp/B\" is not an absolute, normalised path",
            "the name \"bin;touch${IFS}\" is not of those characters",
            "my-os.yaml:line 9 column 10: caDirs[0]: \"/etc/pki/../../tmp\" is not an absolute, normalised path",
            "my-os.yaml:line 10 column 16: flexVolumeDir: \"/opt/x y\" is not an absolute, normalised path",
            "cluster.yaml:line 17 column 17: spec.login.user: \"Root\" is not a Linux user name",
        ],
    );
    // `validate --json` names the file each problem is in.
    let b = Bake::new(&spec);
    std::fs::write(b.path("my-os.yaml"), profile).unwrap();
    let run = b.run(&["validate", "--json", "cluster.yaml"]);
    assert!(!run.ok());
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let problems = report["problems"].as_array().unwrap();
    let bin_dir = problems.iter().find(|p| p["path"] == "binDir").expect("binDir's problem");
    assert_eq!((&bin_dir["file"], &bin_dir["line"], &bin_dir["column"]), (&"my-os.yaml".into(), &8.into(), &9.into()));
    let user = problems.iter().find(|p| p["path"] == "spec.login.user").expect("the spec's problem");
    assert_eq!((&user["file"], &user["line"]), (&serde_json::Value::Null, &17.into()));
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
