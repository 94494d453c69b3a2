//! `kubebake check SPEC OUT`: is an output tree sound before it is uploaded? Its
//! SHA256SUMS hold; every certificate chains to the state's CAs and matches its key; every
//! file is what the spec and state give now (a bake rendered in memory, compared byte for
//! byte); and nothing expires within the warning window. It writes nothing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::cmd::report::{self, Text};
use crate::deliver::seed::MediaKind;
use crate::error::{Error, Result};
use crate::files::SUMS_FILE;
use crate::fmt::hex;
use crate::pki::{ParsedCert, PrivateKey, signed_by};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The output must not be used as it is: the command fails.
    Problem,
    /// Worth knowing (something expires soon); the command succeeds.
    Warning,
}

/// One thing found, said in a line.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Problem or warning.
    pub severity: Severity,
    /// What, and where.
    pub message: String,
}

/// `kubebake check`'s inputs.
pub struct Options {
    /// The spec the output was baked from.
    pub spec: PathBuf,
    /// The output directory.
    pub out: PathBuf,
    /// The state; [`crate::cmd::bake::default_state_dir`] when None.
    pub state: Option<PathBuf>,
    /// The templates directory the bake used.
    pub templates: Option<PathBuf>,
    /// Warn about what expires within this window.
    pub warn: Duration,
    /// The time expiry is judged at.
    pub now: OffsetDateTime,
}

/// What was checked, and what was found.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The output directory (for the text's summary; not in the JSON).
    #[serde(skip)]
    pub out: PathBuf,
    /// Every regular file in the output.
    pub files_checked: usize,
    /// Certificates checked, in files and in kubeconfigs.
    pub certificates_checked: usize,
    /// Problems and warnings, in the order found.
    pub findings: Vec<Finding>,
}

impl Report {
    /// How many findings are problems.
    pub fn problems(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Problem).count()
    }
}

impl report::Report for Report {
    fn text(&self, out: &mut Text) {
        for f in &self.findings {
            let label = match f.severity {
                Severity::Problem => "problem",
                Severity::Warning => "warning",
            };
            out.data(format_args!("{label}: {}", f.message));
        }
        out.report(format_args!(
            "{}: {} files, {} certificates checked; {} problem(s), {} warning(s)",
            self.out.display(),
            self.files_checked,
            self.certificates_checked,
            self.problems(),
            self.findings.len() - self.problems()
        ));
    }

    fn json(&self) -> Option<serde_json::Result<String>> {
        report::json(self)
    }

    fn failure(&self) -> Option<String> {
        let n = self.problems();
        (n > 0).then(|| format!("{n} problem(s) in {}", self.out.display()))
    }
}

/// Findings, as the checks add them.
#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn problem(&mut self, message: String) {
        self.0.push(Finding { severity: Severity::Problem, message });
    }

    fn warning(&mut self, message: String) {
        self.0.push(Finding { severity: Severity::Warning, message });
    }
}

/// Every regular file under `root`, by path relative to it.
fn tree(root: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| Error::io("reading", &dir, e))? {
            let entry = entry.map_err(|e| Error::io("reading", &dir, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| Error::io("reading", &path, e))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
                out.insert(rel, fs::read(&path).map_err(|e| Error::io("reading", &path, e))?);
            }
        }
    }
    Ok(out)
}

/// Checks the output at `opts.out`, in four steps: its SHA256SUMS, its certificates,
/// whether it is what a bake gives now, and what expires soon.
pub fn check(opts: &Options) -> Result<Report> {
    remove_old_scratch();
    if !opts.out.join(SUMS_FILE).is_file() {
        return Err(Error::Usage(format!(
            "{}: no {SUMS_FILE} here; not an output directory kubebake bake wrote",
            opts.out.display()
        )));
    }
    let out = tree(&opts.out)?;
    let mut findings = Findings::default();
    check_sums(&out, &mut findings);
    // A spec that does not load is the user's first problem, before any other.
    crate::spec::load(&opts.spec)?;
    let state_dir = opts.state.clone().unwrap_or_else(|| crate::cmd::bake::default_state_dir(&opts.spec));
    let state_files = crate::state::read_initialized(&state_dir)?;
    let certificates = check_certificates(&out, &state_cas(&state_files), opts.now, &mut findings);
    check_fresh(opts, &state_dir, &out, &mut findings)?;
    check_expiry(opts, &state_dir, &state_files, &mut findings)?;
    Ok(Report {
        out: opts.out.clone(),
        files_checked: out.len(),
        certificates_checked: certificates,
        findings: findings.0,
    })
}

/// Step 1, SHA256SUMS: every line well-formed, every file listed there and as listed.
fn check_sums(out: &BTreeMap<String, Vec<u8>>, findings: &mut Findings) {
    let sums = String::from_utf8_lossy(&out[SUMS_FILE]).into_owned();
    let mut listed = BTreeMap::new();
    for (i, line) in sums.lines().enumerate() {
        match line.split_once("  ") {
            Some((hex, rel)) if hex.len() == 64 => {
                listed.insert(rel.to_string(), hex.to_string());
            }
            _ => findings.problem(format!("{SUMS_FILE}: line {} is not `<sha256>  <path>`", i + 1)),
        }
    }
    for (rel, want) in &listed {
        match out.get(rel) {
            None => findings.problem(format!("{rel}: listed in SHA256SUMS but missing")),
            Some(bytes) if &hex(&Sha256::digest(bytes)) != want => {
                findings.problem(format!("{rel}: does not match its SHA256SUMS entry (changed after the bake)"))
            }
            Some(_) => {}
        }
    }
    for rel in out.keys().filter(|r| *r != SUMS_FILE && !listed.contains_key(*r)) {
        findings.problem(format!("{rel}: not listed in SHA256SUMS (added after the bake)"));
    }
}

/// The state's CA certificates, DER, by stem.
fn state_cas(state_files: &BTreeMap<String, Vec<u8>>) -> Vec<(String, Vec<u8>)> {
    ["ca", "front-proxy-ca", "etcd/ca"]
        .iter()
        .filter_map(|stem| {
            let pem_text = state_files.get(&format!("{stem}.crt"))?;
            Some((stem.to_string(), pem::parse(pem_text).ok()?.into_contents()))
        })
        .collect()
}

/// Step 2, certificates in files (`X.crt` beside `X.key`) and in kubeconfigs: chained to the
/// state's CAs, with the key that is beside them. Returns how many were checked.
fn check_certificates(
    out: &BTreeMap<String, Vec<u8>>,
    cas: &[(String, Vec<u8>)],
    now: OffsetDateTime,
    findings: &mut Findings,
) -> usize {
    let mut certificates = 0;
    let mut check = |what: &str, cert: &str, key: Option<&str>, findings: &mut Findings| {
        certificates += 1;
        check_pair(what, cert, key, cas, now, findings);
    };
    for (rel, bytes) in out {
        let text = String::from_utf8_lossy(bytes);
        if let Some(stem) = rel.strip_suffix(".crt") {
            let key = out.get(&format!("{stem}.key")).map(|k| String::from_utf8_lossy(k).into_owned());
            check(rel, &text, key.as_deref(), findings);
        } else if rel.ends_with(".conf") && text.contains("client-certificate-data:") {
            let kc: crate::pki::kubeconfig::Kubeconfig = match crate::spec::yaml::from_str(&text) {
                Ok(kc) => kc,
                Err(e) => {
                    findings.problem(format!("{rel}: unreadable ({e})"));
                    continue;
                }
            };
            for user in &kc.users {
                let decode = |d: &Option<String>| {
                    d.as_ref().and_then(|b| B64.decode(b).ok()).map(|b| String::from_utf8_lossy(&b).into_owned())
                };
                if let Some(cert) = decode(&user.user.client_certificate_data) {
                    let what = format!("{rel} (user {})", user.name);
                    check(&what, &cert, decode(&user.user.client_key_data).as_deref(), findings);
                }
            }
        }
    }
    certificates
}

/// One certificate (and its key, when there is one beside it).
fn check_pair(
    what: &str,
    cert_pem: &str,
    key_pem: Option<&str>,
    cas: &[(String, Vec<u8>)],
    now: OffsetDateTime,
    findings: &mut Findings,
) {
    let der = match pem::parse(cert_pem) {
        Ok(p) if p.tag() == "CERTIFICATE" => p.into_contents(),
        _ => return findings.problem(format!("{what}: not a PEM certificate")),
    };
    let Ok(parsed) = ParsedCert::from_der(&der) else {
        return findings.problem(format!("{what}: not an X.509 certificate"));
    };
    if parsed.is_ca {
        if !cas.iter().any(|(_, ca)| *ca == der) {
            findings.problem(format!("{what}: a CA certificate that is not one of the state's"));
        }
    } else if !cas.iter().any(|(_, ca)| signed_by(&der, ca)) {
        findings.problem(format!("{what}: not signed by any of the state's CAs"));
    }
    if parsed.not_after <= now {
        findings.problem(format!("{what}: expired on {}", crate::fmt::time::rfc3339(parsed.not_after)));
    }
    if let Some(key) = key_pem {
        match PrivateKey::from_pem(key) {
            Ok(k) if k.public_key_der() == parsed.spki_der => {}
            Ok(_) => findings.problem(format!("{what}: its key does not belong to it")),
            Err(e) => findings.problem(format!("{what}: its key is unreadable ({e})")),
        }
    }
}

/// Step 3, what the spec and state give now: the bake's files as they would be written,
/// rendered in memory from the state as it is (what the state would gain is not saved)
/// and compared as they come. A copy of the state on disk, which this once baked into
/// $TMPDIR, was one more place for its keys, and one that a signal left behind.
fn check_fresh(
    opts: &Options,
    state_dir: &Path,
    out: &BTreeMap<String, Vec<u8>>,
    findings: &mut Findings,
) -> Result<()> {
    let fresh = std::sync::Mutex::new(Vec::new());
    let report = crate::cmd::bake::bake_to(
        &crate::cmd::bake::Options {
            spec: opts.spec.clone(),
            out: opts.out.clone(),
            state: Some(state_dir.to_path_buf()),
            templates: opts.templates.clone(),
            platform: None,
            allow_clear_secrets: false,
            bundle: None,
            // The media the output was baked with, told by their file names.
            media: [MediaKind::Iso, MediaKind::Vfat]
                .into_iter()
                .find(|kind| out.keys().any(|rel| rel.ends_with(&format!("/{}", kind.file_name())))),
            now: opts.now,
            progress: false,
        },
        &|rel, bytes| {
            let same = out.get(rel).is_some_and(|b| b == bytes);
            fresh.lock().expect("no panics while held").push((rel.to_string(), same));
        },
    )?;
    let mut fresh = fresh.into_inner().expect("no panics while held");
    fresh.sort();
    let why = if report.state_changes.is_empty() {
        String::new()
    } else {
        format!(" (the state would change: {})", report.state_changes.join("; "))
    };
    let mut stale = Vec::new();
    for (rel, same) in &fresh {
        match (same, out.contains_key(rel)) {
            (true, _) => {}
            (false, true) => stale.push(format!("{rel} differs")),
            (false, false) => stale.push(format!("{rel} is missing")),
        }
    }
    let baked: std::collections::BTreeSet<&str> = fresh.iter().map(|(rel, _)| rel.as_str()).collect();
    stale.extend(out.keys().filter(|r| !baked.contains(r.as_str())).map(|r| format!("{r} is no longer baked")));
    let shown = 10;
    for s in stale.iter().take(shown) {
        findings.problem(format!("{s} from what {} and its state give now{why}; bake again", opts.spec.display()));
    }
    if stale.len() > shown {
        findings.problem(format!("… and {} more such files", stale.len() - shown));
    }
    Ok(())
}

/// Step 4, what expires soon: the state's certificates and the tokens nodes carry.
fn check_expiry(
    opts: &Options,
    state_dir: &Path,
    state_files: &BTreeMap<String, Vec<u8>>,
    findings: &mut Findings,
) -> Result<()> {
    let warn = opts.now + opts.warn;
    let inspection = crate::cmd::inspect::inspect(state_dir, opts.now)?;
    for c in &inspection.certificates {
        let not_after = ParsedCert::from_pem(&String::from_utf8_lossy(&state_files[&format!("{}.crt", c.name)]))
            .map(|(p, _)| p.not_after)
            .map_err(|m| Error::state(state_dir, m))?;
        if not_after > opts.now && not_after <= warn {
            findings.warning(format!("{} (state) expires in {} days, on {}", c.name, c.days_left, c.not_after));
        }
    }
    for t in inspection.tokens.iter().filter(|t| t.joins) {
        let Some(expires) = &t.expires else { continue };
        let soon = state_token_expiry(state_files, &t.id).is_some_and(|unix| unix <= warn.unix_timestamp());
        if t.expired || soon {
            findings.warning(format!(
                "token {} that {} {} {expires}: kubebake token rotate{}",
                t.id,
                match &t.pool {
                    Some(p) => format!("worker pool {p}'s user-data carries"),
                    None => "joining nodes carry".to_string(),
                },
                if t.expired { "expired on" } else { "expires on" },
                t.pool.as_ref().map(|p| format!(" --pool {p}")).unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// Removes the scratch directories `kubebake check` made before it compared in memory
/// (`$TMPDIR/.kubebake-check-XXXXXX`, 0755, a copy of the state with every key) and left
/// behind whenever it was interrupted: this user's own, and only directories so named.
fn remove_old_scratch() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(suffix) = name.to_str().and_then(|n| n.strip_prefix(".kubebake-check-")) else { continue };
        // tempfile's names: six random alphanumerics.
        if suffix.len() != 6 || !suffix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        // Not followed if a link: the entry itself must be a directory of this user's.
        let ours = fs::symlink_metadata(entry.path())
            .is_ok_and(|m| m.is_dir() && std::os::unix::fs::MetadataExt::uid(&m) == me);
        if ours {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// When the state's token `id` expires, as a Unix time.
fn state_token_expiry(files: &BTreeMap<String, Vec<u8>>, id: &str) -> Option<i64> {
    let rec: serde_json::Value = serde_json::from_slice(files.get(crate::state::join_tokens::TOKENS_RECORD)?).ok()?;
    rec["tokens"][id]["expires_unix"].as_i64()
}
