//! `kubebake bundle` against real servers on 127.0.0.1: Debian's distribution registry
//! (`docker-registry`) holding images pushed with Debian's `skopeo`, and a local HTTP
//! server for binaries and their `.sha256` files. With the e2e kit present its real
//! binaries and images are bundled; otherwise small stand-ins made here.

// The command exists only with the `bundle` feature (on by default).
#![cfg(feature = "bundle")]

mod common;

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::servers::*;
use common::*;

fn spec(registry: &str) -> String {
    format!(
        "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata: {{name: bundle}}
spec:
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

fn assert_no_half_written_files(dir: &Path) {
    let strays: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(strays.is_empty(), "half-written files: {strays:?}");
}

#[test]
fn a_bundle_holds_checked_binaries_and_importable_images_deterministically_and_resumes() {
    let (Some(_), Some(_)) = (tool("docker-registry", "docker-registry"), tool("skopeo", "skopeo")) else {
        return;
    };
    let b = Bake::new("");
    let servers = Servers::start(b.dir.path());
    publish_everything(&servers, b.dir.path());
    servers.write_pins(&b.path("pins.json"));
    b.set_spec(&spec(&servers.registry));
    let dl = format!("https://dl.k8s.io/={}/dl/", servers.files);
    let gh = format!("https://github.com/={}/gh/", servers.files);
    let args =
        ["bundle", "cluster.yaml", "-o", "bundle.tar", "--rewrite", &dl, "--rewrite", &gh, "--pins", "pins.json"];

    let started = Instant::now();
    let run = b.run(&args);
    run.assert_ok();
    figure("bundle", &format!("{} ({:.1} s)", run.stdout().trim(), started.elapsed().as_secs_f64()));
    let first = fs::read(b.path("bundle.tar")).unwrap();
    assert!(!b.path("bundle.tar.parts").exists(), "the parts are gone once the bundle is written");

    // Sorted, fixed mtimes, root-owned, checked by its own SHA256SUMS.
    let entries = tar_entries(&b.path("bundle.tar"));
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(entries.iter().all(|e| e.1 == 0));
    for want in [
        "kubebake-bundle/bin/kubeadm",
        "kubebake-bundle/bin/crictl.tar.gz",
        "kubebake-bundle/cni/cni-plugins.tgz",
        "kubebake-bundle/manifest.json",
    ] {
        assert!(names.contains(&want), "{want} missing: {names:?}");
    }
    assert_eq!(entries.iter().find(|e| e.0 == "kubebake-bundle/bin/kubelet").unwrap().2, 0o755);
    let extract = b.path("x");
    fs::create_dir_all(&extract).unwrap();
    run_ok(Command::new("tar").arg("-xf").arg(b.path("bundle.tar")).arg("-C").arg(&extract));
    run_ok(
        Command::new("sha256sum").args(["-c", "--quiet", "SHA256SUMS"]).current_dir(extract.join("kubebake-bundle")),
    );
    // Its installer is a script people read: shellcheck'd, executable.
    let installer = extract.join("kubebake-bundle/install.sh");
    if let Some(shellcheck) = tool("shellcheck", "shellcheck") {
        run_ok(Command::new(shellcheck).arg(&installer));
    }
    assert_eq!(entries.iter().find(|e| e.0 == "kubebake-bundle/install.sh").unwrap().2, 0o755);
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(extract.join("kubebake-bundle/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["images"].as_array().unwrap().len(), 7);
    assert_eq!(
        manifest["binaries"][0]["source"],
        format!("https://dl.k8s.io/release/{}/bin/linux/amd64/kubeadm", default_version())
    );

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

    // The same inputs give the same bytes; --json reports the same archive.
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let run = b.run(&json_args);
    run.assert_ok();
    assert!(fs::read(b.path("bundle.tar")).unwrap() == first, "a second bundle differs");
    let summary: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(summary["bytes"].as_u64().unwrap(), first.len() as u64);
    assert_eq!(summary["binaries"], 5, "kubeadm, kubelet, kubectl, crictl and the CNI plugins");

    // A binary that does not match its pin: a clear error, nothing written, though the
    // origin publishes a .sha256 that matches it (a tampered origin vouches for itself).
    fs::remove_file(b.path("bundle.tar")).unwrap();
    let kubectl = servers.root.join(format!("dl/release/{}/bin/linux/amd64/kubectl", default_version()));
    let good = fs::read(&kubectl).unwrap();
    fs::write(&kubectl, b"tampered").unwrap();
    fs::write(kubectl.with_file_name("kubectl.sha256"), format!("{}\n", sha256(b"tampered"))).unwrap();
    let run = b.run(&args);
    assert_eq!(run.output.status.code(), Some(2));
    let kubectl_path = format!("/dl/release/{}/bin/linux/amd64/kubectl", default_version());
    let pin = sha256(&good);
    assert!(
        run.stderr().contains(&format!("{kubectl_path}: sha256 is {}, its pin is {pin}", sha256(b"tampered"))),
        "{}",
        run.stderr()
    );
    assert!(!b.path("bundle.tar").exists());
    assert_no_half_written_files(b.dir.path());
    // Without the user's pins, kubebake's own catch that the server's kubeadm is not
    // upstream's release (the kit's builds and the stand-ins are not), trusting origins or not.
    let trusting: Vec<&str> = args[..8].iter().copied().chain(["--trust-origin"]).collect();
    for args in [&args[..8], &trusting[..]] {
        let run = b.run(args);
        assert_eq!(run.output.status.code(), Some(2));
        let shipped = kubebake::deliver::pins::Pins::upstream();
        let url = format!("https://dl.k8s.io/release/{}/bin/linux/amd64/kubeadm", default_version());
        let pin = shipped.download(&url).expect("kubebake pins the default release");
        assert!(run.stderr().contains(&format!("its pin is {pin}")), "{}", run.stderr());
    }
    // Resumed: what was fetched and checked before is not fetched again.
    fs::write(&kubectl, &good).unwrap();
    fs::write(kubectl.with_file_name("kubectl.sha256"), format!("{pin}\n")).unwrap();
    let log_before = fs::read_to_string(b.path("files.log")).unwrap().len();
    b.run(&args).assert_ok();
    let log = fs::read_to_string(b.path("files.log")).unwrap();
    let again = &log[log_before..];
    assert!(again.contains(&format!("GET {kubectl_path} ")), "{again}");
    let kubeadm_path = kubectl_path.replace("kubectl", "kubeadm");
    assert!(!again.contains(&format!("GET {kubeadm_path} ")), "kubeadm fetched again:\n{again}");
    assert!(fs::read(b.path("bundle.tar")).unwrap() == first, "the resumed bundle differs");
}

/// Calico's manifest (from a URL that is no file name) and images travel in the bundle. A
/// layer that does not match its digest is refused naming the image and leaves no bundle;
/// the next run, in a real terminal, shows its progress and fetches again only what was
/// not fetched and checked before.
#[test]
fn calico_travels_in_the_bundle_a_bad_layer_is_refused_and_the_next_run_resumes() {
    let (Some(_), Some(_)) = (tool("docker-registry", "docker-registry"), tool("skopeo", "skopeo")) else {
        return;
    };
    let b = Bake::new("");
    let servers = Servers::start(b.dir.path());
    publish_everything(&servers, b.dir.path());
    b.set_spec(&format!(
        "apiVersion: kubebake.io/v1alpha1\nkind: Cluster\nmetadata: {{name: bundle}}\nspec:\n{}  nodes:\n    - {{name: cp-1, role: control-plane, address: 10.0.0.11}}\n",
        calico_from_servers(&servers)
    ));
    let calico = calico_images(&b);
    assert!(calico.len() >= 5, "{calico:?}");
    // Pinned: everything but Calico's images and manifest, which neither the user nor
    // kubebake pins here.
    servers.write_pins(&b.path("pins.json"));
    publish_calico(&servers, b.dir.path(), &calico);

    // The last image pulled gets a damaged layer in the registry's own storage.
    let victim = calico.last().unwrap();
    let (_, repository_and_tag) = victim.split_once('/').unwrap();
    let repository = repository_and_tag.rsplit_once(':').unwrap().0;
    let raw = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/{repository_and_tag}", servers.registry)),
    );
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().strip_prefix("sha256:").unwrap().to_string();
    let data = b.path(&format!("registry/docker/registry/v2/blobs/sha256/{}/{layer}/data", &layer[..2]));
    let good = fs::read(&data).unwrap();
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0xff;
    fs::write(&data, &bad).unwrap();

    let rewrites = rewrites(&servers);
    let mut args = vec!["bundle", "cluster.yaml", "-o", "bundle.tar", "--pins", "pins.json"];
    args.extend(rewrites.iter().map(String::as_str));
    // What has no pin is refused, naming it...
    let run = b.run(&args);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    assert!(run.stderr().contains("kubebake has no pin for it"), "{}", run.stderr());
    assert!(calico.iter().any(|i| run.stderr().contains(i.as_str())), "{}", run.stderr());
    // ...unless the origin's word is taken for it.
    args.push("--trust-origin");
    let run = b.run(&args);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    assert!(run.stderr().contains(victim.as_str()) && run.stderr().contains("digest"), "{}", run.stderr());
    assert!(!b.path("bundle.tar").exists());
    assert_no_half_written_files(b.dir.path());

    // Mended; the next run is watched in a terminal and in the registry's access log.
    fs::write(&data, &good).unwrap();
    let log_before = fs::read_to_string(b.path("registry.log")).unwrap().len();
    let bin = env!("CARGO_BIN_EXE_kubebake");
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    if let Some(screen) = in_terminal(b.dir.path(), &format!("{bin} {}", quoted.join(" "))) {
        assert!(screen.contains("EXIT=0"), "{screen}");
        let total = 5 + 7 + calico.len() + 1;
        assert!(screen.contains(&format!("{total}/{total} fetched, checked and written")), "{screen}");
    } else {
        b.run(&args).assert_ok();
    }
    let log = fs::read_to_string(b.path("registry.log")).unwrap();
    let again = &log[log_before..];
    assert!(again.contains(&format!("GET /v2/{repository}/blobs/sha256:{layer}")), "{again}");
    assert!(!again.contains("GET /v2/kube-apiserver/blobs/"), "fetched again:\n{again}");

    // In the bundle: the manifest under its position's name, with its URL; every image.
    let extract = b.path("x");
    fs::create_dir_all(&extract).unwrap();
    run_ok(Command::new("tar").arg("-xf").arg(b.path("bundle.tar")).arg("-C").arg(&extract));
    let root = extract.join("kubebake-bundle");
    run_ok(Command::new("sha256sum").args(["-c", "--quiet", "SHA256SUMS"]).current_dir(&root));
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(root.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["calico"][0]["file"], "calico/manifest-1.yaml", "{manifest}");
    assert_eq!(manifest["calico"][0]["source"], CALICO_URL);
    // On the origin's word, and said so; kubeadm's images were pinned.
    assert_eq!(manifest["calico"][0]["pinned"], false);
    for image in manifest["images"].as_array().unwrap() {
        let pinned = !calico.iter().any(|c| image["image"] == c.as_str());
        assert_eq!(image["pinned"], pinned, "{image}");
    }
    assert_eq!(manifest["calico"].as_array().unwrap().len(), 1);
    let stand_in = fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/calico-operator-stand-in.yaml")).unwrap();
    assert!(fs::read(root.join("calico/manifest-1.yaml")).unwrap() == stand_in);
    let bundled: Vec<&str> =
        manifest["images"].as_array().unwrap().iter().map(|i| i["image"].as_str().unwrap()).collect();
    assert_eq!(bundled.len(), 7 + calico.len());
    for image in &calico {
        assert!(bundled.contains(&image.as_str()), "{image} not bundled: {bundled:?}");
    }
}

/// An image whose tag the registry now serves with other content than its pin says is
/// refused naming both digests, whatever the registry's own digest header says.
#[test]
fn a_tampered_image_is_refused_against_its_pin() {
    let (Some(_), Some(_)) = (tool("docker-registry", "docker-registry"), tool("skopeo", "skopeo")) else {
        return;
    };
    let b = Bake::new("");
    let servers = Servers::start(b.dir.path());
    publish_everything(&servers, b.dir.path());
    servers.write_pins(&b.path("pins.json"));
    b.set_spec(&spec(&servers.registry));
    let pins: serde_json::Value = serde_json::from_slice(&fs::read(b.path("pins.json")).unwrap()).unwrap();
    let scheduler = format!("registry.k8s.io/kube-scheduler:{}", default_version());
    let pinned = pins["images"][&scheduler].as_str().unwrap().to_string();
    // Someone with write access to the registry pushes other content under the same tag.
    let other = b.path("other.tar");
    small_image(&other, &scheduler, "not the scheduler");
    let (_, repository_and_tag) = scheduler.split_once('/').unwrap();
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("docker-archive:{}", other.display()))
            .arg(format!("docker://{}/{repository_and_tag}", servers.registry)),
    );
    let dl = format!("https://dl.k8s.io/={}/dl/", servers.files);
    let gh = format!("https://github.com/={}/gh/", servers.files);
    let args =
        ["bundle", "cluster.yaml", "-o", "bundle.tar", "--rewrite", &dl, "--rewrite", &gh, "--pins", "pins.json"];
    let run = b.run(&args);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    let e = run.stderr();
    assert!(
        e.contains(&format!("{scheduler}: its tag names sha256:")) && e.contains(&format!("its pin is {pinned}")),
        "{e}"
    );
    assert!(!b.path("bundle.tar").exists());
    assert_no_half_written_files(b.dir.path());
}
