//! The platform recipes (docs/platforms/*.md), run with each platform's own tool where it
//! runs offline. A page's ```sh block whose first line is `# checked: TOOL (FIXTURE)` is run
//! here as it is written, by bash, in a directory where `out/` is FIXTURE baked by the real
//! binary, so the pages and the test cannot drift apart. What the test changes, and only
//! that: where the tool connects (virt-install to libvirt's test driver, `aws` and
//! `openstack` to stand-ins for their APIs on 127.0.0.1), and the placeholders a reader
//! sets (`IMAGE`, `POOL`, `AMI`, …) point at stand-ins. Recipes whose tool cannot run here
//! (Proxmox's `qm`, `govc`, Terraform, VirtualBox) are written, not run: each page says so.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use base64::Engine;
use common::*;

/// The quickstart's nodes and the addresses its spec gives them.
const NODES: [(&str, &str); 3] = [("cp-1", "10.0.0.11"), ("worker-1", "10.0.0.21"), ("worker-2", "10.0.0.22")];

/// One checked block of a page.
#[derive(Debug)]
struct Recipe {
    page: String,
    tool: String,
    fixture: String,
    script: String,
}

fn pages_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/platforms")
}

/// Every `# checked:` block of every page, in page order.
fn recipes() -> Vec<Recipe> {
    let mut pages: Vec<PathBuf> = fs::read_dir(pages_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    pages.sort();
    pages.iter().filter(|p| p.extension().is_some_and(|e| e == "md")).flat_map(|p| page_recipes(p)).collect()
}

fn page_recipes(page: &Path) -> Vec<Recipe> {
    let name = page.file_name().unwrap().to_string_lossy().into_owned();
    let text = fs::read_to_string(page).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line != "```sh" {
            continue;
        }
        let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let Some(marker) = block.first().and_then(|l| l.strip_prefix("# checked: ")) else { continue };
        let (tool, fixture) = marker
            .split_once(" (")
            .and_then(|(t, f)| Some((t, f.strip_suffix(')')?)))
            .unwrap_or_else(|| panic!("{name}: `# checked: TOOL (FIXTURE)`, not {marker:?}"));
        out.push(Recipe {
            page: name.clone(),
            tool: tool.to_string(),
            fixture: fixture.to_string(),
            script: block[1..].join("\n") + "\n",
        });
    }
    out
}

fn recipes_for(tool: &str) -> Vec<Recipe> {
    let found: Vec<Recipe> = recipes().into_iter().filter(|r| r.tool == tool).collect();
    assert!(!found.is_empty(), "no page has a `# checked: {tool}` block");
    found
}

/// A fixture is the quickstart, then `, os: NAME` and `, sealed` as the spec's changes,
/// then the bake's arguments: `quickstart, os: flatcar --platform aws`.
struct Fixture {
    os: Option<String>,
    sealed: bool,
    args: Vec<String>,
}

fn parse_fixture(fixture: &str) -> Fixture {
    let (spec, args) = match fixture.split_once(" --") {
        Some((spec, rest)) => (spec, format!("--{rest}")),
        None => (fixture, String::new()),
    };
    let mut parts = spec.split(", ");
    assert_eq!(parts.next(), Some("quickstart"), "fixture {fixture:?}: only the quickstart is baked here");
    let mut f = Fixture { os: None, sealed: false, args: args.split_whitespace().map(String::from).collect() };
    for part in parts {
        match part.strip_prefix("os: ") {
            Some(os) => f.os = Some(os.to_string()),
            None if part == "sealed" => f.sealed = true,
            None => panic!("fixture {fixture:?}: unknown part {part:?}"),
        }
    }
    f
}

/// The fixture baked into `out/` of a scratch directory; the age identity, when sealed,
/// must outlive the bake only as long as the test. None when `age` is missing off CI.
fn bake(fixture: &str) -> Option<(Bake, Option<AgeIdentity>)> {
    let f = parse_fixture(fixture);
    let mut spec = include_str!("../examples/quickstart.yaml").to_string();
    if let Some(os) = &f.os {
        spec = spec.replace("spec:\n", &format!("spec:\n  os: {os}\n"));
    }
    let identity = if f.sealed { Some(age_identity()?) } else { None };
    if let Some(id) = &identity {
        spec = sealed_spec(&spec, &id.recipient);
    }
    let b = Bake::new(&spec);
    let args: Vec<&str> = f.args.iter().map(String::as_str).collect();
    b.bake(&args).assert_ok();
    Some((b, identity))
}

/// Runs a recipe's script with bash (`set -eu -o pipefail`), after `prelude`, in `dir`.
fn run_recipe(r: &Recipe, dir: &Path, prelude: &str, env: &[(&str, String)]) -> String {
    let script = format!("set -eu -o pipefail\n{prelude}\n{}", r.script);
    let out = Command::new("bash").arg("-c").arg(&script).current_dir(dir).envs(env.iter().cloned()).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "{} ({}): the recipe failed:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        r.page,
        r.tool
    );
    stdout.into_owned()
}

/// The file a node's platform receives as its user data: `config.ign` on Ignition nodes,
/// `user-data.gz` on cloud-init nodes.
fn delivered(out: &Path, node: &str) -> Vec<u8> {
    let ign = out.join(node).join("config.ign");
    fs::read(if ign.exists() { ign } else { out.join(node).join("user-data.gz") }).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn every_checked_block_names_a_tool_this_test_runs_and_a_fixture_it_bakes() {
    let all = recipes();
    assert!(all.len() >= 6, "{all:#?}");
    for r in &all {
        assert!(["virt-install", "aws", "openstack"].contains(&r.tool.as_str()), "{}: {}", r.page, r.tool);
        parse_fixture(&r.fixture);
        assert!(!r.script.trim().is_empty(), "{}: an empty block", r.page);
    }
}

mod libvirt {
    use super::*;

    /// virt-install builds its seed with the first of xorrisofs, genisoimage and mkisofs on
    /// PATH: this stand-in runs the real one and keeps a copy of each ISO it makes, which
    /// virt-install deletes when it is done.
    fn iso_keeper(dir: &Path, real: &Path) -> PathBuf {
        let bin = dir.join("bin");
        let kept = dir.join("kept");
        fs::create_dir_all(&bin).unwrap();
        fs::create_dir_all(&kept).unwrap();
        let script = format!(
            "#!/bin/sh\nset -e\n'{}' \"$@\"\nwhile [ $# -gt 0 ]; do [ \"$1\" = -o ] && cp \"$2\" '{}'/; shift; done\nexit 0\n",
            real.display(),
            kept.display()
        );
        let path = bin.join("xorrisofs");
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        bin
    }

    /// The files at the root of an ISO, by name, as xorriso reads them.
    fn iso_files(xorriso: &Path, iso: &Path) -> BTreeMap<String, Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let x = dir.path().join("x");
        run_ok(Command::new(xorriso).args(["-osirrox", "on", "-indev"]).arg(iso).args(["-extract", "/"]).arg(&x));
        fs::read_dir(&x)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap())
            })
            .collect()
    }

    /// The fw_cfg entry each Ignition OS reads its config from.
    fn fw_cfg_entry(os: &str) -> &'static str {
        match os {
            "flatcar" => "opt/org.flatcar-linux/config",
            "fedora-coreos" => "opt/com.coreos/config",
            other => panic!("no fw_cfg entry known for {other}"),
        }
    }

    struct Ran {
        /// What virt-install printed when it defined and started each domain.
        defined: String,
        /// The domains' XML, from the same commands with --print-xml.
        xml: String,
    }

    /// The recipe twice against libvirt's test driver: once as written (the domains
    /// defined and started, so libvirt parses them), once printing the XML.
    fn run(r: &Recipe, b: &Bake, bin: &Path, pool: &Path) -> Ran {
        let image = b.path("base.img");
        fs::write(&image, b"").unwrap();
        let env = [
            ("IMAGE", image.display().to_string()),
            ("POOL", pool.display().to_string()),
            ("HOME", b.path("home").display().to_string()),
            ("XDG_CACHE_HOME", b.path("home/.cache").display().to_string()),
            ("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())),
        ];
        let wrapper = |extra: &str| {
            format!("virt-install() {{ command virt-install \"$@\" --connect test:///default {extra}; }}")
        };
        Ran {
            defined: run_recipe(r, b.dir.path(), &wrapper(""), &env),
            xml: run_recipe(r, b.dir.path(), &wrapper("--print-xml"), &env),
        }
    }

    #[test]
    fn virt_install_takes_every_libvirt_recipe_and_each_node_gets_its_own_files() {
        if tool("virt-install", "virtinst").is_none() {
            return;
        }
        let Some(xorriso) = tool("xorriso", "xorriso") else { return };
        let Some(xorrisofs) = tool("xorrisofs", "xorriso") else { return };
        for r in recipes_for("virt-install") {
            let Some((b, _id)) = bake(&r.fixture) else { return };
            let bin = iso_keeper(b.dir.path(), &xorrisofs);
            let pool = b.path("pool");
            fs::create_dir_all(&pool).unwrap();
            let ran = run(&r, &b, &bin, &pool);
            let what = format!("{} ({})", r.page, r.fixture);
            assert_eq!(
                ran.defined.matches("Domain creation completed.").count(),
                NODES.len(),
                "{what}:\n{}",
                ran.defined
            );
            let os = parse_fixture(&r.fixture).os;
            for (node, _) in NODES {
                let files = b.out().join(node);
                if let Some(os) = &os {
                    let entry =
                        format!("<entry name=\"{}\" file=\"{}/{node}.ign\"/>", fw_cfg_entry(os), pool.display());
                    assert!(ran.xml.contains(&entry), "{what}: no {entry} in\n{}", ran.xml);
                    assert!(
                        fs::read(pool.join(format!("{node}.ign"))).unwrap()
                            == fs::read(files.join("config.ign")).unwrap()
                    );
                } else if r.script.contains("seed.iso") {
                    let source = format!("<source file=\"{}/{node}-seed.iso\"/>", pool.display());
                    assert!(ran.xml.contains(&source), "{what}: no {source} in\n{}", ran.xml);
                    assert!(
                        fs::read(pool.join(format!("{node}-seed.iso"))).unwrap()
                            == fs::read(files.join("seed.iso")).unwrap()
                    );
                } else {
                    assert!(ran.xml.contains("ds=nocloud"), "{what}: no NoCloud serial in\n{}", ran.xml);
                }
            }
            if os.is_none() && !r.script.contains("seed.iso") {
                seeds_hold_each_nodes_files(&what, &xorriso, &b.path("kept"), &b.out());
            }
        }
    }

    /// Every seed virt-install made holds one node's user-data and meta-data, byte for
    /// byte, and every node has one (per run: the test runs each recipe twice).
    fn seeds_hold_each_nodes_files(what: &str, xorriso: &Path, kept: &Path, out: &Path) {
        let seeds: Vec<BTreeMap<String, Vec<u8>>> =
            fs::read_dir(kept).unwrap().map(|e| iso_files(xorriso, &e.unwrap().path())).collect();
        assert_eq!(seeds.len(), 2 * NODES.len(), "{what}: seeds made");
        for (node, _) in NODES {
            let expected: BTreeMap<String, Vec<u8>> = ["user-data", "meta-data"]
                .into_iter()
                .map(|n| (n.to_string(), fs::read(out.join(node).join(n)).unwrap()))
                .collect();
            let matching = seeds.iter().filter(|s| **s == expected).count();
            assert_eq!(matching, 2, "{what}: {node}'s files are not on virt-install's seeds as they are");
        }
    }
}

/// A stand-in HTTP API on 127.0.0.1 that records each request and answers it with
/// `reply`; stopped on drop.
struct FakeApi {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    /// The Host header: where the client reached this server, for links back to it.
    host: String,
    body: Vec<u8>,
}

type Reply = fn(&Request) -> (u16, &'static str, String);

impl FakeApi {
    fn start(reply: Reply) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, done) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if done.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    serve(stream, reply, &log);
                }
            }
        });
        FakeApi { port, requests, stop, thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accept loop sees the flag only when a connection wakes it.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request per connection (`Connection: close`), so clients never wait on a kept-alive
/// socket that this server does not read again.
fn serve(stream: TcpStream, reply: Reply, log: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut words = line.split_whitespace();
    let (method, path) = (words.next().unwrap_or("").to_string(), words.next().unwrap_or("").to_string());
    let (mut length, mut host) = (0, String::new());
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap();
            } else if k.eq_ignore_ascii_case("host") {
                host = v.trim().to_string();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let request = Request { method, path, host, body };
    let (status, content_type, text) = reply(&request);
    log.lock().unwrap().push(request);
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        text.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(text.as_bytes());
}

/// `application/x-www-form-urlencoded` fields, decoded.
fn form(body: &[u8]) -> BTreeMap<String, String> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

mod aws {
    use super::*;

    /// The least of a RunInstancesResponse the CLI reads back (`--query` included).
    fn reply(_: &Request) -> (u16, &'static str, String) {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<RunInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-0</requestId>\
<reservationId>r-0</reservationId><ownerId>0</ownerId><instancesSet><item><instanceId>i-0</instanceId>\
</item></instancesSet></RunInstancesResponse>";
        (200, "text/xml", xml.to_string())
    }

    /// Placeholders and a credential-free, region-set CLI that asks no metadata service.
    fn env(dir: &Path, api: &FakeApi) -> Vec<(&'static str, String)> {
        vec![
            ("EC2_ENDPOINT", api.url()),
            ("AMI", "ami-0123456789abcdef0".into()),
            ("SUBNET", "subnet-0123456789abcdef0".into()),
            ("SG", "sg-0123456789abcdef0".into()),
            ("KEY", "kubebake".into()),
            ("HOME", dir.display().to_string()),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE".into()),
            ("AWS_SECRET_ACCESS_KEY", "example".into()),
            ("AWS_DEFAULT_REGION", "eu-west-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", dir.join("aws-config").display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", dir.join("aws-credentials").display().to_string()),
            ("AWS_PAGER", String::new()),
        ]
    }

    const PRELUDE: &str = "aws() { command aws --endpoint-url \"$EC2_ENDPOINT\" \"$@\"; }";

    #[test]
    fn the_aws_cli_sends_each_nodes_delivered_file_as_it_is_with_imdsv2_and_hop_limit_1() {
        if tool("aws", "awscli").is_none() {
            return;
        }
        for r in recipes_for("aws") {
            let Some((b, _id)) = bake(&r.fixture) else { return };
            let api = FakeApi::start(reply);
            let printed = run_recipe(&r, b.dir.path(), PRELUDE, &env(b.dir.path(), &api));
            assert_eq!(printed.lines().collect::<Vec<_>>(), ["i-0"; 3], "{}: --query's output", r.page);
            let sent: Vec<BTreeMap<String, String>> = api.requests().iter().map(|q| form(&q.body)).collect();
            assert_eq!(sent.len(), NODES.len(), "{}: {sent:#?}", r.page);
            for (node, address) in NODES {
                let what = format!("{} ({}), {node}", r.page, r.fixture);
                let q = sent
                    .iter()
                    .find(|q| q.get("TagSpecification.1.Tag.1.Value").map(String::as_str) == Some(node))
                    .unwrap_or_else(|| panic!("{what}: no request named it: {sent:#?}"));
                let file = delivered(&b.out(), node);
                assert!(file.len() <= 16_384, "{what}: {} bytes, over EC2's limit", file.len());
                assert_eq!(q["Action"], "RunInstances", "{what}");
                assert!(q["UserData"] == b64(&file), "{what}: UserData is not the base64 of the file's bytes");
                assert_eq!(q["PrivateIpAddress"], address, "{what}");
                assert_eq!(q["MetadataOptions.HttpTokens"], "required", "{what}");
                assert_eq!(q["MetadataOptions.HttpPutResponseHopLimit"], "1", "{what}");
                assert_eq!(q["MetadataOptions.HttpEndpoint"], "enabled", "{what}");
            }
        }
    }

    /// The page's warning: `file://` reads text, and a gzip file is not text.
    #[test]
    fn file_url_instead_of_fileb_is_refused_for_the_gzip_file() {
        if tool("aws", "awscli").is_none() {
            return;
        }
        let Some((b, _)) = bake("quickstart") else { return };
        let api = FakeApi::start(reply);
        let script = "aws ec2 run-instances --image-id \"$AMI\" --user-data file://out/cp-1/user-data.gz";
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("{PRELUDE}\n{script}"))
            .current_dir(b.dir.path())
            .envs(env(b.dir.path(), &api))
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("fileb://"), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(api.requests().is_empty(), "nothing is sent");
    }
}

mod openstack {
    use super::*;

    const IMAGE: &str = "11111111-1111-4111-8111-111111111111";
    const NETWORK: &str = "22222222-2222-4222-8222-222222222222";

    /// What `openstack server create` asks for, answered just enough: the API versions, the
    /// image, flavor and network it looks up, the new server and its details.
    fn reply(q: &Request) -> (u16, &'static str, String) {
        let body = if q.method == "POST" && q.path.ends_with("/servers") {
            return (202, "application/json", r#"{"server": {"id": "s-0", "links": []}}"#.into());
        } else if q.path.contains("/images/") {
            format!(r#"{{"id": "{IMAGE}", "name": "image", "status": "active"}}"#)
        } else if q.path.contains("/flavors/") {
            r#"{"flavor": {"id": "m1", "name": "m1", "ram": 4096, "vcpus": 2, "disk": 20, "links": []}}"#.into()
        } else if q.path.contains("/networks/") {
            format!(r#"{{"network": {{"id": "{NETWORK}", "name": "net"}}}}"#)
        } else if q.path.contains("/servers/") {
            format!(
                r#"{{"server": {{"id": "s-0", "name": "n", "status": "BUILD", "addresses": {{}}, "metadata": {{}},
                "links": [], "flavor": {{"id": "m1", "links": []}}, "image": {{"id": "{IMAGE}", "links": []}}}}}}"#
            )
        } else {
            // Version discovery follows the link back to this server.
            format!(
                r#"{{"version": {{"id": "v2.1", "status": "CURRENT", "version": "2.1", "min_version": "2.1",
                "links": [{{"rel": "self", "href": "http://{}/"}}]}}}}"#,
                q.host
            )
        };
        (200, "application/json", body)
    }

    fn env(dir: &Path, api: &FakeApi) -> Vec<(&'static str, String)> {
        vec![
            ("NOVA_ENDPOINT", api.url()),
            ("IMAGE", IMAGE.into()),
            ("FLAVOR", "m1".into()),
            ("NETWORK", NETWORK.into()),
            ("HOME", dir.display().to_string()),
        ]
    }

    const PRELUDE: &str =
        "openstack() { command openstack --os-auth-type none --os-endpoint \"$NOVA_ENDPOINT\" \"$@\"; }";

    /// Nova takes at most 65,535 characters of base64.
    const NOVA_LIMIT: usize = 65_535;

    #[test]
    fn the_openstack_client_sends_each_nodes_user_data_as_it_is_within_novas_limit() {
        if tool("openstack", "python3-openstackclient").is_none() {
            return;
        }
        for r in recipes_for("openstack") {
            let Some((b, _id)) = bake(&r.fixture) else { return };
            let api = FakeApi::start(reply);
            run_recipe(&r, b.dir.path(), PRELUDE, &env(b.dir.path(), &api));
            let created: Vec<serde_json::Value> = api
                .requests()
                .iter()
                .filter(|q| q.method == "POST")
                .map(|q| serde_json::from_slice::<serde_json::Value>(&q.body).unwrap()["server"].clone())
                .collect();
            assert_eq!(created.len(), NODES.len(), "{}: {created:#?}", r.page);
            for (node, address) in NODES {
                let what = format!("{} ({}), {node}", r.page, r.fixture);
                let s = created.iter().find(|s| s["name"] == node).unwrap_or_else(|| panic!("{what}: not created"));
                let user_data = s["user_data"].as_str().unwrap();
                assert!(
                    user_data == b64(&fs::read(b.out().join(node).join("user-data")).unwrap()),
                    "{what}: user_data"
                );
                assert!(user_data.len() <= NOVA_LIMIT, "{what}: {} characters of base64", user_data.len());
                assert_eq!(s["config_drive"], true, "{what}");
                assert_eq!(s["networks"][0]["fixed_ip"], address, "{what}");
                assert_eq!(s["networks"][0]["uuid"], NETWORK, "{what}");
            }
        }
    }

    /// The page's warning: this client reads `--user-data` as UTF-8 text, so a gzip file
    /// fails before anything is sent.
    #[test]
    fn the_openstack_client_cannot_send_the_gzip_file() {
        if tool("openstack", "python3-openstackclient").is_none() {
            return;
        }
        let Some((b, _)) = bake("quickstart") else { return };
        let api = FakeApi::start(reply);
        let script = "openstack server create --image \"$IMAGE\" --flavor \"$FLAVOR\" \
                      --user-data out/cp-1/user-data.gz cp-1";
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("{PRELUDE}\n{script}"))
            .current_dir(b.dir.path())
            .envs(env(b.dir.path(), &api))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("codec can't decode"), "{said}");
        assert!(!api.requests().iter().any(|q| q.method == "POST"), "nothing is created");
    }
}
