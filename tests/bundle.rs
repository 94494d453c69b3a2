//! `kubebake bundle` against real servers on 127.0.0.1: Debian's distribution registry
//! (`docker-registry`) holding images pushed with Debian's `skopeo`, and a local HTTP
//! server for binaries and their `.sha256` files. With the e2e kit present its real
//! binaries and images are bundled; otherwise small stand-ins made here.

mod common;

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn kit() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var("KUBEBAKE_E2E_DIR").unwrap_or_else(|_| "/opt/k8s-e2e".into()));
    dir.join("bin/kubeadm").exists().then_some(dir)
}

/// A registry and a file server on 127.0.0.1, stopped on drop.
struct Servers {
    children: Vec<Child>,
    registry: String,
    files: String,
    root: PathBuf,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on 127.0.0.1:{port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Servers {
    fn start(dir: &Path) -> Servers {
        let registry_port = free_port();
        let storage = dir.join("registry");
        fs::create_dir_all(&storage).unwrap();
        let config = dir.join("registry.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: 127.0.0.1:{registry_port}}}\n",
                storage.display()
            ),
        )
        .unwrap();
        let log = fs::File::create(dir.join("registry.log")).unwrap();
        let registry = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let files_port = free_port();
        let root = dir.join("files");
        fs::create_dir_all(&root).unwrap();
        let log = fs::File::create(dir.join("files.log")).unwrap();
        let files = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &files_port.to_string(), "--directory"])
            .arg(&root)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let s = Servers {
            children: vec![registry, files],
            registry: format!("127.0.0.1:{registry_port}"),
            files: format!("http://127.0.0.1:{files_port}"),
            root,
        };
        wait_for_port(registry_port);
        wait_for_port(files_port);
        s
    }

    /// Serves `bytes` at `rel` with its `.sha256` beside it.
    fn publish(&self, rel: &str, bytes: &[u8]) {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        fs::write(format!("{}.sha256", path.display()), format!("{}\n", sha256(bytes))).unwrap();
    }

    fn push(&self, archive: &Path, repository_and_tag: &str) {
        run_ok(
            Command::new("skopeo")
                .args(["copy", "--quiet", "--dest-tls-verify=false"])
                .arg(format!("docker-archive:{}", archive.display()))
                .arg(format!("docker://{}/{repository_and_tag}", self.registry)),
        );
    }
}

/// A one-layer docker-archive image with one small file in it, made here.
fn small_image(path: &Path, tag: &str, content: &str) {
    let mut layer = Vec::new();
    {
        let mut b = tar::Builder::new(&mut layer);
        let mut h = tar::Header::new_ustar();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, "hello", content.as_bytes()).unwrap();
        b.finish().unwrap();
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256(&layer))]},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"]}
    ]))
    .unwrap();
    let mut out = Vec::new();
    {
        let mut b = tar::Builder::new(&mut out);
        for (name, bytes) in [("layer.tar", &layer), ("config.json", &config), ("manifest.json", &manifest)] {
            let mut h = tar::Header::new_ustar();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_cksum();
            b.append_data(&mut h, name, &bytes[..]).unwrap();
        }
        b.finish().unwrap();
    }
    fs::write(path, out).unwrap();
}

const KUBEADM_IMAGES: [&str; 7] = [
    "kube-apiserver:v1.33.3",
    "kube-controller-manager:v1.33.3",
    "kube-scheduler:v1.33.3",
    "kube-proxy:v1.33.3",
    "coredns/coredns:v1.12.0",
    "pause:3.10",
    "etcd:3.5.21-0",
];

/// The binaries and images of the kit when present, else small stand-ins, published.
fn publish_everything(s: &Servers, scratch: &Path) {
    let bin = "dl/release/v1.33.3/bin/linux/amd64";
    let kit = kit();
    for name in ["kubeadm", "kubelet", "kubectl"] {
        let bytes = match &kit {
            Some(k) => fs::read(k.join("bin").join(name)).unwrap(),
            None => format!("#!/bin/sh\necho {name} stand-in\n").into_bytes(),
        };
        s.publish(&format!("{bin}/{name}"), &bytes);
    }
    // The CNI plugins' release tarball: the kit's real plugins, or a stand-in file.
    let mut tgz = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut tgz, flate2::Compression::default());
        let mut b = tar::Builder::new(gz);
        match &kit {
            Some(k) => {
                for p in ["bridge", "host-local", "loopback", "portmap"] {
                    b.append_path_with_name(k.join("cni/bin").join(p), format!("./{p}")).unwrap();
                }
            }
            None => {
                let mut h = tar::Header::new_gnu();
                h.set_size(3);
                h.set_mode(0o755);
                h.set_cksum();
                b.append_data(&mut h, "./bridge", &b"hi\n"[..]).unwrap();
            }
        }
        b.into_inner().unwrap().finish().unwrap();
    }
    s.publish("gh/containernetworking/plugins/releases/download/v1.7.1/cni-plugins-linux-amd64-v1.7.1.tgz", &tgz);
    for image in KUBEADM_IMAGES {
        let archive = match &kit {
            Some(k) => {
                let name = image.split(':').next().unwrap().rsplit('/').next().unwrap();
                let file = if name == "coredns" { "coredns-placeholder".to_string() } else { name.to_string() };
                k.join("images").join(format!("{file}.tar"))
            }
            None => {
                let path = scratch.join(format!("{}.tar", image.replace(['/', ':'], "_")));
                small_image(&path, &format!("registry.k8s.io/{image}"), image);
                path
            }
        };
        s.push(&archive, image);
    }
}

fn spec(registry: &str) -> String {
    format!(
        "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata: {{name: bundle}}
spec:
  kubernetesVersion: v1.33.3
  cni: {{plugin: none}}
  registryMirrors:
    registry.k8s.io: [\"http://{registry}\"]
  nodes:
    - {{name: cp-1, role: control-plane, address: 10.0.0.11}}
"
    )
}

fn tar_entries(path: &Path) -> Vec<(String, u64, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(fs::File::open(path).unwrap());
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let (mtime, mode) = (e.header().mtime().unwrap(), e.header().mode().unwrap());
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes).unwrap();
        out.push((name, mtime, mode, bytes));
    }
    out
}

#[test]
fn a_bundle_holds_checked_binaries_and_importable_images_deterministically_and_resumes() {
    let (Some(_), Some(_)) = (tool("docker-registry", "docker-registry"), tool("skopeo", "skopeo")) else {
        return;
    };
    let b = Bake::new("");
    let servers = Servers::start(b.dir.path());
    publish_everything(&servers, b.dir.path());
    b.set_spec(&spec(&servers.registry));
    let dl = format!("https://dl.k8s.io/={}/dl/", servers.files);
    let gh = format!("https://github.com/={}/gh/", servers.files);
    let args = ["bundle", "cluster.yaml", "-o", "bundle.tar", "--rewrite", &dl, "--rewrite", &gh];

    let started = Instant::now();
    let run = b.run(&args);
    run.assert_ok();
    println!("{} ({:.1} s)", run.stdout().trim(), started.elapsed().as_secs_f64());
    let first = fs::read(b.path("bundle.tar")).unwrap();
    assert!(!b.path("bundle.tar.parts").exists(), "the parts are gone once the bundle is written");

    // Sorted, fixed mtimes, root-owned, checked by its own SHA256SUMS.
    let entries = tar_entries(&b.path("bundle.tar"));
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(entries.iter().all(|e| e.1 == 0));
    for want in ["kubebake-bundle/bin/kubeadm", "kubebake-bundle/cni/cni-plugins.tgz", "kubebake-bundle/manifest.json"]
    {
        assert!(names.contains(&want), "{want} missing: {names:?}");
    }
    assert_eq!(entries.iter().find(|e| e.0 == "kubebake-bundle/bin/kubelet").unwrap().2, 0o755);
    let extract = b.path("x");
    fs::create_dir_all(&extract).unwrap();
    run_ok(Command::new("tar").arg("-xf").arg(b.path("bundle.tar")).arg("-C").arg(&extract));
    run_ok(
        Command::new("sha256sum").args(["-c", "--quiet", "SHA256SUMS"]).current_dir(extract.join("kubebake-bundle")),
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(extract.join("kubebake-bundle/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["images"].as_array().unwrap().len(), 7);
    assert_eq!(manifest["binaries"][0]["source"], "https://dl.k8s.io/release/v1.33.3/bin/linux/amd64/kubeadm");

    // Every image is an OCI layout that skopeo reads, named as kubeadm will look for it.
    for image in manifest["images"].as_array().unwrap() {
        let file = extract.join("kubebake-bundle").join(image["file"].as_str().unwrap());
        let inspect = run_ok(Command::new("skopeo").arg("inspect").arg(format!("oci-archive:{}", file.display())));
        let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
        assert_eq!(inspect["Digest"], image["digest"], "{image}");
        let index: serde_json::Value =
            serde_json::from_slice(&tar_entries(&file).into_iter().find(|e| e.0 == "index.json").unwrap().3).unwrap();
        assert_eq!(index["manifests"][0]["annotations"]["io.containerd.image.name"], image["image"]);
    }

    // The same inputs give the same bytes.
    b.run(&args).assert_ok();
    assert!(fs::read(b.path("bundle.tar")).unwrap() == first, "a second bundle differs");

    // A binary that does not match its published checksum: a clear error, nothing written.
    fs::remove_file(b.path("bundle.tar")).unwrap();
    let kubectl = servers.root.join("dl/release/v1.33.3/bin/linux/amd64/kubectl");
    let good = fs::read(&kubectl).unwrap();
    fs::write(&kubectl, b"tampered").unwrap();
    let run = b.run(&args);
    assert_eq!(run.output.status.code(), Some(2));
    assert!(run.stderr().contains("/dl/release/v1.33.3/bin/linux/amd64/kubectl: sha256 is"), "{}", run.stderr());
    assert!(!b.path("bundle.tar").exists());
    let strays: Vec<String> = fs::read_dir(b.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(strays.is_empty(), "half-written files: {strays:?}");
    // Resumed: what was fetched and checked before is not fetched again.
    fs::write(&kubectl, &good).unwrap();
    let log_before = fs::read_to_string(b.path("files.log")).unwrap().len();
    b.run(&args).assert_ok();
    let log = fs::read_to_string(b.path("files.log")).unwrap();
    let again = &log[log_before..];
    assert!(again.contains("GET /dl/release/v1.33.3/bin/linux/amd64/kubectl "), "{again}");
    assert!(!again.contains("GET /dl/release/v1.33.3/bin/linux/amd64/kubeadm "), "kubeadm fetched again:\n{again}");
    assert!(fs::read(b.path("bundle.tar")).unwrap() == first, "the resumed bundle differs");
}
