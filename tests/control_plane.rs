//! Static pod manifests, kubeadm and kubelet configuration against each supported minor's
//! real kubeadm (tests/fixtures/reference-kubeadm-*).

mod common;

use std::fs;
use std::path::Path;

use common::*;

fn read_yaml(path: &Path) -> serde_json::Value {
    yaml_value(&fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[test]
fn every_supported_minor_has_its_kubeadms_reference() {
    let proven: Vec<String> =
        kubebake::model::versions::MINORS.iter().map(|m| m.proven_version().to_string()).collect();
    let references: Vec<&str> = REFERENCES.iter().map(|(v, _)| *v).collect();
    assert_eq!(proven, references, "each supported minor is compared with its own kubeadm's output");
    for (version, dir) in REFERENCES {
        let input = fs::read_to_string(Path::new(dir).join("kubeadm.yaml")).unwrap();
        assert!(input.contains(&format!("kubernetesVersion: {version}\n")), "{dir}");
    }
}

#[test]
fn manifests_equal_each_minors_kubeadm() {
    for (version, reference) in REFERENCES {
        let b = Bake::new(&reference_spec_for(version, "RSA-2048"));
        b.bake(&[]).assert_ok();
        for name in ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"] {
            let path = b.node_file("cp-1", &format!("/etc/kubebake/manifests/{name}.yaml"));
            let theirs_path = Path::new(reference).join(format!("manifests/{name}.yaml"));
            let diff = yaml_differences(&read_yaml(&path), &read_yaml(&theirs_path));
            assert!(diff.is_empty(), "{version} {name}.yaml differs from kubeadm's:\n{}", diff.join("\n"));
            // And byte for byte, so `kubeadm upgrade` finds nothing to change.
            assert_eq!(
                fs::read_to_string(&path).unwrap(),
                fs::read_to_string(&theirs_path).unwrap(),
                "{version} {name}.yaml"
            );
        }
    }
}

#[test]
fn a_longer_join_timeout_gives_startup_probes_as_many_more_tries() {
    // kubeadm: failureThreshold = ceil(timeouts.controlPlaneComponentHealthCheck / 10 s).
    let spec = reference_spec("ECDSA-P256").replace("timeout: 4m", "timeout: 30m5s");
    let b = Bake::new(&spec);
    b.bake(&[]).assert_ok();
    for name in ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"] {
        let pod = manifest(&b, "cp-1", name);
        let c = &pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(c.startup_probe.as_ref().unwrap().failure_threshold, Some(181), "{name}");
        assert_eq!(c.liveness_probe.as_ref().unwrap().failure_threshold, Some(8), "{name}");
    }
}

#[test]
fn the_comparison_names_a_differing_flag() {
    // The check above can fail: a changed flag is reported by name.
    let theirs = read_yaml(&Path::new(REFERENCE).join("manifests/kube-apiserver.yaml"));
    let text = fs::read_to_string(Path::new(REFERENCE).join("manifests/kube-apiserver.yaml")).unwrap();
    let ours = yaml_value(&text.replace("--secure-port=6443", "--secure-port=443"));
    let diff = yaml_differences(&ours, &theirs);
    assert_eq!(diff, vec![".spec.containers[0].command.--secure-port: ours is \"443\", kubeadm's is \"6443\""]);
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
        for entry in fs::read_dir(b.node_file(node, "/etc/kubebake/manifests")).unwrap() {
            let text = fs::read_to_string(entry.unwrap().path()).unwrap();
            let pod: k8s_openapi::api::core::v1::Pod = kubebake::spec::yaml::from_str(&text).unwrap();
            let spec = pod.spec.unwrap();
            assert!(spec.host_network.unwrap());
            assert_eq!(spec.containers.len(), 1);
            seen += 1;
        }
    }
    // cp-1: etcd, the three control-plane pods and kube-vip; the others have no etcd.yaml.
    assert_eq!(seen, 5 + 2 * 4);
}

const WORKER_ADDRESS: &str = "203.0.113.21";

/// The reference spec of `version` with a worker and kubeadm.yaml's token, so
/// configuration files can be compared.
fn reference_bake(version: &str) -> Bake {
    let worker = format!("  nodes:\n    - {{name: worker-1, role: worker, address: {WORKER_ADDRESS}}}\n");
    let spec = reference_spec_for(version, "RSA-2048").replace("  nodes:\n", &worker);
    let b = Bake::new(&spec);
    std::fs::create_dir_all(b.state()).unwrap();
    b.bake(&[]).assert_ok();
    // Swap in the reference's token and bake again: everything token-bearing follows.
    std::fs::write(b.state().join("token"), "abcdef.0123456789abcdef\n").unwrap();
    b.bake(&[]).assert_ok();
    b
}

#[test]
fn kubelet_configuration_and_flags_equal_each_minors_kubeadm() {
    for (version, reference) in REFERENCES {
        let b = reference_bake(version);
        let reference = Path::new(reference);
        let read = |path: &Path| fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Byte for byte: the kubelet's own config, on control planes and workers alike
        // (kubeadm merges a worker's from the uploaded one and its instance-config.yaml).
        for node in ["cp-1", "worker-1"] {
            for file in ["config.yaml", "instance-config.yaml"] {
                let ours = b.node_file(node, &format!("/var/lib/kubelet/{file}"));
                let theirs = reference.join("kubelet").join(file);
                assert_eq!(ours.exists(), theirs.exists(), "{version} {node}: {file} written by one of us only");
                if theirs.exists() {
                    assert_eq!(read(&ours), read(&theirs), "{version} {node}: kubelet {file}");
                }
            }
        }
        assert_eq!(
            read(&b.node_file("cp-1", "/var/lib/kubelet/kubeadm-flags.env")),
            read(&reference.join("kubelet/kubeadm-flags.env")),
            "{version}"
        );
        // A worker's flags as a real join wrote them (kept for the minors that have one; the
        // e2e tier checks every minor's workers on their own files, --node-ip included). That
        // join was given no kubeletExtraArgs; --node-ip, the one kubebake gives every listed
        // node, is where each minor's kubeadm put it in the init references above.
        if reference.join("join").exists() {
            let ours = read(&b.node_file("worker-1", "/var/lib/kubelet/kubeadm-flags.env"));
            let node_ip = format!(" --node-ip={WORKER_ADDRESS}");
            assert!(ours.contains(&node_ip), "{version}: {ours}");
            assert_eq!(ours.replacen(&node_ip, "", 1), read(&reference.join("join/kubeadm-flags.env")), "{version}");
        }
        // What kubeadm uploads as the kubelet-config ConfigMap is the document the first
        // control plane's kubeadm configuration carries.
        let cm = read_yaml(&reference.join("cluster-objects/kubelet-config-configmap.yaml"));
        let uploaded = yaml_value(cm["data"]["kubelet"].as_str().unwrap());
        let docs = documents(&read(&b.node_file("cp-1", "/etc/kubebake/kubeadm-config.yaml")));
        assert_eq!(yaml_differences(&docs[2], &uploaded), Vec::<String>::new(), "{version}");
    }
}

/// Splits a multi-document YAML file into its documents.
fn documents(text: &str) -> Vec<serde_json::Value> {
    yaml_documents(text)
}

#[test]
fn kubeadm_configuration_equals_what_each_minors_kubeadm_uploads() {
    for (version, reference) in REFERENCES {
        let b = reference_bake(version);
        let reference = Path::new(reference);
        let text = fs::read_to_string(b.node_file("cp-1", "/etc/kubebake/kubeadm-config.yaml")).unwrap();
        let docs = documents(&text);
        assert_eq!(docs.len(), 3);
        let (init, cluster) = (&docs[0], &docs[1]);
        // ClusterConfiguration: field for field what kubeadm stored in the kubeadm-config ConfigMap.
        let cm = read_yaml(&reference.join("cluster-objects/kubeadm-config-configmap.yaml"));
        let uploaded = yaml_value(cm["data"]["ClusterConfiguration"].as_str().unwrap());
        assert_eq!(yaml_differences(cluster, &uploaded), Vec::<String>::new(), "{version}");
        // InitConfiguration: the reference's token, TTL, usages, groups, node and endpoint.
        let input = documents(&fs::read_to_string(reference.join("kubeadm.yaml")).unwrap());
        let theirs = &input[0];
        assert_eq!(init["kind"], "InitConfiguration");
        assert_eq!(init["bootstrapTokens"], theirs["bootstrapTokens"], "{version}");
        assert_eq!(init["localAPIEndpoint"], theirs["localAPIEndpoint"], "{version}");
        assert_eq!(init["nodeRegistration"]["name"], theirs["nodeRegistration"]["name"], "{version}");
        assert_eq!(init["nodeRegistration"]["criSocket"], theirs["nodeRegistration"]["criSocket"], "{version}");
        // Joiners: token discovery pinned to the CA.
        let join =
            &documents(&fs::read_to_string(b.node_file("worker-1", "/etc/kubebake/kubeadm-config.yaml")).unwrap())[0];
        assert_eq!(join["kind"], "JoinConfiguration");
        let discovery = &join["discovery"]["bootstrapToken"];
        assert_eq!(discovery["token"], "abcdef.0123456789abcdef");
        assert_eq!(discovery["apiServerEndpoint"], "127.0.0.1:6443");
        let pin = fs::read_to_string(reference.join("discovery-token-ca-cert-hash.txt")).unwrap();
        let ours_pin = kubebake::pki::ca_cert_hash(
            &::pem::parse(fs::read(b.pki("cp-1", "ca.crt")).unwrap()).unwrap().into_contents(),
        )
        .unwrap();
        assert_eq!(discovery["caCertHashes"][0].as_str().unwrap(), ours_pin);
        assert!(pin.starts_with("sha256:"));
        assert!(join["controlPlane"].is_null(), "a worker joins without controlPlane");
    }
}

fn manifest(b: &Bake, node: &str, name: &str) -> k8s_openapi::api::core::v1::Pod {
    let text = fs::read_to_string(b.node_file(node, &format!("/etc/kubebake/manifests/{name}.yaml"))).unwrap();
    kubebake::spec::yaml::from_str(&text).unwrap()
}

fn flags(pod: &k8s_openapi::api::core::v1::Pod) -> Vec<String> {
    pod.spec.as_ref().unwrap().containers[0].command.clone().unwrap()
}

#[test]
fn kube_vip_runs_on_every_control_plane_with_the_right_kubeconfig() {
    let spec = ha_spec(1, "ECDSA-P256").replace(
        "  controlPlaneEndpoint: api.example.internal:6443\n",
        "  vip: {address: 10.0.0.10, interface: ens18}\n",
    );
    let b = Bake::new(&spec);
    let run = b.bake(&[]);
    run.assert_ok();
    // The endpoint defaults to the VIP.
    assert!(run.stdout().contains("kubeadm join 10.0.0.10:6443 "), "{}", run.stdout());
    for (node, kubeconfig) in [
        ("cp-1", "/etc/kubernetes/super-admin.conf"),
        ("cp-2", "/etc/kubernetes/admin.conf"),
        ("cp-3", "/etc/kubernetes/admin.conf"),
    ] {
        let pod = manifest(&b, node, "kube-vip");
        let spec = pod.spec.unwrap();
        let volume = spec.volumes.unwrap()[0].host_path.clone().unwrap();
        assert_eq!(volume.path, kubeconfig, "{node}");
        let c = &spec.containers[0];
        let env: std::collections::BTreeMap<String, String> =
            c.env.clone().unwrap().into_iter().filter_map(|e| e.value.map(|v| (e.name, v))).collect();
        assert_eq!(env["address"], "10.0.0.10");
        assert_eq!(env["vip_interface"], "ens18");
        assert_eq!(env["vip_arp"], "true");
        assert_eq!(env["cp_enable"], "true");
        assert_eq!(env["port"], "6443");
        assert_eq!(c.image.as_deref(), Some("ghcr.io/kube-vip/kube-vip:v0.9.2"));
        let caps = c.security_context.clone().unwrap().capabilities.unwrap().add.unwrap();
        assert_eq!(caps, vec!["NET_ADMIN", "NET_RAW"]);
        // The API server certificate covers the VIP.
        let admin = fs::read_to_string(b.node_file(node, "/etc/kubernetes/admin.conf")).unwrap();
        assert!(admin.contains("server: https://10.0.0.10:6443"));
    }
    // After init the first control plane switches to admin.conf; that manifest is ready.
    let after: k8s_openapi::api::core::v1::Pod = kubebake::spec::yaml::from_str(
        &fs::read_to_string(b.node_file("cp-1", "/etc/kubebake/kube-vip-after-init.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(after.spec.unwrap().volumes.unwrap()[0].host_path.clone().unwrap().path, "/etc/kubernetes/admin.conf");
    assert!(!b.node_file("cp-2", "/etc/kubebake/kube-vip-after-init.yaml").exists());
    // Without a VIP there is no kube-vip.
    let plain = Bake::new(&ha_spec(0, "ECDSA-P256"));
    plain.bake(&[]).assert_ok();
    assert!(!plain.node_file("cp-1", "/etc/kubebake/manifests/kube-vip.yaml").exists());
}

#[test]
fn calico_resources_carry_the_pod_cidr() {
    let spec = ha_spec(1, "ECDSA-P256").replace(
        "  pki:\n",
        "  networking: {podSubnet: 10.244.0.0/16}\n  cni: {encapsulation: IPIP, mtu: 1450, registry: registry.internal/mirror}\n  pki:\n",
    );
    let b = Bake::new(&spec);
    b.bake(&[]).assert_ok();
    let text = fs::read_to_string(b.node_file("cp-1", "/etc/kubebake/calico/custom-resources.yaml")).unwrap();
    let docs = documents(&text);
    assert_eq!(docs[0]["kind"], "Installation");
    let pool = &docs[0]["spec"]["calicoNetwork"]["ipPools"][0];
    assert_eq!(pool["cidr"], "10.244.0.0/16");
    assert_eq!(pool["encapsulation"], "IPIP");
    assert_eq!(docs[0]["spec"]["calicoNetwork"]["mtu"], 1450);
    assert_eq!(docs[0]["spec"]["registry"], "registry.internal/mirror");
    assert_eq!(docs[1]["kind"], "APIServer");
    // The same CIDR the controller manager allocates node ranges from.
    assert!(
        flags(&manifest(&b, "cp-1", "kube-controller-manager")).contains(&"--cluster-cidr=10.244.0.0/16".to_string())
    );
    // Where the manifest comes from, as data first boot reads line by line (never sources).
    let source = fs::read_to_string(b.node_file("cp-1", "/etc/kubebake/calico/source.txt")).unwrap();
    assert_eq!(
        source,
        "mode operator\nversion v3.30.3\n\
         url https://raw.githubusercontent.com/projectcalico/calico/v3.30.3/manifests/operator-crds.yaml\n\
         url https://raw.githubusercontent.com/projectcalico/calico/v3.30.3/manifests/tigera-operator.yaml\n\
         resources /etc/kubebake/calico/custom-resources.yaml\n"
    );
    // Only the first control plane applies Calico.
    assert!(!b.node_file("cp-2", "/etc/kubebake/calico").exists());
    assert!(!b.node_file("worker-1", "/etc/kubebake/calico").exists());

    // Manifest mode: an IP pool made before calico-node starts, with the encapsulation.
    let manifest_mode =
        Bake::new(&spec.replace("encapsulation: IPIP, mtu: 1450", "mode: manifest, encapsulation: VXLAN"));
    manifest_mode.bake(&[]).assert_ok();
    let pool = read_yaml(&manifest_mode.node_file("cp-1", "/etc/kubebake/calico/ippool.yaml"));
    assert_eq!(pool["kind"], "IPPool");
    assert_eq!(pool["spec"]["cidr"], "10.244.0.0/16");
    assert_eq!(pool["spec"]["vxlanMode"], "Always");
    assert_eq!(pool["spec"]["ipipMode"], "Never");
}

#[test]
fn an_air_gapped_spec_ships_the_manifest_and_names_no_url() {
    let spec = ha_spec(1, "ECDSA-P256").replace(
        "  pki:\n",
        "  imageRepository: registry.internal/k8s\n  packages: prebaked\n  cni:\n    registry: registry.internal/calico\n    manifest: {file: tigera-operator.yaml}\n  pki:\n",
    );
    let b = Bake::new(&spec);
    let operator =
        "# a stand-in for the operator manifest\napiVersion: v1\nkind: Namespace\nmetadata: {name: tigera-operator}\n";
    fs::write(b.path("tigera-operator.yaml"), operator).unwrap();
    b.bake(&[]).assert_ok();
    assert_eq!(fs::read_to_string(b.node_file("cp-1", "/etc/kubebake/calico/tigera-operator.yaml")).unwrap(), operator);
    let source = fs::read_to_string(b.node_file("cp-1", "/etc/kubebake/calico/source.txt")).unwrap();
    assert!(source.contains("\nfile /etc/kubebake/calico/tigera-operator.yaml\n"), "{source}");
    assert!(!source.contains("url"), "{source}");
    // Nothing in any node's files points outside: no download site, no public registry.
    for (path, (bytes, _)) in snapshot(&b.out()) {
        let text = String::from_utf8_lossy(&bytes);
        for outside in [
            "githubusercontent.com",
            "github.com",
            "registry.k8s.io",
            "docker.io",
            "quay.io",
            "ghcr.io",
            "pkgs.k8s.io",
            "dl.k8s.io",
        ] {
            assert!(!text.contains(outside), "{path} names {outside}");
        }
    }
    // Every image comes from the private registry, the pause image included.
    for name in ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"] {
        let image = manifest(&b, "cp-1", name).spec.unwrap().containers[0].image.clone().unwrap();
        assert!(image.starts_with("registry.internal/k8s/"), "{image}");
    }
    let pause = format!("registry.internal/k8s/pause:{}", kubebake::model::versions::DEFAULT_VERSION.kubeadm().pause);
    let containerd = fs::read_to_string(b.node_file("worker-1", "/etc/containerd/config.toml")).unwrap();
    assert!(containerd.contains(&format!("sandbox_image = \"{pause}\"")), "{containerd}");
    // A wrong sha256 for the local file is refused at bake time.
    b.set_spec(&spec.replace(
        "{file: tigera-operator.yaml}",
        &format!("{{file: tigera-operator.yaml, sha256: {}}}", "0".repeat(64)),
    ));
    let run = b.bake(&[]);
    assert!(!run.ok());
    assert!(
        run.stderr().contains("spec.cni.manifest.sha256:") && run.stderr().contains("tigera-operator.yaml has sha256"),
        "{}",
        run.stderr()
    );
}

#[test]
fn changing_extra_args_changes_only_the_affected_manifest() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let before = snapshot(&b.out());
    b.set_spec(&ha_spec(1, "ECDSA-P256").replace(
        "  pki:\n",
        "  apiServer:\n    extraArgs: {audit-log-maxage: 30, authorization-mode: 'Node,RBAC,Webhook'}\n  pki:\n",
    ));
    b.bake(&[]).assert_ok();
    let after = snapshot(&b.out());
    let changed: std::collections::BTreeSet<&String> =
        before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).collect();
    let expected: std::collections::BTreeSet<String> = [
        "SHA256SUMS",
        "cp-1/rootfs/etc/kubebake/manifests/kube-apiserver.yaml",
        "cp-2/rootfs/etc/kubebake/manifests/kube-apiserver.yaml",
        "cp-3/rootfs/etc/kubebake/manifests/kube-apiserver.yaml",
        // The ClusterConfiguration kubeadm uploads carries the same extraArgs.
        "cp-1/rootfs/etc/kubebake/kubeadm-config.yaml",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(changed.into_iter().cloned().collect::<std::collections::BTreeSet<_>>(), with_user_data(expected));
    let f = flags(&manifest(&b, "cp-2", "kube-apiserver"));
    // Overridden in place, added in order, never duplicated.
    assert!(f.contains(&"--authorization-mode=Node,RBAC,Webhook".to_string()));
    assert!(f.contains(&"--audit-log-maxage=30".to_string()));
    assert_eq!(f.iter().filter(|a| a.starts_with("--authorization-mode=")).count(), 1);
    // Ordered as kubeadm orders them: every flag sorted until 1.33; from 1.34 the defaults
    // sorted, then the extra args in the order kubeadm's configuration lists them.
    let extras = ["--audit-log-maxage=30", "--authorization-mode=Node,RBAC,Webhook"];
    let (defaults, tail) = f[1..].split_at(f.len() - 1 - extras.len());
    assert!(kubebake::model::versions::DEFAULT_VERSION.kubeadm().extra_args_last());
    assert_eq!(tail, extras);
    assert!(defaults.is_sorted(), "{defaults:?}");
    let config = documents(&fs::read_to_string(b.node_file("cp-1", "/etc/kubebake/kubeadm-config.yaml")).unwrap());
    assert_eq!(config[1]["apiServer"]["extraArgs"][0]["name"], "audit-log-maxage");
    assert_eq!(config[1]["apiServer"]["extraArgs"][0]["value"], "30");
}

#[test]
fn joining_control_planes_get_their_own_join_configuration() {
    let b = Bake::new(&ha_spec(1, "ECDSA-P256"));
    b.bake(&[]).assert_ok();
    let join = &documents(&fs::read_to_string(b.node_file("cp-2", "/etc/kubebake/kubeadm-config.yaml")).unwrap())[0];
    assert_eq!(join["kind"], "JoinConfiguration");
    assert_eq!(join["controlPlane"]["localAPIEndpoint"]["advertiseAddress"], "10.0.0.12");
    assert_eq!(join["discovery"]["bootstrapToken"]["apiServerEndpoint"], "api.example.internal:6443");
    assert_eq!(join["nodeRegistration"]["name"], "cp-2");
    let skipped: Vec<&str> = join["skipPhases"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    // The member joins through kubeadm's own etcd-join; kubebake's manifests stay as placed.
    assert_eq!(skipped, ["preflight", "control-plane-prepare/control-plane", "check-etcd", "kubelet-start"]);
    assert_eq!(join["nodeRegistration"]["ignorePreflightErrors"][0], "FileAvailable--etc-kubernetes-kubelet.conf");
    assert!(
        !b.node_file("cp-2", "/etc/kubebake/manifests/etcd.yaml").exists(),
        "kubeadm writes a joining member's etcd.yaml"
    );
    let init = &documents(&fs::read_to_string(b.node_file("cp-1", "/etc/kubebake/kubeadm-config.yaml")).unwrap())[0];
    let skipped: Vec<&str> = init["skipPhases"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(skipped, ["preflight", "etcd", "control-plane", "kubelet-start", "kubelet-finalize"]);
    assert_eq!(init["timeouts"]["controlPlaneComponentHealthCheck"], "30m0s");
    for node in ["cp-1", "cp-2", "worker-1"] {
        let mode = snapshot(&b.out().join(node))["rootfs/etc/kubebake/kubeadm-config.yaml"].1;
        assert_eq!(mode, 0o600, "{node}: the kubeadm configuration holds the token");
    }
}
