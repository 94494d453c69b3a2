//! The source's shape, kept: modules import only from their own layer or the ones below
//! (ARCHITECTURE.md), and no two modules import each other, however indirectly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may use its own layer and the ones before it.
const LAYERS: &[&[&str]] =
    &[&["", "error", "fmt", "files"], &["model"], &["spec"], &["pki"], &["state"], &["node"], &["deliver"], &["cmd"]];

/// The binary's own files, which use the library from outside (`kubebake::`).
const BINARY: &[&str] = &["main.rs", "cli.rs"];

fn layer(top: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&top))
        .unwrap_or_else(|| panic!("module {top:?} is in no layer of tests/layers.rs"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/node/manifests/etcd.rs` → `["node", "manifests", "etcd"]`; `mod.rs` and `lib.rs`
/// are their directory's module.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Every `crate::a::b::…` path in the file's code (comments skipped), as the longest
/// prefix that names a module.
fn imports(text: &str, modules: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let path: Vec<String> = code[i + "crate::".len()..]
                .split("::")
                .map(|seg| seg.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>())
                .take_while(|seg| !seg.is_empty())
                .collect();
            let module = (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains(p)).unwrap();
            found.insert(module);
        }
    }
    found
}

fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| !BINARY.iter().any(|b| f.strip_prefix(&src).unwrap() == Path::new(b)));
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    files
        .iter()
        .map(|f| {
            let own = module_of(&src, f);
            let mut uses = imports(&std::fs::read_to_string(f).unwrap(), &modules);
            uses.remove(&own);
            (own, uses)
        })
        .collect()
}

fn name(m: &[String]) -> String {
    if m.is_empty() { "crate".into() } else { m.join("::") }
}

#[test]
fn imports_point_down_the_layers() {
    let mut wrong = Vec::new();
    for (module, uses) in graph() {
        let own = layer(module.first().map_or("", String::as_str));
        for used in uses {
            if layer(used.first().map_or("", String::as_str)) > own {
                wrong.push(format!("{} uses {}", name(&module), name(&used)));
            }
        }
    }
    assert!(wrong.is_empty(), "imports that point up a layer (see ARCHITECTURE.md):\n{}", wrong.join("\n"));
}

#[test]
fn no_module_imports_itself_through_others() {
    let graph = graph();
    // A depth-first search that reports the first back edge's cycle.
    fn visit<'a>(
        m: &'a Vec<String>,
        graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<&'a Vec<String>>,
        done: &mut BTreeSet<&'a Vec<String>>,
    ) -> Option<String> {
        if let Some(i) = stack.iter().position(|s| *s == m) {
            let cycle: Vec<String> = stack[i..].iter().map(|s| name(s)).chain([name(m)]).collect();
            return Some(cycle.join(" -> "));
        }
        if !done.insert(m) {
            return None;
        }
        stack.push(m);
        for used in graph.get(m).into_iter().flatten() {
            // A module's children may use what it declares (`super::`), and it theirs:
            // only imports between modules that do not contain each other count.
            if used.starts_with(m) || m.starts_with(used) {
                continue;
            }
            if let Some(c) = visit(used, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let (mut stack, mut done) = (Vec::new(), BTreeSet::new());
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut stack, &mut done) {
            panic!("an import cycle: {cycle}");
        }
    }
}
