//! Shared helpers for the integration tests: bake a spec in a temporary directory with the
//! real binary, look at the files it wrote, and run the ecosystem's own tools on them.
#![allow(dead_code)]

pub mod kits;
pub mod servers;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The default minor's kubeadm reference (tests/fixtures/README.md).
pub const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference-kubeadm-v1.36.3");

/// The outputs of each supported minor's real kubeadm, made by
/// tests/fixtures/make-reference.py from that minor's e2e kit: (version, directory).
pub const REFERENCES: &[(&str, &str)] = &[
    ("v1.33.3", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference-kubeadm-v1.33.3")),
    ("v1.34.9", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference-kubeadm-v1.34.9")),
    ("v1.35.6", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference-kubeadm-v1.35.6")),
    ("v1.36.3", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference-kubeadm-v1.36.3")),
];

/// The version a spec without `kubernetesVersion` gets: `v1.36.3`.
pub fn default_version() -> String {
    kubebake::model::versions::DEFAULT_VERSION.to_string()
}

/// A spec with the inputs of the default minor's kubeadm reference.
pub fn reference_spec(algorithm: &str) -> String {
    reference_spec_for(&default_version(), algorithm)
}

/// A spec with the inputs of the kubeadm reference of `version`: its kubeadm.yaml sets no
/// timeouts, so kubeadm's 4m health-check timeout is the spec's join timeout; and two
/// extra args for the API server, one overriding a default, whose places kubeadm's
/// minors choose differently.
pub fn reference_spec_for(version: &str, algorithm: &str) -> String {
    format!(
        "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata:
  name: reference
spec:
  kubernetesVersion: {version}
  controlPlaneEndpoint: 127.0.0.1:6443
  networking:
    podSubnet: 192.168.0.0/16
    serviceSubnet: 10.96.0.0/12
    dnsDomain: cluster.local
  pki:
    encryptionAlgorithm: {algorithm}
  join:
    timeout: 4m
  apiServer:
    extraArgs: {{audit-log-maxage: \"30\", authorization-mode: \"Node,RBAC\"}}
  os: reference-host.yaml
  nodes:
    - name: cp-1
      role: control-plane
      address: 203.0.113.10
"
    )
}

/// Three control planes and `workers` workers.
pub fn ha_spec(workers: usize, algorithm: &str) -> String {
    let mut s = format!(
        "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata:
  name: ha
spec:
  controlPlaneEndpoint: api.example.internal:6443
  pki:
    encryptionAlgorithm: {algorithm}
  nodes:
"
    );
    for i in 1..=3 {
        s.push_str(&format!("    - {{name: cp-{i}, role: control-plane, address: 10.0.0.{}}}\n", 10 + i));
    }
    for i in 1..=workers {
        s.push_str(&format!(
            "    - {{name: worker-{i}, role: worker, address: 10.0.{}.{}}}\n",
            1 + i / 200,
            i % 200 + 20
        ));
    }
    s
}

/// A scratch directory with a spec in it, baked by the real binary.
pub struct Bake {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.output.status.success()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "kubebake failed:\nstdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr());
        self
    }
}

/// An OS profile for the machine kubeadm's reference output was made on: it had none of
/// the CA directories kubeadm mounts into the control plane when it finds them.
pub const REFERENCE_HOST_PROFILE: &str = "name: reference-host
formats: [cloud-init]
packages: prebaked
firewall: none
loginUser: root
binDir: /usr/bin
caDirs: []
";

impl Bake {
    pub fn new(spec: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cluster.yaml"), spec).unwrap();
        if spec.contains("os: reference-host.yaml") {
            fs::write(dir.path().join("reference-host.yaml"), REFERENCE_HOST_PROFILE).unwrap();
        }
        Bake { dir }
    }

    pub fn spec_path(&self) -> PathBuf {
        self.dir.path().join("cluster.yaml")
    }

    pub fn set_spec(&self, spec: &str) {
        fs::write(self.spec_path(), spec).unwrap();
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("cluster.state")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `kubebake bake cluster.yaml -o out` plus `extra` arguments.
    pub fn bake(&self, extra: &[&str]) -> Run {
        let mut args = vec!["bake", "cluster.yaml", "-o", "out"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output =
            Command::new(env!("CARGO_BIN_EXE_kubebake")).args(args).current_dir(self.dir.path()).output().unwrap();
        Run { output }
    }

    /// A node's file at its absolute path on the node.
    pub fn node_file(&self, node: &str, abs: &str) -> PathBuf {
        self.out().join(node).join("rootfs").join(abs.trim_start_matches('/'))
    }

    pub fn pki(&self, node: &str, rel: &str) -> PathBuf {
        self.node_file(node, &format!("/etc/kubernetes/pki/{rel}"))
    }
}

/// Every file under `root` by relative path, with its bytes and permission bits.
pub fn snapshot(root: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    if !root.exists() {
        return out;
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, (fs::read(&path).unwrap(), mode));
            }
        }
    }
    out
}

/// All directories under `root` (itself included) with their permission bits.
pub fn dir_modes(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        out.push((dir.clone(), fs::metadata(&dir).unwrap().permissions().mode() & 0o777));
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

/// The path of an external tool the test needs. In CI (`CI` set) a missing tool fails the
/// test; on a developer machine the test says what to install and is skipped.
/// One of a tier's figures (a time, a size), on the process's own stderr: the test harness
/// captures print! and eprint! of a passing test, not a direct write, so CI's log shows it.
pub fn figure(tier: &str, line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{tier}: {line}");
}

/// The boot tier's cached Debian root, named by a hash of the script that builds it, so a
/// changed tests/boot/mkroot.sh builds a new root instead of reusing an older one.
pub fn boot_root() -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(include_bytes!("../boot/mkroot.sh"));
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("/var/cache/kubebake-boot/debian-12-{hex}")
}

/// Runs the shell command `cmd` in `dir` in a real terminal (a detached tmux session on
/// a socket in `dir`, 160x50) and returns the screen once it has finished, with its exit
/// code appended as `EXIT=N`. None without tmux.
pub fn in_terminal(dir: &Path, cmd: &str) -> Option<String> {
    let tmux = tool("tmux", "tmux")?;
    let session = format!("kubebake-term-{}", std::process::id());
    let script = format!("cd {} && {cmd}; echo EXIT=$?; sleep 120", dir.display());
    let socket = dir.join("tmux.sock");
    let tmux_cmd = |args: &[&str]| Command::new(&tmux).arg("-S").arg(&socket).args(args).output().unwrap();
    let o = tmux_cmd(&["new-session", "-d", "-s", &session, "-x", "160", "-y", "50", &script]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let screen = loop {
        let o = tmux_cmd(&["capture-pane", "-p", "-S", "-", "-t", &session]);
        let screen = String::from_utf8_lossy(&o.stdout).into_owned();
        if screen.contains("EXIT=") {
            break screen;
        }
        assert!(std::time::Instant::now() < deadline, "no end in sight:\n{screen}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = tmux_cmd(&["kill-server"]);
    Some(screen)
}

pub fn tool(name: &str, debian_package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()));
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("{name} is required by this test and CI must not skip it: apt-get install {debian_package}");
        }
        eprintln!("SKIPPED: {name} is not installed (apt-get install {debian_package})");
    }
    found
}

/// Runs a command and returns its stdout, failing the test with its stderr otherwise.
#[track_caller]
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A YAML document as a JSON value, read the way kubebake reads YAML (YAML 1.2's core
/// schema: `yes` and `0600` are strings).
pub fn yaml_value(text: &str) -> serde_json::Value {
    kubebake::spec::yaml::from_str(text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

/// Every document of a multi-document YAML stream, as [`yaml_value`] reads one.
pub fn yaml_documents(text: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple_with_options(text, serde_saphyr::options! { strict_booleans: true })
        .unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

/// Differences between two YAML documents, by field path. Kubernetes objects compare as
/// kubeadm would see them: `command` lists as `--flag=value` maps (so a difference names
/// the flag), Go's serialisation artifacts (`creationTimestamp: null`, `status: {}`)
/// ignored.
pub fn yaml_differences(ours: &serde_json::Value, theirs: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_value("", &normalise(ours.clone()), &normalise(theirs.clone()), &mut out);
    out
}

fn normalise(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (key, v) in m {
                let empty_map = v.as_object().is_some_and(|m| m.is_empty());
                if (key == "creationTimestamp" && v.is_null()) || (key == "status" && empty_map) {
                    continue;
                }
                let v = if key == "command" {
                    let mut flags = serde_json::Map::new();
                    for (i, arg) in v.as_array().unwrap().iter().enumerate() {
                        let arg = arg.as_str().unwrap();
                        match arg.strip_prefix("--").and_then(|a| a.split_once('=')) {
                            Some((name, value)) => flags.insert(format!("--{name}"), value.into()),
                            None => flags.insert(format!("[{i}]"), arg.into()),
                        };
                    }
                    Value::Object(flags)
                } else {
                    normalise(v)
                };
                out.insert(key, v);
            }
            Value::Object(out)
        }
        Value::Array(s) => Value::Array(s.into_iter().map(normalise).collect()),
        other => other,
    }
}

fn diff_value(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let p = format!("{path}.{k}");
                match y.get(k) {
                    Some(w) => diff_value(&p, v, w, out),
                    None => out.push(format!("{p}: ours has {}, kubeadm's has none", short(v))),
                }
            }
            for (k, w) in y {
                if !x.contains_key(k) {
                    out.push(format!("{path}.{k}: kubeadm's has {}, ours has none", short(w)));
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                diff_value(&format!("{path}[{i}]"), v, w, out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: ours is {}, kubeadm's is {}", short(a), short(b))),
    }
}

fn short(v: &serde_json::Value) -> String {
    let s = kubebake::fmt::yaml::value_to_string(v).trim().replace('\n', " ");
    if s.len() > 120 { format!("{}…", &s[..120]) } else { s }
}

/// `paths` plus, for every node among them, the user-data that carries its files.
pub fn with_user_data<I: IntoIterator<Item = String>>(paths: I) -> std::collections::BTreeSet<String> {
    let mut out: std::collections::BTreeSet<String> = paths.into_iter().collect();
    let nodes: Vec<String> =
        out.iter().filter(|p| p.contains("/rootfs/")).map(|p| p.split('/').next().unwrap().to_string()).collect();
    for node in nodes {
        out.insert(format!("{node}/user-data"));
        out.insert(format!("{node}/user-data.gz"));
    }
    out
}

/// Tests that need root (network and mount namespaces) run in CI, which is root; elsewhere
/// they say why and skip.
pub fn root_or_skip() -> bool {
    if run_ok(Command::new("id").arg("-u")).trim() == "0" {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "CI runs this test as root");
    eprintln!("SKIPPED: needs root for network and mount namespaces");
    false
}

/// The config an Ignition `config.ign` amounts to: itself, or, when it is kubebake's
/// outer config, the node's whole config that it carries gzip'd in
/// `ignition.config.replace`.
pub fn ignition_inner(config: &Path) -> serde_json::Value {
    let outer: serde_json::Value = serde_json::from_slice(&fs::read(config).unwrap()).unwrap();
    let replace = &outer["ignition"]["config"]["replace"];
    if replace.is_null() {
        return outer;
    }
    assert_eq!(replace["compression"], "gzip", "{}: no compressed inner config", config.display());
    let bytes = data_url(replace["source"].as_str().unwrap(), true);
    serde_json::from_slice(&bytes).unwrap()
}

/// The bytes of an Ignition data URL (`data:,percent-encoded` or `data:;base64,…`),
/// gunzip'd when `gzip`.
pub fn data_url(source: &str, gzip: bool) -> Vec<u8> {
    use base64::Engine;
    use std::io::Read;
    let raw = if let Some(b64) = source.strip_prefix("data:;base64,") {
        base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
    } else {
        let text = source.strip_prefix("data:,").unwrap_or_else(|| panic!("not a data URL: {source:.40}"));
        let mut out = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    };
    if !gzip {
        return raw;
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
    out
}

/// Every file an Ignition config writes, decoded, by path.
pub fn ignition_files(config: &Path) -> BTreeMap<String, Vec<u8>> {
    ignition_inner(config)["storage"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let bytes = data_url(f["contents"]["source"].as_str().unwrap(), f["contents"]["compression"] == "gzip");
            (f["path"].as_str().unwrap().to_string(), bytes)
        })
        .collect()
}

pub fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).unwrap();
    out
}

/// An age identity made by the real `age-keygen`: its file and its recipient. None (and the
/// test says so and skips, or fails in CI) without the age tools.
pub struct AgeIdentity {
    _dir: tempfile::TempDir,
    pub file: PathBuf,
    pub recipient: String,
}

pub fn age_identity() -> Option<AgeIdentity> {
    let keygen = tool("age-keygen", "age")?;
    tool("age", "age")?;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("age.key");
    run_ok(Command::new(&keygen).arg("-o").arg(&file));
    let recipient = run_ok(Command::new(&keygen).arg("-y").arg(&file)).trim().to_string();
    Some(AgeIdentity { _dir: dir, file, recipient })
}

/// `spec` with its secrets sealed to `recipient`.
pub fn sealed_spec(spec: &str, recipient: &str) -> String {
    format!("{spec}  secrets:\n    encryptTo: {recipient}\n")
}

/// Lays files (by absolute path, as a user-data carries them) under `root`, 0644.
pub fn lay(root: &Path, files: &BTreeMap<String, Vec<u8>>) {
    for (path, bytes) in files {
        let at = root.join(path.trim_start_matches('/'));
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        fs::write(&at, bytes).unwrap();
        fs::set_permissions(&at, fs::Permissions::from_mode(0o644)).unwrap();
    }
}

/// Puts an age identity where a node's image keeps it (`/etc/kubebake/age.key`) under `root`.
pub fn give_identity(root: &Path, identity: &Path) {
    let at = root.join("etc/kubebake/age.key");
    fs::create_dir_all(at.parent().unwrap()).unwrap();
    fs::copy(identity, &at).unwrap();
    fs::set_permissions(&at, fs::Permissions::from_mode(0o600)).unwrap();
}

/// The node's own unpacker, as its first-boot unit runs it, on a root laid by its user-data.
pub fn unpack(root: &Path) -> Output {
    Command::new("bash").arg(root.join("opt/kubebake/unpack.sh")).arg(root).output().unwrap()
}

/// Every file a cloud-init user-data document writes, decoded, by path.
pub fn cloud_init_files(user_data: &str) -> BTreeMap<String, Vec<u8>> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
    let doc = yaml_value(user_data);
    doc["write_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let content = f["content"].as_str().unwrap();
            let bytes = match f["encoding"].as_str() {
                None => content.as_bytes().to_vec(),
                Some("b64") => b64(content),
                Some("gz+b64") => gunzip(&b64(content)),
                Some(e) => panic!("encoding {e}"),
            };
            (f["path"].as_str().unwrap().to_string(), bytes)
        })
        .collect()
}

/// The rootfs files (paths relative to OUT) whose bytes or mode differ between two
/// snapshots of an output, sorted.
pub fn changed_rootfs(
    before: &BTreeMap<String, (Vec<u8>, u32)>,
    after: &BTreeMap<String, (Vec<u8>, u32)>,
) -> Vec<String> {
    let mut changed: Vec<String> =
        before.keys().filter(|k| before.get(*k) != after.get(*k) && k.contains("/rootfs/")).cloned().collect();
    changed.sort();
    changed
}
