//! Quoting by construction (src/fmt/quote.rs, the templates' filters, the YAML writer), checked
//! by the readers the nodes use: every escaping function on generated strings (all of
//! Unicode, quotes, `$()`, backticks, newlines, U+2028, NUL where the format allows it)
//! must read back exactly through bash, systemd (`systemd-analyze`), Python's tomllib,
//! GLib's key file parser, Packer's HCL, GNU sed and PyYAML (pure and libyaml); and files
//! rendered from hostile values must stay what they were meant to be: scripts that
//! shellcheck passes and bash runs without running any value, units systemd loads as
//! written, a `#cloud-config` that PyYAML reads with no key of its own added.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use kubebake::fmt::quote;
use kubebake::model::{CalicoMode, Cluster, Cni, Host, ManifestSource};
use kubebake::node::plan::{NodePlan, PlannedFile};
use kubebake::node::templates::Templates;

/// xorshift64*: the same strings on every run, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Characters with a meaning in one of the formats, or that a reader takes for a line end.
const SPECIAL: &[char] = &[
    '\'',
    '"',
    '\\',
    '$',
    '(',
    ')',
    '`',
    '\n',
    '\r',
    '\t',
    ' ',
    '#',
    '%',
    '&',
    ';',
    '|',
    '*',
    '?',
    '[',
    ']',
    '{',
    '}',
    '~',
    '!',
    '=',
    ':',
    ',',
    '-',
    '/',
    '.',
    '<',
    '>',
    '@',
    '^',
    '+',
    '\0',
    '\u{1}',
    '\u{1b}',
    '\u{7f}',
    '\u{85}',
    '\u{a0}',
    '\u{2028}',
    '\u{2029}',
    '\u{feff}',
    '\u{fffe}',
    '\u{ffff}',
    'é',
    '😀',
    '\u{10ffff}',
];

/// Values that broke a format before (issue 21), then `n` generated strings.
fn corpus(n: usize, seed: u64) -> Vec<String> {
    let mut out: Vec<String> = [
        "';touch${IFS}pwned;'",
        "$(touch pwned)",
        "`touch pwned`",
        "\"; touch pwned; \"",
        "e\n[Route]\nX=1",
        "a\u{2028}bootcmd: [touch pwned]",
        "a\nb\u{2028}bootcmd: [touch pwned]\n",
        "reg\"x",
        "${IFS}",
        "%n%%",
        "$${x}%{y}%%{z}",
        "\\",
        "'",
        "''",
        "\"",
        "",
        " ",
        " lead and trail ",
        "a\nb\n",
        "\n",
        "-n",
        "--help",
        "*",
        "~",
        "#",
        "---",
        "...",
        "yes",
        "0600",
        "\u{feff}bom",
        "x\u{85}y",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut rng = Rng(seed);
    for _ in 0..n {
        let len = rng.below(24);
        let s: String = (0..len)
            .map(|_| match rng.below(4) {
                0 => loop {
                    if let Some(c) = char::from_u32(rng.below(0x11_0000) as u32) {
                        break c;
                    }
                },
                1 => (0x20 + rng.below(95)) as u8 as char,
                _ => SPECIAL[rng.below(SPECIAL.len())],
            })
            .collect();
        out.push(s);
    }
    out
}

/// A Python 3.11+ with PyYAML (and libyaml) and GLib's bindings: Debian's, where the
/// system has them.
fn python(modules: &str) -> Option<PathBuf> {
    let candidates = ["/usr/bin/python3", "python3"];
    for p in candidates {
        let ok = Command::new(p).args(["-c", &format!("import {modules}")]).output().is_ok_and(|o| o.status.success());
        if ok {
            return Some(PathBuf::from(p));
        }
    }
    tool("python3", "python3-yaml python3-gi")?;
    if std::env::var_os("CI").is_some() {
        panic!("python3 with {modules} is required in CI");
    }
    eprintln!("SKIPPED: no python3 with {modules}");
    None
}

/// Runs `program` with `input` on stdin; its stdout, failing the test otherwise.
#[track_caller]
fn piped(cmd: &mut Command, input: &[u8]) -> Vec<u8> {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// An object's keys, sorted (whatever order the JSON map keeps).
fn sorted_keys(v: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

/// JSON strings as Python's `json` writes them (ASCII escapes), back into Rust strings.
fn json_strings(out: &[u8]) -> Vec<serde_json::Value> {
    serde_json::from_slice(out).unwrap()
}

#[test]
fn shell_words_read_back_exactly_through_bash_and_run_nothing() {
    let Some(bash) = tool("bash", "bash") else { return };
    let dir = tempfile::tempdir().unwrap();
    let strings: Vec<String> = corpus(600, 1).into_iter().filter(|s| !s.contains('\0')).collect();
    let mut script = String::new();
    let mut expected = Vec::new();
    for s in &strings {
        let word = quote::sh(s).unwrap();
        // As the templates use a word: alone, beside double-quoted text (messages), as an
        // assignment's value and in an array.
        script.push_str(&format!(
            "printf '%s\\0' {word}\nprintf '%s\\0' \"<\"{word}\"> \"\nx={word}; printf '%s\\0' \"$x\"\n\
             a=( {word} ); printf '%s\\0' \"${{a[@]}}\"\n"
        ));
        expected.extend([s.clone(), format!("<{s}> "), s.clone(), s.clone()]);
    }
    let out = piped(Command::new(&bash).arg("-s").current_dir(dir.path()), script.as_bytes());
    let got: Vec<String> = out.split(|&b| b == 0).map(|w| String::from_utf8(w.to_vec()).unwrap()).collect();
    assert_eq!(got.len(), expected.len() + 1, "one word per printf");
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "case {i}: {:?}", quote::sh(&strings[i / 4]).unwrap());
    }
    assert!(!dir.path().join("pwned").exists(), "a value ran");
    assert!(quote::sh("a\0b").is_err());
}

#[test]
fn sed_replacements_insert_exactly_the_value() {
    let Some(bash) = tool("bash", "bash") else { return };
    let strings: Vec<String> = corpus(300, 2).into_iter().filter(|s| !s.contains('\0')).collect();
    let mut script = String::new();
    for s in &strings {
        let program = kubebake::node::firstboot::calico_image_sed(s).unwrap();
        script.push_str(&format!(
            "printf 'image: docker.io/calico/node:v1\\nx: y\\nimage: quay.io/tigera/operator:v2\\n' | sed {} | tr '\\n' '\\1'; printf '\\0'\n",
            quote::sh(&program).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let out = piped(Command::new(&bash).arg("-s").env("LC_ALL", "C.UTF-8").current_dir(dir.path()), script.as_bytes());
    let got: Vec<&[u8]> = out.split(|&b| b == 0).collect();
    for (s, g) in strings.iter().zip(got) {
        let want = format!("image: {s}/calico/node:v1\nx: y\nimage: {s}/tigera/operator:v2\n").replace('\n', "\u{1}");
        assert_eq!(String::from_utf8_lossy(g), want, "{s:?}");
    }
    assert!(!dir.path().join("pwned").exists(), "a value ran");
    assert!(kubebake::node::firstboot::calico_image_sed("a\0").is_err());
}

#[test]
fn toml_strings_and_comments_read_back_exactly_through_tomllib() {
    let Some(python) = python("tomllib") else { return };
    let strings = corpus(600, 3);
    let docs: Vec<String> = strings
        .iter()
        .map(|s| {
            format!(
                "# {}\nk = {}\n\n[host.{}]\n  capabilities = [\"pull\", \"resolve\"]\n",
                quote::comment(s),
                quote::toml(s),
                quote::toml(s)
            )
        })
        .collect();
    let code = "import json, sys, tomllib
out = []
for doc in json.load(sys.stdin):
    d = tomllib.loads(doc)
    out.append([d['k'], list(d['host'].keys()), d['host'][list(d['host'])[0]]['capabilities'], sorted(d)])
print(json.dumps(out))";
    let out = piped(Command::new(&python).args(["-c", code]), &serde_json::to_vec(&docs).unwrap());
    for (s, got) in strings.iter().zip(json_strings(&out)) {
        assert_eq!(got, serde_json::json!([s, [s], ["pull", "resolve"], ["host", "k"]]), "{s:?}");
    }
}

#[test]
fn yaml_reads_back_exactly_through_pyyaml_and_libyaml_with_no_line_break_left_raw() {
    let Some(python) = python("yaml") else { return };
    let strings = corpus(600, 4);
    let mut values = Vec::new();
    let mut docs = Vec::new();
    for s in &strings {
        // A value, in a list, nested, as multi-line text (a literal block where it can be),
        // as a key, and as the `yaml` filter's scalar on a line of a template.
        let mut keys = serde_json::Map::new();
        if s.chars().count() <= 100 {
            keys.insert(s.clone(), "v".into());
        }
        let value = serde_json::json!({
            "k": s, "list": [s, "x"], "nested": {"a": s}, "multi": format!("{s}\n{s}\nend\n"), "keys": keys,
        });
        let doc = kubebake::fmt::yaml::to_string(&value);
        for c in doc.chars() {
            let raw_ok = c == '\n'
                || c == '\t'
                || !(c.is_control() || quote::is_unicode_line_break(c) || ('\u{fffe}'..='\u{ffff}').contains(&c));
            assert!(raw_ok, "{s:?}: {c:?} written raw in\n{doc}");
        }
        docs.push(doc);
        values.push(value);
        docs.push(format!("# {}\nscalar: {}\n", quote::comment(s), kubebake::fmt::yaml::scalar(s)));
        values.push(serde_json::json!({ "scalar": s }));
    }
    let code = "import json, sys, yaml
def read(doc, loader):
    try:
        return yaml.load(doc, Loader=loader)
    except yaml.YAMLError as e:
        return {'error': str(e)}
out = []
for doc in json.load(sys.stdin):
    out.append([read(doc, yaml.SafeLoader), read(doc, yaml.CSafeLoader)])
print(json.dumps(out))";
    let out = piped(Command::new(&python).args(["-c", code]), &serde_json::to_vec(&docs).unwrap());
    for ((doc, want), got) in docs.iter().zip(&values).zip(json_strings(&out)) {
        assert_eq!(got[0], *want, "PyYAML reads\n{doc}");
        assert_eq!(got[1], *want, "libyaml reads\n{doc}");
    }
}

#[test]
fn key_file_values_and_comments_read_back_exactly_through_glib() {
    let Some(python) = python("gi; from gi.repository import GLib") else { return };
    let strings: Vec<String> = corpus(600, 5).into_iter().filter(|s| !s.contains('\0')).collect();
    let mut doc = String::new();
    for (i, s) in strings.iter().enumerate() {
        doc.push_str(&format!("# {}\n[g{i}]\nk={}\n", quote::comment(s), quote::keyfile(s).unwrap()));
    }
    let code = "import json, sys
from gi.repository import GLib
data = sys.stdin.read()
k = GLib.KeyFile()
k.load_from_data(data, len(data.encode()), GLib.KeyFileFlags.NONE)
print(json.dumps([[g, k.get_keys(g)[0], k.get_string(g, 'k')] for g in k.get_groups()[0]]))";
    let out = piped(Command::new(&python).args(["-c", code]), doc.as_bytes());
    let got = json_strings(&out);
    assert_eq!(got.len(), strings.len(), "one group per value, none added");
    for (i, (s, g)) in strings.iter().zip(got).enumerate() {
        assert_eq!(g, serde_json::json!([format!("g{i}"), ["k"], s]), "{s:?}");
    }
    assert!(quote::keyfile("\0").is_err());
}

#[test]
fn hcl_strings_and_comments_read_back_exactly_through_packer() {
    let Some(packer) = tool("packer", "packer") else { return };
    let dir = tempfile::tempdir().unwrap();
    let strings: Vec<String> = corpus(300, 6).into_iter().filter(|s| !s.contains('\0')).collect();
    let mut hcl = String::from(
        "source \"null\" \"n\" {\n  communicator = \"none\"\n}\n\nbuild {\n  sources = [\"source.null.n\"]\n}\n",
    );
    for (i, s) in strings.iter().enumerate() {
        hcl.push_str(&format!(
            "\n# {}\nvariable \"v{i}\" {{\n  type    = string\n  default = {}\n}}\n",
            quote::comment(s),
            quote::hcl(s)
        ));
    }
    fs::write(dir.path().join("q.pkr.hcl"), &hcl).unwrap();
    let vars: Vec<String> = (0..strings.len()).map(|i| format!("var.v{i}")).collect();
    let expression = format!("jsonencode([{}])\n", vars.join(", "));
    let out = piped(Command::new(&packer).arg("console").arg(".").current_dir(dir.path()), expression.as_bytes());
    let line = String::from_utf8(out).unwrap();
    // The console prints the JSON text as an HCL string's value: one line.
    let got: Vec<String> = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(got, strings);
}

/// systemd-analyze and a scratch directory, where the system has them.
fn systemd_analyze() -> Option<PathBuf> {
    tool("systemd-analyze", "systemd")
}

/// Runs `systemd-analyze condition` with `conditions` in `env`: whether all held.
fn conditions_hold(analyze: &Path, conditions: &[String], env: &[(String, String)]) -> (bool, String) {
    let out = Command::new(analyze).arg("condition").args(conditions).envs(env.iter().cloned()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn systemd_settings_read_back_exactly_through_systemd() {
    let Some(analyze) = systemd_analyze() else { return };
    // ConditionEnvironment= is read as unit settings are (specifiers expanded, no other
    // escapes) and compares with systemd-analyze's own environment: a value that systemd
    // reads back as written holds. Wrapped in `x`, as a setting's value is trimmed.
    let strings: Vec<String> = corpus(300, 7).into_iter().filter(|s| quote::systemd(s).is_ok()).collect();
    let mut env = Vec::new();
    let mut conditions = Vec::new();
    for (i, s) in strings.iter().enumerate() {
        env.push((format!("KUBEBAKE_Q{i}"), format!("x{s}x")));
        conditions.push(format!("ConditionEnvironment=KUBEBAKE_Q{i}=x{}x", quote::systemd(s).unwrap()));
    }
    let (held, out) = conditions_hold(&analyze, &conditions, &env);
    assert!(held, "{out}");
    // The check can fail: `%` not doubled is a specifier.
    let wrong = vec!["ConditionEnvironment=KUBEBAKE_Q=x%ax".to_string()];
    assert!(!conditions_hold(&analyze, &wrong, &[("KUBEBAKE_Q".into(), "x%ax".into())]).0);
    for bad in ["a\nb", "a\r", "a\\", "\0"] {
        assert!(quote::systemd(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn environment_file_values_read_back_exactly_through_systemd() {
    let Some(analyze) = systemd_analyze() else { return };
    // systemd reads os-release with the parser of EnvironmentFile=, and
    // ConditionOSRelease= compares its values (SYSTEMD_OS_RELEASE names the file).
    let dir = tempfile::tempdir().unwrap();
    let strings: Vec<String> = corpus(300, 8).into_iter().filter(|s| quote::env_double_quoted(s).is_ok()).collect();
    let mut file = String::new();
    let mut words = Vec::new();
    for (i, s) in strings.iter().enumerate() {
        // The value starts with `x`: ConditionOSRelease reads `=`, `<`, `!` after the key
        // as its operator.
        file.push_str(&format!("K{i}={}\n", quote::env_double_quoted(&format!("x{s}")).unwrap()));
        let expected = format!("K{i}=x{s}").replace('%', "%%").replace('\\', "\\\\").replace('"', "\\\"");
        words.push(format!("\"{expected}\""));
    }
    let release = dir.path().join("os-release");
    fs::write(&release, &file).unwrap();
    let env = [("SYSTEMD_OS_RELEASE".to_string(), release.display().to_string())];
    let (held, out) = conditions_hold(&analyze, &[format!("ConditionOSRelease={}", words.join(" "))], &env);
    assert!(held, "{out}");
    let (held, _) = conditions_hold(&analyze, &["ConditionOSRelease=K0=y".to_string()], &env);
    assert!(!held, "the check can fail");
    assert!(quote::env_double_quoted("a\nb").is_err());
}

/// `systemd-analyze verify` on `units` in `dir`: its output, failing the test when it does.
#[track_caller]
fn verify(analyze: &Path, dir: &Path, units: &[String]) -> String {
    let out = Command::new(analyze).arg("verify").args(units).current_dir(dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn executables_in_units_are_the_files_systemd_runs() {
    let Some(analyze) = systemd_analyze() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    // Directory names that systemd_exec takes: a unit whose executable reads back as
    // another path fails verify (the file would not exist).
    let names: Vec<String> = corpus(400, 9)
        .into_iter()
        .filter(|s| !s.is_empty() && s.len() < 200 && s != "." && s != ".." && !s.contains(['/', '\0']))
        .filter(|s| quote::systemd_exec(&format!("/{s}")).is_ok())
        .collect();
    assert!(names.len() > 50, "{}", names.len());
    let templates = Templates::load(None).unwrap();
    let mut units = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let bin = root.join(format!("b{i}")).join(name);
        fs::create_dir_all(&bin).unwrap();
        fs::write(bin.join("kubelet"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(bin.join("kubelet"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let ctx = kubebake::node::templates::kubelet_unit_context(&bin.display().to_string());
        let unit = format!("k{i}.service");
        fs::write(root.join(&unit), templates.render("kubelet.service.tera", &ctx).unwrap()).unwrap();
        units.push(unit);
    }
    let text = verify(&analyze, &root, &units);
    assert!(!text.contains("not executable") && !text.contains("Unknown"), "{text}");
    // A unit naming a file that is not there fails: the check can fail.
    let ctx = kubebake::node::templates::kubelet_unit_context(&root.join("missing dir").display().to_string());
    fs::write(root.join("missing.service"), templates.render("kubelet.service.tera", &ctx).unwrap()).unwrap();
    let out = Command::new(&analyze).args(["verify", "missing.service"]).current_dir(&root).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn the_first_boot_unit_loads_as_written_whatever_the_node_is_called() {
    let Some(analyze) = systemd_analyze() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let templates = Templates::load(None).unwrap();
    fs::write(root.join("firstboot.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(root.join("firstboot.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script = root.canonicalize().unwrap().join("firstboot.sh").display().to_string();
    let mut units = Vec::new();
    let mut refused = 0;
    for (i, name) in corpus(400, 10).into_iter().enumerate() {
        let ctx = serde_json::json!({"role": "init", "node_name": name, "script": script, "unpacker": null});
        match templates.render("kubebake-firstboot.service.tera", &ctx) {
            Ok(unit) => {
                let file = format!("f{i}.service");
                fs::write(root.join(&file), format!("# {}\n{unit}", quote::comment(&name))).unwrap();
                units.push(file);
            }
            Err(e) => {
                let unwritable = |c: char| c.is_control() || quote::is_noncharacter(c);
                assert!(name.chars().any(unwritable) || name.ends_with('\\'), "{name:?}: {e}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0 && units.len() > 100, "{refused} refused, {} written", units.len());
    let text = verify(&analyze, root, &units);
    // Nothing a name holds became a setting or a section of its own.
    for word in ["Unknown", "outside of section", "Invalid section", "Missing '='"] {
        assert!(!text.contains(word), "{text}");
    }
}

/// A spec whose every choice puts a value in some format: a VIP, Calico in manifest mode
/// with a registry, mirrors, sealed secrets, static addressing, a pool.
fn spec(os: &str, packages: &str) -> String {
    format!(
        "apiVersion: kubebake.io/v1alpha1
kind: Cluster
metadata: {{name: hostile}}
spec:
  os: {os}
{packages}  controlPlaneEndpoint: api.example.internal:6443
  vip: {{address: 10.0.0.10, interface: eth0}}
  cni: {{mode: manifest, registry: registry.internal}}
  registryMirrors: {{docker.io: [https://mirror.example.internal]}}
  secrets: {{encryptTo: age1he387fvnvvm42gngl05vulu7taz8ep3zf3llugmezdema8g2pd5q925jzy}}
  nodeNetwork: {{interface: eth0, prefixLength: 24, gateway: 10.0.0.1, nameservers: [10.0.0.1]}}
  workerPools: [{{name: gpu}}]
  nodes:
    - {{name: cp-1, role: control-plane, address: 10.0.0.11}}
    - {{name: cp-2, role: control-plane, address: 10.0.0.12}}
    - {{name: worker-1, role: worker, address: 10.0.0.21}}
"
    )
}

fn cluster(os: &str, packages: &str) -> Cluster {
    let mut c = kubebake::spec::parse(&spec(os, packages), Path::new("hostile.yaml")).unwrap().cluster;
    // What `bake --bundle` sets for a bundle's nodes.
    if c.os.packages == kubebake::model::profile::Packages::Bundle {
        c.os.bundle_sha256 = Some("0".repeat(64));
    }
    c
}

/// The spec's cluster with hostile values wherever a value reaches a file, beyond what
/// the spec's validation lets through: the writers must not rely on it.
fn hostile(mut c: Cluster) -> Cluster {
    // systemd_exec takes it (no quotes or backslashes); a shell takes anything.
    c.os.profile.bin_dir = "/opt/b in/$(touch pwned)/`touch pwned`%n;x".into();
    if c.os.profile.containerd_package.is_some() {
        c.os.profile.containerd_package = Some("containerd';touch pwned;'\"$(touch pwned)\"".into());
    }
    c.login.user = "u';touch pwned;'\"$(touch pwned)\"".into();
    if c.os.bundle_sha256.is_some() {
        c.os.bundle_sha256 = Some("0';touch pwned;'\"$(touch pwned)\"".into());
    }
    if let Some(s) = &mut c.sealing {
        s.identity = "/etc/$(touch${IFS}pwned)/'a\"ge'.key".into();
    }
    if let Cni::Calico(calico) = &mut c.cni {
        calico.registry = Some("reg#&\\1/$(touch pwned)\nx".into());
        calico.source = ManifestSource::Url {
            urls: vec!["https://x/';touch${IFS}pwned;'".into(), "https://y/a b\"$(touch pwned)\" \\".into()],
            sha256: None,
        };
    }
    c.endpoint.host = Host::Dns("api';touch pwned;'.example".into());
    for n in &mut c.nodes {
        n.name = format!("{}'$(touch pwned)\"", n.name);
    }
    c.worker_pools[0].name = "gpu';touch pwned;'".into();
    c.image_repository = "reg\"'x/$(touch pwned)/k8s".into();
    c.registry_mirrors = [("reg\"x]".to_string(), vec!["https://m/\"]\n[evil]".to_string()])].into();
    c
}

fn empty_plan(name: &str) -> NodePlan {
    NodePlan {
        name: name.into(),
        role: kubebake::model::Role::Worker,
        pool: None,
        files: Vec::new(),
        units: Vec::new(),
    }
}

/// Every file the first-boot part of each node and pool of `c` gets, by node.
fn first_boot_files(c: &Cluster, templates: &Templates) -> Vec<(String, NodePlan)> {
    let mut out = Vec::new();
    for node in &c.nodes {
        let mut plan = empty_plan(&node.name);
        kubebake::node::firstboot::add(&mut plan, c, node, templates).unwrap();
        out.push((node.name.clone(), plan));
    }
    for pool in &c.worker_pools {
        let mut plan = empty_plan(&pool.dir());
        kubebake::node::firstboot::add_pool(&mut plan, c, pool, templates).unwrap();
        out.push((pool.dir(), plan));
    }
    out
}

fn file<'a>(plan: &'a NodePlan, path: &str) -> Option<&'a str> {
    plan.files.iter().find(|f| f.path == path).map(|f| std::str::from_utf8(&f.contents).unwrap())
}

/// shellcheck on `script`. SC2016 ("expressions don't expand in single quotes") is the
/// point here: a value holding `$(…)` is data, in single quotes on purpose.
#[track_caller]
fn shellcheck(shellcheck: &Path, script: &str, what: &str) {
    let mut child = Command::new(shellcheck)
        .args(["--exclude=SC2016", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn scripts_rendered_from_hostile_values_pass_shellcheck_and_bash_reads_them_whole() {
    let (Some(sc), Some(bash)) = (tool("shellcheck", "shellcheck"), tool("bash", "bash")) else { return };
    let templates = Templates::load(None).unwrap();
    let mut checked = 0;
    for (os, packages) in [
        ("ubuntu-24.04", ""),
        ("debian-12", "  packages: prebaked\n"),
        ("debian-12", "  packages: bundle\n"),
        ("flatcar", ""),
        ("fedora-coreos", ""),
    ] {
        let c = hostile(cluster(os, packages));
        for (node, plan) in first_boot_files(&c, &templates) {
            for path in ["/opt/kubebake/firstboot.sh", "/opt/kubebake/unpack.sh"] {
                let Some(script) = file(&plan, path) else { continue };
                shellcheck(&sc, script, &format!("{os} {packages} {node} {path}"));
                run_ok(Command::new(&bash).args(["-n", "-c", script]));
                checked += 1;
            }
        }
    }
    assert!(checked >= 5 * 4, "{checked}");
}

/// The function `name` of a rendered script, from `name() {` to its closing brace.
fn function(script: &str, name: &str) -> String {
    let start = script.find(&format!("\n{name}() {{\n")).unwrap_or_else(|| panic!("no {name}() in\n{script}")) + 1;
    let end = start + script[start..].find("\n}\n").unwrap() + 3;
    script[start..end].to_string()
}

/// Runs `body` in bash in `dir` with `stubs` (name, script) ahead of PATH, the script's
/// own `fail`, `log` and `retry` (without pauses), and STATE in `dir`. Output and status.
fn run_in(bash: &Path, dir: &Path, stubs: &[(&str, &str)], body: &str) -> (bool, String) {
    let bin = dir.join("stubs");
    fs::create_dir_all(&bin).unwrap();
    for (name, text) in stubs {
        fs::write(bin.join(name), format!("#!/bin/bash\n{text}\n")).unwrap();
        fs::set_permissions(bin.join(name), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let prelude = format!(
        "set -Eeuo pipefail\nexport STATE={}\nlog() {{ echo \"kubebake: $*\"; }}\n\
         fail() {{ echo \"failed: $*\" > \"$STATE/status\"; log \"FAILED: $*\"; exit 1; }}\nretry() {{ \"$@\"; }}\n",
        quote::sh(&dir.display().to_string()).unwrap()
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(bash)
        .args(["-c", &format!("{prelude}{body}")])
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn calicos_source_is_read_as_data_and_the_registry_lands_whole() {
    let Some(bash) = tool("bash", "bash") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let templates = Templates::load(None).unwrap();
    let c = hostile(cluster("ubuntu-24.04", ""));
    let Cni::Calico(calico) = &c.cni else { unreachable!() };
    assert_eq!(calico.mode, CalicoMode::Manifest);
    // The script reads the file at a fixed path on the node; here, in the scratch directory.
    let source = d.join("source.txt");
    fs::write(&source, kubebake::node::cni::source_data(calico).unwrap()).unwrap();
    let mut ctx = kubebake::node::firstboot::script_context(&c, &c.nodes[0]).unwrap();
    ctx.calico_source = source.display().to_string();
    let script = templates.render("firstboot.sh.tera", &ctx).unwrap();
    let stubs = [
        // curl -fsSL -o FILE URL: records the URL, serves a manifest naming Calico's image.
        ("curl", "printf '%s\\0' \"$4\" >> \"$STATE/urls\"; printf 'image: docker.io/calico/node:v3\\n' > \"$3\""),
        ("kubectl", "printf '%s\\0' \"$@\" >> \"$STATE/kubectl\""),
    ];
    let (ok, out) = run_in(&bash, d, &stubs, &format!("{}cni\n", function(&script, "cni")));
    assert!(ok, "{out}");
    let ManifestSource::Url { urls, .. } = &calico.source else { unreachable!() };
    let fetched = fs::read_to_string(d.join("urls")).unwrap();
    assert_eq!(fetched.split_terminator('\0').collect::<Vec<_>>(), *urls, "each URL whole");
    let manifest = fs::read_to_string(d.join("calico-manifest.yaml")).unwrap();
    let registry = calico.registry.as_deref().unwrap();
    assert_eq!(manifest, format!("image: {registry}/calico/node:v3\n---\n").repeat(2));
    let kubectl = fs::read_to_string(d.join("kubectl")).unwrap();
    assert!(kubectl.contains("apply\0-f\0/etc/kubebake/calico/ippool.yaml\0"), "{kubectl:?}");
    assert!(!d.join("pwned").exists(), "a value ran");

    // A line break would start a line of its own: refused when the file is made.
    let mut broken = calico.clone();
    broken.source = ManifestSource::Url { urls: vec!["https://x/\nmode operator".into()], sha256: None };
    assert!(kubebake::node::cni::source_data(&broken).is_err());
}

#[test]
fn values_in_messages_and_paths_stay_data() {
    let Some(bash) = tool("bash", "bash") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let templates = Templates::load(None).unwrap();
    let c = hostile(cluster("debian-12", ""));
    let mut plan = empty_plan("cp-1");
    kubebake::node::firstboot::add(&mut plan, &c, &c.nodes[0], &templates).unwrap();
    let script = file(&plan, "/opt/kubebake/firstboot.sh").unwrap();
    // The unpacker of a sealed node finds its sealed pack and no identity: the message names
    // the identity as it is.
    let identity = &c.sealing.as_ref().unwrap().identity;
    let root = d.join("root");
    let pack = format!("{}{}", kubebake::node::pack_format::PACK_GZ, kubebake::node::pack_format::SEALED_SUFFIX);
    fs::create_dir_all(root.join(pack.trim_start_matches('/')).parent().unwrap()).unwrap();
    fs::write(root.join(pack.trim_start_matches('/')), "sealed").unwrap();
    let unpacker = file(&plan, kubebake::node::pack_format::UNPACKER).unwrap();
    let out = Command::new(&bash).arg("-c").arg(unpacker).arg("unpack.sh").arg(&root).output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let status = fs::read_to_string(root.join("var/lib/kubebake/status")).unwrap();
    assert!(
        status.starts_with(&format!(
            "failed: unseal: this node's secrets are sealed to {}, and the image has no identity at {identity} (",
            c.sealing.as_ref().unwrap().recipient
        )),
        "{status}{out}"
    );
    // The top-level values and the last line's message.
    let readonly: String = script
        .lines()
        .filter(|l| l.starts_with("readonly CONFIG") || l.starts_with("readonly BIN"))
        .map(|l| format!("{l}\n"))
        .collect();
    let last = script.lines().last().unwrap();
    let (ok, out) = run_in(&bash, d, &[], &format!("{readonly}printf '%s\\n' \"$BIN\"\n{last}\n"));
    assert!(ok, "{out}");
    assert_eq!(out, format!("{}\nkubebake: {} is set up (init)\n", c.os.profile.bin_dir, c.nodes[0].name));
    assert!(!d.join("pwned").exists(), "a value ran");
}

#[test]
fn toml_rendered_from_hostile_values_means_what_it_says() {
    let Some(python) = python("tomllib") else { return };
    let templates = Templates::load(None).unwrap();
    let c = hostile(cluster("ubuntu-24.04", ""));
    let mut plan = empty_plan("cp-1");
    kubebake::node::firstboot::add(&mut plan, &c, &c.nodes[0], &templates).unwrap();
    let config = file(&plan, "/etc/containerd/config.toml").unwrap();
    let (registry, mirrors) = c.registry_mirrors.iter().next().unwrap();
    let hosts = file(&plan, &format!("/etc/containerd/certs.d/{registry}/hosts.toml")).unwrap();
    let code = "import json, sys, tomllib
print(json.dumps([tomllib.loads(d) for d in json.load(sys.stdin)]))";
    let out = piped(Command::new(&python).args(["-c", code]), &serde_json::to_vec(&[config, hosts]).unwrap());
    let got = json_strings(&out);
    let cri = &got[0]["plugins"]["io.containerd.grpc.v1.cri"];
    assert_eq!(cri["sandbox_image"], format!("{}/pause:3.10.2", c.image_repository).as_str());
    assert_eq!(cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"], true);
    assert_eq!(cri["registry"]["config_path"], "/etc/containerd/certs.d");
    assert_eq!(sorted_keys(&got[0]), ["plugins", "version"]);
    assert_eq!(got[1]["server"], format!("https://{registry}").as_str());
    assert_eq!(sorted_keys(&got[1]["host"]), *mirrors);
    assert_eq!(got[1].as_object().unwrap().len(), 2, "{}", got[1]);

    // A registry that cannot name containerd's directory is refused.
    let mut bad = c.clone();
    bad.registry_mirrors = [("..".to_string(), vec!["https://m".to_string()])].into();
    let err = kubebake::node::firstboot::add(&mut empty_plan("cp-1"), &bad, &bad.nodes[0], &templates).unwrap_err();
    assert!(err.to_string().contains("spec.registryMirrors"), "{err}");
}

#[test]
fn static_network_files_refuse_an_interface_they_cannot_name() {
    let templates = Templates::load(None).unwrap();
    for os in ["flatcar", "fedora-coreos"] {
        let mut c = cluster(os, "");
        c.node_network.as_mut().unwrap().interface = "e\n[Route]\nX=1".into();
        let err = kubebake::node::firstboot::add(&mut empty_plan("cp-1"), &c, &c.nodes[0], &templates).unwrap_err();
        assert!(err.to_string().contains("spec.nodeNetwork.interface"), "{err}");
        for bad in ["", ".", "..", "a/b", "eth 0", "en*", "sixteen-chars-xx", "é"] {
            assert!(kubebake::node::firstboot::interface_name(bad).is_err(), "{bad:?}");
        }
    }
}

#[test]
fn the_key_file_reads_as_networkmanager_will() {
    let Some(python) = python("gi; from gi.repository import GLib") else { return };
    let templates = Templates::load(None).unwrap();
    let c = cluster("fedora-coreos", "");
    let mut plan = empty_plan("cp-1");
    kubebake::node::firstboot::add(&mut plan, &c, &c.nodes[0], &templates).unwrap();
    let keyfile = file(&plan, "/etc/NetworkManager/system-connections/kubebake-eth0.nmconnection").unwrap();
    let code = "import json, sys
from gi.repository import GLib
data = sys.stdin.read()
k = GLib.KeyFile()
k.load_from_data(data, len(data.encode()), GLib.KeyFileFlags.NONE)
print(json.dumps({g: {key: k.get_string(g, key) for key in k.get_keys(g)[0]} for g in k.get_groups()[0]}))";
    let out = piped(Command::new(&python).args(["-c", code]), keyfile.as_bytes());
    let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        got,
        serde_json::json!({
            "connection": {"id": "kubebake-eth0", "type": "ethernet", "interface-name": "eth0"},
            "ipv4": {"method": "manual", "address1": "10.0.0.11/24,10.0.0.1", "dns": "10.0.0.1;"},
            "ipv6": {"method": "disabled"},
        })
    );
}

#[test]
fn the_kubelets_flags_file_reads_back_through_systemd_and_refuses_what_would_split() {
    let Some(analyze) = systemd_analyze() else { return };
    // Kubernetes 1.33 still passes the pause image as a flag: the image repository lands
    // in kubeadm-flags.env.
    let spec = spec("ubuntu-24.04", "  kubernetesVersion: v1.33.3\n");
    let mut c = kubebake::spec::parse(&spec, Path::new("hostile.yaml")).unwrap().cluster;
    // The flags as they are, from a plain repository name put back in by hand.
    c.image_repository = "REPOSITORY".into();
    let plain = kubebake::node::kubelet_config::kubelet_flags_env(&c, &c.nodes[0]).unwrap();
    let repository = "reg\"x\\y$z`w/k8s";
    let flags = plain
        .strip_prefix("KUBELET_KUBEADM_ARGS=\"")
        .unwrap()
        .trim_end()
        .trim_end_matches('"')
        .replace("REPOSITORY", repository);
    assert!(flags.contains("--pod-infra-container-image=reg\"x\\y$z`w/k8s/pause:"), "{flags}");
    c.image_repository = repository.into();
    let env = kubebake::node::kubelet_config::kubelet_flags_env(&c, &c.nodes[0]).unwrap();
    let value = env.strip_prefix("KUBELET_KUBEADM_ARGS=").unwrap().trim_end();
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("os-release");
    fs::write(&release, format!("K={value}\n")).unwrap();
    let word = format!("K={flags}").replace('%', "%%").replace('\\', "\\\\").replace('"', "\\\"");
    let condition = format!("ConditionOSRelease=\"{word}\"");
    let (held, out) =
        conditions_hold(&analyze, &[condition], &[("SYSTEMD_OS_RELEASE".into(), release.display().to_string())]);
    assert!(held, "{out}");
    for bad in ["reg x/k8s", "reg\tx", "régistry"] {
        c.image_repository = bad.into();
        assert!(kubebake::node::kubelet_config::kubelet_flags_env(&c, &c.nodes[0]).is_err(), "{bad:?}");
    }
}

#[test]
fn no_file_content_or_value_adds_structure_to_the_cloud_config() {
    let Some(python) = python("yaml") else { return };
    let c = cluster("ubuntu-24.04", "");
    let mut c = c;
    c.sealing = None;
    c.login.ssh_authorized_keys = vec!["ssh-ed25519 AAAA x\u{2028}bootcmd: [touch pwned]".into()];
    // A static pod manifest with a flag that held a newline and a LINE SEPARATOR, and
    // third-party files (cni.manifest.file) of every kind of text.
    c.extra_args.api_server.insert("audit-log-path".into(), "a\nb\u{2028}bootcmd: [touch pwned]\n".into());
    let node = c.nodes[0].clone();
    let manifest = kubebake::node::manifests::kubeadm_yaml(&c, &kubebake::node::manifests::apiserver(&c, &node, &[]));
    let mut files = vec![PlannedFile {
        path: "/etc/kubebake/manifests/kube-apiserver.yaml".into(),
        mode: 0o600,
        owner: "root:root",
        contents: manifest.clone().into_bytes(),
    }];
    for (i, s) in corpus(300, 11).into_iter().enumerate() {
        files.push(PlannedFile {
            path: format!("/etc/kubebake/calico/f{i:03}.yaml"),
            mode: 0o644,
            owner: "root:root",
            contents: format!("kind: ConfigMap\ndata:\n  x: |\n    {s}\n{s}\n").into_bytes(),
        });
    }
    let plan = NodePlan { files, ..empty_plan("cp-1") };
    let user_data = kubebake::deliver::cloud_init::render(&c, &plan);
    let doc = &user_data.files.iter().find(|f| f.name == "user-data").unwrap().bytes;
    let code = "import json, sys, yaml
text = sys.stdin.read()
print(json.dumps([yaml.safe_load(text), yaml.load(text, Loader=yaml.CSafeLoader)]))";
    let out = piped(Command::new(&python).args(["-c", code]), doc);
    let got = json_strings(&out);
    let text = String::from_utf8(doc.clone()).unwrap();
    for read in &got {
        assert_eq!(
            sorted_keys(read),
            ["hostname", "preserve_hostname", "runcmd", "ssh_authorized_keys", "write_files"]
        );
        assert_eq!(read["ssh_authorized_keys"][0], c.login.ssh_authorized_keys[0].as_str());
        let read_files: BTreeMap<String, Vec<u8>> = read["write_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                use base64::Engine;
                let content = f["content"].as_str().unwrap();
                let b64 = || base64::engine::general_purpose::STANDARD.decode(content).unwrap();
                let bytes = match f["encoding"].as_str() {
                    None => content.as_bytes().to_vec(),
                    Some("b64") => b64(),
                    Some("gz+b64") => gunzip(&b64()),
                    Some(other) => panic!("encoding {other}"),
                };
                (f["path"].as_str().unwrap().to_string(), bytes)
            })
            .collect();
        let planned: BTreeMap<String, Vec<u8>> =
            plan.files.iter().map(|f| (f.path.clone(), f.contents.clone())).collect();
        assert_eq!(read_files, planned);
    }
    // The files that went as encoded data decode to the planned bytes (read as YAML 1.2).
    let planned: BTreeMap<String, Vec<u8>> = plan.files.iter().map(|f| (f.path.clone(), f.contents.clone())).collect();
    assert_eq!(cloud_init_files(&text), planned);
    // The manifest itself gives the API server the flag as written.
    let out = piped(
        Command::new(&python).args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"]),
        manifest.as_bytes(),
    );
    let pod: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let command = pod["spec"]["containers"][0]["command"].as_array().unwrap();
    assert!(command.iter().any(|a| a == "--audit-log-path=a\nb\u{2028}bootcmd: [touch pwned]\n"), "{command:?}");
    if let Some(cloud_init) = tool("cloud-init", "cloud-init") {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("user-data"), doc).unwrap();
        let out = run_ok(Command::new(cloud_init).args(["schema", "--config-file"]).arg(dir.path().join("user-data")));
        assert!(out.contains("Valid cloud-config"), "{out}");
    }
}

#[test]
fn provision_script_and_packer_template_carry_hostile_values_as_data() {
    let (Some(sc), Some(packer)) = (tool("shellcheck", "shellcheck"), tool("packer", "packer")) else { return };
    let templates = Templates::load(None).unwrap();
    let evil = "x';touch pwned;'\"$(touch pwned)\"${x}%{y}\n`touch pwned`";
    for bundle in [true, false] {
        let ctx = serde_json::json!({
            "cluster": evil, "os": evil, "kubernetes_version": evil, "package_version": evil,
            "pinned_packages": [evil, evil], "apt_repository": evil, "apt_release_key": evil, "apt_source": evil,
            "bundle_version_line": evil, "containerd_package": evil, "bundle": if bundle { Some(evil) } else { None },
            "bundle_sha256": if bundle { Some(evil) } else { None },
            "images": [evil, "registry.k8s.io/pause:3.10"], "modules": "overlay\nMODULES\n", "sysctl": evil,
            "image_name": evil, "age_identity": evil, "age_identity_path": evil, "ssh_username": evil,
            "qemu_source_image": evil, "qemu_source_checksum": evil, "ami_owner": evil, "ami_name": evil,
            "qemu_description": evil, "aws_description": evil,
        });
        let script = templates.render("provision.sh.tera", &ctx).unwrap();
        shellcheck(&sc, &script, "provision.sh");
        let installer = serde_json::json!({"bin_dir": evil, "kubernetes_version": evil, "arch": evil});
        shellcheck(&sc, &templates.render("bundle-install.sh.tera", &installer).unwrap(), "install.sh");
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("kubebake-node.pkr.hcl"),
            templates.render("kubebake-node.pkr.hcl.tera", &ctx).unwrap(),
        )
        .unwrap();
        let expression = "jsonencode([var.image_name, var.ssh_username, var.age_identity, var.qemu_source_image, \
                          var.qemu_source_checksum])\n";
        let out = piped(Command::new(&packer).arg("console").arg(".").current_dir(dir.path()), expression.as_bytes());
        let got: Vec<String> = serde_json::from_str(String::from_utf8(out).unwrap().trim()).unwrap();
        assert_eq!(got, [evil; 5]);
    }
}

#[test]
fn a_bake_of_values_validation_accepts_today_gives_files_their_readers_take() {
    // Values the spec's checks let through when this was written; a check that comes to
    // refuse one is fine (it must name the field), a bake that takes one must write it
    // safely. Either way nothing is run and nothing breaks a file.
    let (Some(sc), Some(python)) = (tool("shellcheck", "shellcheck"), python("yaml, tomllib")) else { return };
    let cases: [(&str, &str); 7] = [
        ("spec.cni.manifest.url", "  cni: {manifest: {url: \"https://x/';touch${IFS}pwned;'\"}}\n"),
        ("spec.cni.registry", "  cni: {mode: manifest, registry: \"reg#x&y\\\\1'$(touch pwned)\"}\n"),
        (
            "spec.secrets.identity",
            "  secrets: {encryptTo: age1he387fvnvvm42gngl05vulu7taz8ep3zf3llugmezdema8g2pd5q925jzy, identity: \"/etc/$(touch${IFS}pwned)/k\"}\n",
        ),
        ("spec.imageRepository", "  imageRepository: \"reg\\\"x/$(touch pwned)\"\n"),
        ("spec.registryMirrors", "  registryMirrors: {\"reg\\\"x\": [\"https://m/\\\"]\"]}\n"),
        (
            "spec.apiServer.extraArgs",
            "  apiServer: {extraArgs: {audit-log-path: \"a\\nb\\u2028bootcmd: [touch pwned]\\n\"}}\n",
        ),
        (
            "spec.login.sshAuthorizedKeys",
            "  login: {sshAuthorizedKeys: [\"ssh-ed25519 AAAA x\\u2028bootcmd: [touch pwned]\"]}\n",
        ),
    ];
    let mut baked = 0;
    for (field, extra) in cases {
        let b = Bake::new(&format!(
            "apiVersion: kubebake.io/v1alpha1\nkind: Cluster\nmetadata: {{name: hostile}}\nspec:\n{extra}  nodes:\n    - {{name: cp-1, role: control-plane, address: 10.0.0.11}}\n    - {{name: worker-1, role: worker, address: 10.0.0.21}}\n"
        ));
        let run = b.bake(&[]);
        if !run.ok() {
            assert!(run.stderr().contains(field), "{field}: refused without naming it: {}", run.stderr());
            continue;
        }
        baked += 1;
        for node in ["cp-1", "worker-1"] {
            let script = fs::read_to_string(b.node_file(node, "/opt/kubebake/firstboot.sh")).unwrap();
            shellcheck(&sc, &script, &format!("{field} {node}"));
            let code = "import json, sys, yaml; d = yaml.safe_load(open(sys.argv[1])); print(json.dumps(sorted(d)))";
            let keys = run_ok(Command::new(&python).args(["-c", code]).arg(b.out().join(node).join("user-data")));
            let keys: Vec<String> = serde_json::from_str(&keys).unwrap();
            for key in keys {
                assert!(
                    ["hostname", "preserve_hostname", "write_files", "runcmd", "ssh_authorized_keys"]
                        .contains(&key.as_str()),
                    "{field} {node}: {key}"
                );
            }
            let certs = b.node_file(node, "/etc/containerd/certs.d");
            let hosts = fs::read_dir(&certs).into_iter().flatten().map(|e| e.unwrap().path().join("hosts.toml"));
            for path in hosts.chain([b.node_file(node, "/etc/containerd/config.toml")]) {
                let code = "import sys, tomllib; tomllib.load(open(sys.argv[1], 'rb'))";
                run_ok(Command::new(&python).args(["-c", code]).arg(path));
            }
        }
        assert!(!b.dir.path().join("pwned").exists());
    }
    println!("{baked} of {} hostile specs baked (the others refused by validation)", cases.len());
}
