//! A distribution registry and a file server on 127.0.0.1 holding what `kubebake bundle`
//! fetches: the e2e kit's real binaries and images when present, else small stand-ins.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::run_ok;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The default minor's kit directory, whose binaries and images are published when present.
pub fn kit() -> Option<PathBuf> {
    super::kits::default_kit().map(|k| k.dir)
}

/// A registry and a file server on 127.0.0.1, stopped on drop.
pub struct Servers {
    children: Vec<Child>,
    /// What was published, pinned: each download by the URL kubebake forms for it (before
    /// `rewrites`), each image by its name, as `kubebake bundle --pins` takes them.
    pins: std::cell::RefCell<serde_json::Value>,
    pub registry: String,
    pub files: String,
    pub root: PathBuf,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on 127.0.0.1:{port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Servers {
    pub fn start(dir: &Path) -> Servers {
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
            pins: std::cell::RefCell::new(serde_json::json!({"downloads": {}, "images": {}})),
            children: vec![registry, files],
            registry: format!("127.0.0.1:{registry_port}"),
            files: format!("http://127.0.0.1:{files_port}"),
            root,
        };
        wait_for_port(registry_port);
        wait_for_port(files_port);
        s
    }

    /// Serves `bytes` at `rel` with its `.sha256` beside it, and pins it.
    pub fn publish(&self, rel: &str, bytes: &[u8]) {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        fs::write(format!("{}.sha256", path.display()), format!("{}\n", sha256(bytes))).unwrap();
        self.pins.borrow_mut()["downloads"][upstream_url(rel)] = sha256(bytes).into();
    }

    /// Pushes `archive` as `image` (its registry's part replaced by this registry's), and
    /// pins it to the digest of the manifest the registry now serves for it.
    pub fn push(&self, archive: &Path, image: &str) {
        let (_, repository_and_tag) = image.split_once('/').expect("a registry-qualified image");
        let here = format!("docker://{}/{repository_and_tag}", self.registry);
        run_ok(
            Command::new("skopeo")
                .args(["copy", "--quiet", "--dest-tls-verify=false"])
                .arg(format!("docker-archive:{}", archive.display()))
                .arg(&here),
        );
        let raw = Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false"]).arg(&here).output().unwrap();
        assert!(raw.status.success(), "skopeo inspect {here}: {}", String::from_utf8_lossy(&raw.stderr));
        self.pins.borrow_mut()["images"][image] = format!("sha256:{}", sha256(&raw.stdout)).into();
    }

    /// Writes what was published, pinned, to `path` (for `kubebake bundle --pins`).
    pub fn write_pins(&self, path: &Path) {
        fs::write(path, serde_json::to_vec_pretty(&*self.pins.borrow()).unwrap()).unwrap();
    }
}

/// A one-layer docker-archive image with one small file in it, made here.
pub fn small_image(path: &Path, tag: &str, content: &str) {
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

/// kubeadm's images of the default version, as repository paths under registry.k8s.io.
/// The URL kubebake forms for what is published at `rel` (see [`rewrites`]).
fn upstream_url(rel: &str) -> String {
    if let Some(rest) = rel.strip_prefix("dl/") {
        format!("https://dl.k8s.io/{rest}")
    } else if let Some(rest) = rel.strip_prefix("gh/") {
        format!("https://github.com/{rest}")
    } else {
        format!("https://downloads.example.internal/{rel}")
    }
}

pub fn kubeadm_images() -> Vec<String> {
    let v = kubebake::model::versions::DEFAULT_VERSION;
    let m = v.kubeadm();
    vec![
        format!("kube-apiserver:{v}"),
        format!("kube-controller-manager:{v}"),
        format!("kube-scheduler:{v}"),
        format!("kube-proxy:{v}"),
        format!("coredns/coredns:{}", m.coredns),
        format!("pause:{}", m.pause),
        format!("etcd:{}", m.etcd()),
    ]
}

/// The binaries and images of the kit when present, else small stand-ins, published.
pub fn publish_everything(s: &Servers, scratch: &Path) {
    let v = kubebake::model::versions::DEFAULT_VERSION;
    let (cni, cri) = (v.kubeadm().cni_plugins, v.kubeadm().cri_tools);
    let bin = format!("dl/release/{v}/bin/linux/amd64");
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
    s.publish(
        &format!("gh/containernetworking/plugins/releases/download/{cni}/cni-plugins-linux-amd64-{cni}.tgz"),
        &tgz,
    );
    // crictl's release archive: the kit builds no crictl, so a stand-in that says what it is.
    let mut crictl = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut crictl, flate2::Compression::default());
        let mut b = tar::Builder::new(gz);
        let script = format!("#!/bin/sh\necho 'crictl version {cri} (a stand-in made by the tests)'\n");
        let script = script.as_bytes();
        let mut h = tar::Header::new_gnu();
        h.set_size(script.len() as u64);
        h.set_mode(0o755);
        h.set_cksum();
        b.append_data(&mut h, "crictl", script).unwrap();
        b.into_inner().unwrap().finish().unwrap();
    }
    s.publish(
        &format!("gh/kubernetes-sigs/cri-tools/releases/download/{cri}/crictl-{cri}-linux-amd64.tar.gz"),
        &crictl,
    );
    for image in kubeadm_images() {
        let archive = match &kit {
            Some(k) => {
                let name = image.split(':').next().unwrap().rsplit('/').next().unwrap();
                let file = if name == "coredns" { "coredns-placeholder".to_string() } else { name.to_string() };
                k.join("images").join(format!("{file}.tar"))
            }
            None => {
                let path = scratch.join(format!("{}.tar", image.replace(['/', ':'], "_")));
                small_image(&path, &format!("registry.k8s.io/{image}"), &image);
                path
            }
        };
        s.push(&archive, &format!("registry.k8s.io/{image}"));
    }
}

/// Where a Calico manifest URL that is no file name points (the file server serves it
/// through the `downloads.example.internal` rewrite; the query is ignored).
pub const CALICO_URL: &str = "https://downloads.example.internal/calico/operator?version=v3.30.3";

/// The spec lines that take Calico (operator mode) from `CALICO_URL` and every registry's
/// images from the local registry.
pub fn calico_from_servers(s: &Servers) -> String {
    format!(
        "  cni:\n    plugin: calico\n    manifest: {{url: \"{CALICO_URL}\"}}\n  registryMirrors:\n{}",
        ["registry.k8s.io", "quay.io", "docker.io"]
            .iter()
            .map(|r| format!("    {r}: [\"http://{}\"]\n", s.registry))
            .collect::<String>()
    )
}

/// Calico's images in `kubebake images` of the bake's spec.
pub fn calico_images(b: &super::Bake) -> Vec<String> {
    let listed: serde_json::Value =
        serde_json::from_str(&b.run(&["images", "cluster.yaml", "--json"]).stdout()).unwrap();
    listed["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["source"] == "calico")
        .map(|i| i["image"].as_str().unwrap().to_string())
        .collect()
}

/// Calico for a bundle: the e2e tier's stand-in operator manifest at `CALICO_URL`, and a
/// small stand-in image for each of Calico's images (none can be had here; first boot
/// only imports them).
pub fn publish_calico(s: &Servers, scratch: &Path, images: &[String]) {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/calico-operator-stand-in.yaml");
    let bytes = fs::read(manifest).unwrap();
    s.publish("calico/operator", &bytes);
    // The spec names it by a URL with a query, which the file server ignores.
    s.pins.borrow_mut()["downloads"][CALICO_URL] = sha256(&bytes).into();
    for image in images {
        let path = scratch.join(format!("{}.tar", image.replace(['/', ':'], "_")));
        small_image(&path, image, image);
        s.push(&path, image);
    }
}

/// The download rewrites that point `kubebake bundle` at these servers.
pub fn rewrites(s: &Servers) -> [String; 6] {
    [
        "--rewrite".into(),
        format!("https://dl.k8s.io/={}/dl/", s.files),
        "--rewrite".into(),
        format!("https://github.com/={}/gh/", s.files),
        "--rewrite".into(),
        format!("https://downloads.example.internal/={}/", s.files),
    ]
}
