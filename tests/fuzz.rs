//! A self-contained mutation fuzzer (stable Rust: no cargo-fuzz, no libFuzzer) for the two
//! inputs kubebake reads but did not write itself: the cluster spec and the state directory.
//!
//! Plain `cargo test` runs a short, deterministic run of both targets; a long run is
//! `cargo test --release --test fuzz -- --inputs 1000000 [--target spec|state] [--seed N]`.
//! Any panic, and any broken promise checked below, is a crash: the input is written to
//! `fuzz/crashes/<target>-<sha256 prefix>.yaml` and the run fails. See docs/fuzzing.md.
//!
//! - `spec`: `spec::parse` on mutated specs (byte-, line- and YAML-structure-aware mutations
//!   of `fuzz/corpus/spec/*.yaml`). Errors are fine; an error must name at least one
//!   problem, every message must be non-empty and every line must lie inside the file.
//!   Accepted specs also go through the pure functions that consume a validated cluster.
//! - `state`: `state::sync` on a state directory baked from `fuzz/corpus/state/cluster.yaml`,
//!   with one or a few files mutated (bytes, PEM, DER, the JSON record, the token, files
//!   removed, added, moved or turned into symlinks) and the clock moved. A refusal must
//!   leave the directory exactly as it was; an accepted state must be a fixed point (a
//!   second sync changes nothing) with no temporary directory left beside it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use kubebake::model::{Cluster, KeyAlgorithm};
use kubebake::pki::{Ca, CaId};
use kubebake::{Error, spec, state};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use time::OffsetDateTime;

/// Inputs per target of the short run `cargo test` does (a debug build, ~10 s in all).
const SHORT_SPEC_INPUTS: u64 = 15_000;
const SHORT_STATE_INPUTS: u64 = 1_500;
const DEFAULT_SEED: u64 = 0x6b75_6265_6261_6b65; // "kubebake"
/// Inputs larger than this are cut: long inputs are covered, huge ones only slow the run.
const MAX_INPUT: usize = 128 * 1024;
/// Inputs kept for further mutation per job (seeds plus inputs that found something new).
const MAX_POOL: usize = 4_000;
/// Crashing inputs written per crash site (panic location or broken promise).
const SAVED_PER_SITE: usize = 3;

const USAGE: &str = "usage: cargo test [--release] --test fuzz -- [--inputs N] [--target spec|state|all] [--seed N]
                     [--jobs N] [--save-corpus] [--slow SECS] [--progress SECS] [--verbose]
       cargo test --test fuzz -- --replay FILE...";

// ---------------------------------------------------------------------------------------
// Command line

struct Opts {
    inputs: Option<u64>,
    targets: Vec<&'static str>,
    seed: u64,
    jobs: usize,
    save_corpus: bool,
    slow: Duration,
    progress: Duration,
    verbose: bool,
    replay: Vec<PathBuf>,
    list: bool,
    skip_all: bool,
}

impl Opts {
    /// Our flags, plus whatever libtest flags `cargo test` passes to a `harness = false`
    /// binary: those are ignored, except test-name filters, `--skip`, `--exact`, `--list`,
    /// `--ignored` (nothing here is ignored) and `--bench` (nothing here is a benchmark).
    fn parse(args: impl Iterator<Item = String>) -> Result<Opts, String> {
        let mut o = Opts {
            inputs: None,
            targets: vec!["spec", "state"],
            seed: DEFAULT_SEED,
            jobs: 1,
            save_corpus: false,
            slow: Duration::from_secs(10),
            progress: Duration::from_secs(30),
            verbose: false,
            replay: Vec::new(),
            list: false,
            skip_all: false,
        };
        let (mut filters, mut skips, mut exact) = (Vec::new(), Vec::new(), false);
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String, String> {
                inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"))
            };
            match flag.as_str() {
                "--inputs" => o.inputs = Some(parse_number(&value("--inputs")?)?),
                "--seed" => o.seed = parse_number(&value("--seed")?)?,
                "--jobs" => o.jobs = (parse_number(&value("--jobs")?)? as usize).max(1),
                "--slow" => o.slow = Duration::from_secs(parse_number(&value("--slow")?)?.max(1)),
                "--progress" => o.progress = Duration::from_secs(parse_number(&value("--progress")?)?.max(1)),
                "--target" => {
                    o.targets = match value("--target")?.as_str() {
                        "spec" => vec!["spec"],
                        "state" => vec!["state"],
                        "all" => vec!["spec", "state"],
                        other => return Err(format!("unknown target {other:?} (spec, state or all)")),
                    }
                }
                "--save-corpus" => o.save_corpus = true,
                "--verbose" | "-v" => o.verbose = true,
                "--replay" => {
                    o.replay.push(value("--replay")?.into());
                    while args.peek().is_some_and(|a| !a.starts_with('-')) {
                        o.replay.push(args.next().expect("peeked").into());
                    }
                }
                "--help" | "-h" => return Err("help".into()),
                // libtest's flags.
                "--list" => o.list = true,
                "--exact" => exact = true,
                "--skip" => skips.push(value("--skip")?),
                "--ignored" | "--bench" => o.skip_all = true,
                "--test-threads" | "--color" | "--format" | "--logfile" | "--shuffle-seed" | "-Z" => {
                    value(&flag)?;
                }
                "--quiet"
                | "-q"
                | "--nocapture"
                | "--no-capture"
                | "--show-output"
                | "--include-ignored"
                | "--test"
                | "--report-time"
                | "--ensure-time"
                | "--shuffle"
                | "--force-run-in-process" => {}
                f if f.starts_with('-') => return Err(format!("unknown flag {f}")),
                _ => filters.push(arg),
            }
        }
        let matches = |name: &str, pat: &str| if exact { name == pat } else { name.contains(pat) };
        o.targets.retain(|t| {
            let name = format!("fuzz::{t}");
            (filters.is_empty() || filters.iter().any(|f| matches(&name, f)))
                && !skips.iter().any(|s| matches(&name, s))
        });
        Ok(o)
    }
}

fn parse_number(s: &str) -> Result<u64, String> {
    let s = s.replace('_', "");
    let r = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse::<u64>().ok().or_else(|| {
            // 1e6 and the like.
            let (m, e) = s.split_once(['e', 'E'])?;
            m.parse::<u64>().ok()?.checked_mul(10u64.checked_pow(e.parse().ok()?)?)
        }),
    };
    r.ok_or_else(|| format!("{s:?} is not a number"))
}

fn main() -> ExitCode {
    let opts = match Opts::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(m) if m == "help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(m) => {
            eprintln!("fuzz: {m}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if opts.list {
        for t in &opts.targets {
            println!("fuzz::{t}: test");
        }
        return ExitCode::SUCCESS;
    }
    if opts.skip_all {
        return ExitCode::SUCCESS;
    }
    if opts.targets.is_empty() {
        println!("fuzz: no target matches the filter; nothing to run");
        return ExitCode::SUCCESS;
    }
    if opts.save_corpus && opts.targets.contains(&"state") {
        eprintln!("fuzz: --save-corpus saves spec inputs only (state inputs hold private keys)");
    }
    let sandbox = tempfile::Builder::new().prefix("kbfuzz-").tempdir_in(scratch_root()).expect("a scratch dir");
    let dirs = Dirs::new();
    if !opts.replay.is_empty() {
        return replay(&opts, &dirs, sandbox.path());
    }
    let mut failed = false;
    let mut lines = Vec::new();
    for name in &opts.targets {
        let summary = match *name {
            "spec" => {
                let t = SpecTarget::new(&dirs, &sandbox.path().join("spec-target"));
                fuzz(&t, &opts, &dirs, sandbox.path(), opts.inputs.unwrap_or(SHORT_SPEC_INPUTS))
            }
            _ => {
                let t = StateTarget::new(&dirs, &sandbox.path().join("state-target"));
                fuzz(&t, &opts, &dirs, sandbox.path(), opts.inputs.unwrap_or(SHORT_STATE_INPUTS))
            }
        };
        failed |= summary.crashes > 0;
        lines.push(summary.line(&opts));
    }
    for l in lines {
        println!("{l}");
    }
    if failed {
        eprintln!("fuzz: crashes found; inputs are in {} (replay one with --replay FILE)", dirs.crashes.display());
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// tmpfs when the machine has one: the state target is mostly small-file I/O.
fn scratch_root() -> PathBuf {
    match std::env::var_os("KUBEBAKE_FUZZ_DIR") {
        Some(d) => d.into(),
        None if Path::new("/dev/shm").is_dir() => "/dev/shm".into(),
        None => std::env::temp_dir(),
    }
}

struct Dirs {
    corpus: PathBuf,
    crashes: PathBuf,
}

impl Dirs {
    fn new() -> Dirs {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        Dirs { corpus: root.join("corpus"), crashes: root.join("crashes") }
    }
}

// ---------------------------------------------------------------------------------------
// Randomness: SplitMix64, seeded, so a run is reproducible from its seed.

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut r = Rng(seed);
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    /// `num` times in `den`.
    fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A length: mostly 1 to 8, sometimes up to 128, rarely up to 20 000.
    fn size(&mut self) -> usize {
        match self.below(16) {
            0 => 1 + self.below(20_000),
            1..=3 => 1 + self.below(128),
            _ => 1 + self.below(8),
        }
    }

    /// How many mutations to stack: 1 half of the time, 2 a quarter, ...
    fn rounds(&mut self) -> usize {
        1 + (self.next().trailing_zeros() as usize).min(6)
    }
}

// ---------------------------------------------------------------------------------------
// Byte-level mutations, shared by both targets.

const INTERESTING_BYTES: &[u8] = b"\x00\x01\x7f\x80\xff\n\r\t :-#'\"{}[],&*!|>?%@`\\";
const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "-0",
    "00",
    "007",
    "127",
    "128",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "1e309",
    "0.5",
    "1_000",
];
const RUN_PATTERNS: &[&str] =
    &["a", "[", "{", "- ", "a: ", " ", "\n", "0", "\"", "&a ", "*a ", "\\", "é", "{a: ", "[a, "];
/// Patterns that nest: libyaml's scanner takes time quadratic in the nesting of flow
/// collections with keys (80 KB of `{a: ` takes 2 s), so their runs stay short enough to
/// cross the parser's depth limit (64) without slowing the whole run down.
const NESTING_PATTERNS: &[&str] = &["[", "{", "{a: ", "[a, "];
const NON_UTF8: &[&[u8]] = &[b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xfe\xff", b"\x80"];

fn range(rng: &mut Rng, len: usize) -> (usize, usize) {
    let start = rng.below(len + 1);
    let end = (start + rng.size()).min(len);
    (start, end)
}

fn mutate_bytes(data: &mut Vec<u8>, rng: &mut Rng, dict: &[Vec<u8>], donor: Option<&[u8]>) {
    let len = data.len();
    match rng.below(17) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = rng.next() as u8;
        }
        2 if len > 0 => {
            let i = rng.below(len);
            data[i] = *rng.pick(INTERESTING_BYTES);
        }
        3 => {
            let at = rng.below(len + 1);
            let n = rng.size().min(64);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            data.splice(at..at, bytes);
        }
        4 if len > 0 => {
            let (a, b) = range(rng, len);
            data.drain(a..b);
        }
        5 if len > 0 => {
            let (a, b) = range(rng, len);
            let chunk = data[a..b].to_vec();
            let at = rng.below(len + 1);
            data.splice(at..at, chunk);
        }
        6 if len > 1 => {
            let (a, b) = range(rng, len);
            let chunk = data[a..b].to_vec();
            let at = rng.below(len);
            for (i, byte) in chunk.into_iter().enumerate() {
                if let Some(slot) = data.get_mut(at + i) {
                    *slot = byte;
                }
            }
        }
        7 | 8 if !dict.is_empty() => {
            let token = rng.pick(dict).clone();
            let at = rng.below(len + 1);
            if rng.chance(1, 2) || len == 0 {
                data.splice(at..at, token);
            } else {
                let end = (at + token.len()).min(len);
                data.splice(at..end, token);
            }
        }
        9 if donor.is_some_and(|d| !d.is_empty()) => {
            // Crossover: our head with the donor's tail, or a piece of the donor inserted.
            let d = donor.expect("checked");
            if rng.chance(1, 2) {
                let cut = rng.below(len + 1);
                let from = rng.below(d.len());
                data.truncate(cut);
                data.extend_from_slice(&d[from..]);
            } else {
                let (a, b) = range(rng, d.len());
                let at = rng.below(len + 1);
                data.splice(at..at, d[a..b].iter().copied());
            }
        }
        10 => {
            // A run of digits becomes an interesting number.
            let digits: Vec<usize> = (0..len).filter(|i| data[*i].is_ascii_digit()).collect();
            let number = rng.pick(INTERESTING_NUMBERS).as_bytes().to_vec();
            if digits.is_empty() {
                let at = rng.below(len + 1);
                data.splice(at..at, number);
            } else {
                let start = *rng.pick(&digits);
                let end = (start..len).find(|i| !data[*i].is_ascii_digit()).unwrap_or(len);
                data.splice(start..end, number);
            }
        }
        11 if len > 0 => data.truncate(rng.below(len)),
        12 => {
            let pattern = rng.pick(RUN_PATTERNS).as_bytes();
            let n = match rng.below(8) {
                0 if NESTING_PATTERNS.contains(&std::str::from_utf8(pattern).unwrap_or("")) => 1_000 + rng.below(2_000),
                0 => 1_000 + rng.below(20_000),
                1 => 100 + rng.below(200),
                _ => 1 + rng.below(40),
            };
            let at = rng.below(len + 1);
            data.splice(at..at, pattern.repeat(n));
        }
        13 => {
            let at = rng.below(len + 1);
            data.splice(at..at, rng.pick(NON_UTF8).iter().copied());
        }
        14 if len > 0 => {
            let i = rng.below(len);
            data[i] = data[i].wrapping_add([1u8, 255, 2, 254, 16, 240][rng.below(6)]);
        }
        15 if len > 0 => {
            let i = rng.below(len);
            data[i] =
                if data[i].is_ascii_lowercase() { data[i].to_ascii_uppercase() } else { data[i].to_ascii_lowercase() };
        }
        16 if len > 1 => {
            let (i, j) = (rng.below(len), rng.below(len));
            data.swap(i, j);
        }
        _ => {
            let at = rng.below(len + 1);
            data.insert(at, *rng.pick(INTERESTING_BYTES));
        }
    }
    data.truncate(MAX_INPUT);
}

// ---------------------------------------------------------------------------------------
// The engine: mutate, run under catch_unwind, keep what is new, save what crashes.

enum Outcome {
    /// Accepted; the string is a coarse description of what was accepted (novelty key).
    Accepted(String),
    /// Refused: each message normalised (novelty key and "distinct errors" figure), and
    /// the error as a user would see it.
    Rejected(Vec<String>, String),
    /// A promise was broken without a panic: counts as a crash.
    Violation(String),
}

trait Target: Sync {
    type Input: Clone + Send + Sync;
    const NAME: &'static str;
    fn seeds(&self) -> Vec<Self::Input>;
    fn mutate(&self, input: &mut Self::Input, pool: &[Self::Input], rng: &mut Rng);
    fn run(&self, input: &Self::Input, scratch: &Path) -> Outcome;
    /// The crash file's bytes (YAML), and back.
    fn to_file(&self, input: &Self::Input) -> Vec<u8>;
    fn read_file(&self, bytes: &[u8]) -> Result<Self::Input, String>;
    /// A compact form written before every input, so an input that kills the process (a
    /// stack overflow, an abort, running out of memory) can still be found afterwards.
    fn to_inflight(&self, input: &Self::Input) -> Vec<u8> {
        self.to_file(input)
    }
    fn read_inflight(&self, bytes: &[u8]) -> Result<Self::Input, String> {
        self.read_file(bytes)
    }
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Set while a target runs on this thread: panics elsewhere are the harness's own.
    static IN_TARGET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
static ANY_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Replaces the default hook (which would print every caught panic) for the run; the
/// message and location are kept for the report.
fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let msg = info.to_string();
        // The harness's own threads outside a target: a bug of the fuzzer, shown as usual.
        // (Unnamed threads are the library's workers, inside a target.)
        let name = std::thread::current().name().map(String::from);
        if !IN_TARGET.with(|t| t.get()) && name.is_some() {
            eprintln!("fuzz harness: {msg}");
            return;
        }
        LAST_PANIC.with(|p| {
            let mut p = p.borrow_mut();
            if p.is_none() {
                *p = Some(msg.clone());
            }
        });
        let mut any = lock(&ANY_PANIC);
        if any.is_none() {
            *any = Some(msg);
        }
    }));
}

#[derive(Default)]
struct JobStatus {
    /// Input index + 1 while an input runs, 0 between inputs.
    running: AtomicU64,
    started_ms: AtomicU64,
}

#[derive(Default)]
struct Shared {
    inputs: AtomicU64,
    accepted: AtomicU64,
    panics: AtomicU64,
    violations: AtomicU64,
    slow: AtomicU64,
    errors: Mutex<BTreeSet<String>>,
    kinds: Mutex<BTreeSet<String>>,
    sites: Mutex<BTreeMap<String, (u64, Vec<PathBuf>)>>,
    saved_corpus: AtomicU64,
    pool: AtomicU64,
}

struct Summary {
    target: &'static str,
    inputs: u64,
    seconds: f64,
    crashes: u64,
    panics: u64,
    violations: u64,
    errors: usize,
    accepted: u64,
    kinds: usize,
    slow: u64,
    pool: u64,
    saved_corpus: u64,
}

impl Summary {
    fn line(&self, opts: &Opts) -> String {
        let mut s = format!(
            "fuzz {}: {} inputs in {:.1} s ({:.0}/s), {} crashes ({} panics, {} broken promises), \
             {} distinct error messages, {} accepted ({} kinds), seed {:#x}, jobs {}",
            self.target,
            self.inputs,
            self.seconds,
            self.inputs as f64 / self.seconds.max(1e-9),
            self.crashes,
            self.panics,
            self.violations,
            self.errors,
            self.accepted,
            self.kinds,
            opts.seed,
            opts.jobs,
        );
        if self.slow > 0 {
            write!(s, ", {} slow inputs (over {} s)", self.slow, opts.slow.as_secs()).unwrap();
        }
        if opts.verbose {
            write!(s, ", pool {}", self.pool).unwrap();
        }
        if self.saved_corpus > 0 {
            write!(s, ", {} new corpus files", self.saved_corpus).unwrap();
        }
        s
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn fuzz<T: Target>(target: &T, opts: &Opts, dirs: &Dirs, sandbox: &Path, total: u64) -> Summary {
    let name = T::NAME;
    rescue_unfinished(target, dirs);
    let seeds = target.seeds();
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let shared = Shared::default();
    let statuses: Vec<JobStatus> = (0..opts.jobs).map(|_| JobStatus::default()).collect();
    let done = AtomicBool::new(false);
    let start = Instant::now();
    fs::create_dir_all(&dirs.crashes).expect("creating fuzz/crashes");
    quiet_panics();
    std::thread::scope(|s| {
        for (job, status) in statuses.iter().enumerate() {
            let count = total / opts.jobs as u64 + u64::from((job as u64) < total % opts.jobs as u64);
            let (seeds, shared) = (&seeds, &shared);
            std::thread::Builder::new()
                .name(format!("fuzz-{name}-{job}"))
                .stack_size(256 << 20)
                .spawn_scoped(s, move || {
                    run_job(target, opts, dirs, sandbox, job, count, seeds, shared, status, start);
                })
                .expect("spawning a fuzz job");
        }
        s.spawn(|| watchdog(target, opts, dirs, &statuses, &shared, &done, start, total));
        // The watchdog stops once every job has finished.
        s.spawn(|| {
            while statuses.iter().any(|st| st.running.load(Ordering::Relaxed) != u64::MAX) {
                std::thread::sleep(Duration::from_millis(20));
            }
            done.store(true, Ordering::Relaxed);
        });
    });
    drop(panic::take_hook());
    let seconds = start.elapsed().as_secs_f64();
    let sites = shared.sites.into_inner().unwrap_or_else(|e| e.into_inner());
    for (site, (n, files)) in &sites {
        eprintln!("fuzz {name}: CRASH ×{n}: {site}");
        for f in files {
            eprintln!("    input: {}", f.display());
        }
    }
    let errors = shared.errors.into_inner().unwrap_or_else(|e| e.into_inner());
    let kinds = shared.kinds.into_inner().unwrap_or_else(|e| e.into_inner());
    if opts.verbose {
        for e in &errors {
            eprintln!("fuzz {name}: error: {e}");
        }
        for k in &kinds {
            eprintln!("fuzz {name}: accepted: {k}");
        }
    }
    let (panics, violations) = (shared.panics.into_inner(), shared.violations.into_inner());
    Summary {
        target: name,
        inputs: shared.inputs.into_inner(),
        seconds,
        crashes: panics + violations,
        panics,
        violations,
        errors: errors.len(),
        accepted: shared.accepted.into_inner(),
        kinds: kinds.len(),
        slow: shared.slow.into_inner(),
        pool: shared.pool.into_inner(),
        saved_corpus: shared.saved_corpus.into_inner(),
    }
}

fn inflight_path(dirs: &Dirs, target: &str, job: usize) -> PathBuf {
    dirs.crashes.join(format!(".inflight-{}-{target}-{job}", std::process::id()))
}

/// An inflight file of a process that no longer exists: that run died (or was stopped)
/// in the middle of this input. It is kept as `<target>-unfinished-<sha>.yaml`.
fn rescue_unfinished<T: Target>(target: &T, dirs: &Dirs) {
    let Ok(entries) = fs::read_dir(&dirs.crashes) else { return };
    let prefix = ".inflight-";
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else { continue };
        let mut parts = rest.splitn(3, '-');
        let (Some(pid), Some(t)) = (parts.next(), parts.next()) else { continue };
        if t != T::NAME || Path::new("/proc").join(pid).exists() {
            continue;
        }
        let Ok(bytes) = fs::read(e.path()) else { continue };
        if let Ok(input) = target.read_inflight(&bytes) {
            let file = target.to_file(&input);
            let path = dirs.crashes.join(format!("{t}-unfinished-{}.yaml", &sha256_hex(&file)[..16]));
            if fs::write(&path, &file).is_ok() {
                eprintln!(
                    "fuzz {t}: an earlier run (pid {pid}) did not finish the input now in {}: \
                     if it was not stopped by hand, it died on it; try --replay",
                    path.display()
                );
            }
        }
        let _ = fs::remove_file(e.path());
    }
}

#[allow(clippy::too_many_arguments)]
fn run_job<T: Target>(
    target: &T,
    opts: &Opts,
    dirs: &Dirs,
    sandbox: &Path,
    job: usize,
    count: u64,
    seeds: &[T::Input],
    shared: &Shared,
    status: &JobStatus,
    start: Instant,
) {
    struct Finished<'a>(&'a JobStatus);
    impl Drop for Finished<'_> {
        fn drop(&mut self) {
            self.0.running.store(u64::MAX, Ordering::Relaxed);
        }
    }
    let _finished = Finished(status);
    let name = T::NAME;
    let salt = name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut rng = Rng::new(opts.seed ^ salt ^ (job as u64).wrapping_mul(0xa076_1d64_78bd_642f));
    let scratch = sandbox.join(format!("{name}{job}"));
    fs::create_dir_all(&scratch).expect("creating a job's scratch dir");
    let inflight_file = inflight_path(dirs, name, job);
    let inflight = fs::File::create(&inflight_file).expect("creating the inflight file");
    let mut pool: Vec<T::Input> = seeds.to_vec();
    let mut local_errors = BTreeSet::new();
    let mut local_kinds = BTreeSet::new();
    for i in 0..count {
        let input = if job == 0 && (i as usize) < seeds.len() {
            seeds[i as usize].clone()
        } else {
            // A third from the corpus itself (mostly valid specs and states), the rest from
            // everything kept.
            let from = if rng.chance(1, 3) { &pool[..seeds.len()] } else { &pool[..] };
            let mut input = from[rng.below(from.len())].clone();
            for _ in 0..rng.rounds() {
                target.mutate(&mut input, &pool, &mut rng);
            }
            input
        };
        let bytes = target.to_inflight(&input);
        let _ = inflight.set_len(0).and_then(|_| inflight.write_all_at(&bytes, 0));
        LAST_PANIC.with(|p| p.borrow_mut().take());
        lock(&ANY_PANIC).take();
        status.started_ms.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        status.running.store(i + 1, Ordering::Relaxed);
        IN_TARGET.with(|t| t.set(true));
        let result = panic::catch_unwind(AssertUnwindSafe(|| target.run(&input, &scratch)));
        IN_TARGET.with(|t| t.set(false));
        status.running.store(0, Ordering::Relaxed);
        shared.inputs.fetch_add(1, Ordering::Relaxed);
        let mut novel = false;
        match result {
            Ok(Outcome::Accepted(kind)) => {
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                if local_kinds.insert(kind.clone()) {
                    novel |= lock(&shared.kinds).insert(kind);
                }
            }
            Ok(Outcome::Rejected(messages, _)) => {
                for m in messages {
                    if local_errors.insert(m.clone()) && lock(&shared.errors).insert(m) {
                        novel = true;
                    }
                }
                // State inputs hold private keys: they stay out of the repository.
                if novel && opts.save_corpus && name == "spec" {
                    let file = target.to_file(&input);
                    let path = dirs.corpus.join(name).join(format!("found-{}.yaml", &sha256_hex(&file)[..16]));
                    if fs::write(path, file).is_ok() {
                        shared.saved_corpus.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok(Outcome::Violation(why)) => {
                shared.violations.fetch_add(1, Ordering::Relaxed);
                save_crash(target, dirs, shared, &format!("broken promise: {why}"), &input);
            }
            Err(payload) => {
                shared.panics.fetch_add(1, Ordering::Relaxed);
                // A panic on one of sync's worker threads reaches us as "a scoped thread
                // panicked"; the hook saw the original first.
                let local = LAST_PANIC.with(|p| p.borrow_mut().take());
                let any = lock(&ANY_PANIC).take();
                let msg = match local {
                    Some(m) if !m.contains("a scoped thread panicked") => Some(m),
                    other => any.or(other),
                }
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic with a non-string payload".into());
                save_crash(target, dirs, shared, &msg, &input);
            }
        }
        if novel && pool.len() < MAX_POOL {
            pool.push(input);
            shared.pool.fetch_max(pool.len() as u64, Ordering::Relaxed);
        }
    }
    drop(inflight);
    let _ = fs::remove_file(inflight_file);
}

fn save_crash<T: Target>(target: &T, dirs: &Dirs, shared: &Shared, msg: &str, input: &T::Input) {
    // The site: a panic's location line, or the broken promise without its details.
    let site = msg.lines().next().unwrap_or(msg).chars().take(300).collect::<String>();
    let mut sites = lock(&shared.sites);
    let entry = sites.entry(site).or_default();
    entry.0 += 1;
    if entry.1.len() < SAVED_PER_SITE {
        let mut file = target.to_file(input);
        let path = dirs.crashes.join(format!("{}-{}.yaml", T::NAME, &sha256_hex(&file)[..16]));
        // The message goes in the file too, as a comment the loaders skip.
        let mut header = String::new();
        for l in msg.lines() {
            writeln!(header, "# {l}").unwrap();
        }
        if T::NAME == "state" {
            file.splice(0..0, header.into_bytes());
        }
        if fs::write(&path, &file).is_ok() && !entry.1.contains(&path) {
            if entry.1.is_empty() {
                eprintln!("fuzz {}: CRASH: {msg}\n    input saved to {}", T::NAME, path.display());
            }
            entry.1.push(path);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn watchdog<T: Target>(
    target: &T,
    opts: &Opts,
    dirs: &Dirs,
    statuses: &[JobStatus],
    shared: &Shared,
    done: &AtomicBool,
    start: Instant,
    total: u64,
) {
    let mut reported = vec![0u64; statuses.len()];
    let mut last_progress = Instant::now();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let now_ms = start.elapsed().as_millis() as u64;
        for (job, st) in statuses.iter().enumerate() {
            let running = st.running.load(Ordering::Relaxed);
            if running == 0 || running == u64::MAX || reported[job] == running {
                continue;
            }
            let started = st.started_ms.load(Ordering::Relaxed);
            if now_ms.saturating_sub(started) < opts.slow.as_millis() as u64 {
                continue;
            }
            reported[job] = running;
            shared.slow.fetch_add(1, Ordering::Relaxed);
            let Ok(bytes) = fs::read(inflight_path(dirs, T::NAME, job)) else { continue };
            if st.running.load(Ordering::Relaxed) != running {
                continue;
            }
            if let Ok(input) = target.read_inflight(&bytes) {
                let file = target.to_file(&input);
                let path = dirs.crashes.join(format!("{}-slow-{}.yaml", T::NAME, &sha256_hex(&file)[..16]));
                let _ = fs::write(&path, file);
                eprintln!(
                    "fuzz {}: input {} of job {job} has run for over {} s; it is in {}",
                    T::NAME,
                    running - 1,
                    opts.slow.as_secs(),
                    path.display()
                );
            }
        }
        if last_progress.elapsed() >= opts.progress {
            last_progress = Instant::now();
            let n = shared.inputs.load(Ordering::Relaxed);
            eprintln!(
                "fuzz {}: {n}/{total} inputs, {:.0} s, {} crashes, {} distinct errors, {} accepted",
                T::NAME,
                start.elapsed().as_secs_f64(),
                shared.panics.load(Ordering::Relaxed) + shared.violations.load(Ordering::Relaxed),
                lock(&shared.errors).len(),
                shared.accepted.load(Ordering::Relaxed),
            );
        }
    }
}

fn replay(opts: &Opts, dirs: &Dirs, sandbox: &Path) -> ExitCode {
    let mut failed = false;
    let (mut spec_t, mut state_t) = (None, None);
    for path in &opts.replay {
        let Ok(bytes) = fs::read(path) else {
            eprintln!("fuzz: cannot read {}", path.display());
            failed = true;
            continue;
        };
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let is_state = file_name.starts_with("state-")
            || (!file_name.starts_with("spec-") && opts.targets == ["state"])
            || (!file_name.starts_with("spec-") && read_case(&bytes).is_ok());
        let outcome = if is_state {
            let t = state_t.get_or_insert_with(|| StateTarget::new(dirs, &sandbox.join("state-target")));
            match t.read_file(&bytes) {
                Ok(input) => catch(|| t.run(&input, &sandbox.join("replay"))),
                Err(m) => Err(format!("not a state case: {m}")),
            }
        } else {
            let t = spec_t.get_or_insert_with(|| SpecTarget::new(dirs, &sandbox.join("spec-target")));
            let input = t.read_file(&bytes).expect("any bytes are a spec input");
            catch(|| t.run(&input, &sandbox.join("replay")))
        };
        let verdict = match outcome {
            Ok(Outcome::Accepted(kind)) => format!("accepted ({kind})"),
            Ok(Outcome::Rejected(_, shown)) => format!("refused: {shown}"),
            Ok(Outcome::Violation(why)) => {
                failed = true;
                format!("CRASH: broken promise: {why}")
            }
            Err(m) => {
                failed = true;
                format!("CRASH: {m}")
            }
        };
        println!("{}: {verdict}", path.display());
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Runs `f`, turning a panic into its message (the default hook prints it as well, with a
/// backtrace under RUST_BACKTRACE=1).
fn catch(f: impl FnOnce() -> Outcome) -> Result<Outcome, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into())
    })
}

/// Turns a message into its shape, so that "distinct error messages" counts kinds of
/// errors rather than the values quoted in them: quoted text, IP addresses, absolute
/// paths, URLs and CIDRs, numbers and unknown field names are replaced by placeholders.
fn normalize(msg: &str, known_words: &BTreeSet<&str>) -> String {
    // serde's "unknown field `x`, expected ...": the name is the user's (and may hold
    // backquotes itself); which struct refused it is in the rest of the message.
    let mut msg = msg.to_string();
    for lead in ["unknown field `", "unknown variant `"] {
        if let Some(i) = msg.find(lead) {
            let from = i + lead.len();
            let to = msg[from..].find("`, expected").map_or(msg.len(), |j| from + j);
            msg.replace_range(from..to, "_");
        }
    }
    // File names the user wrote (relative to the spec) or the state holds.
    if let Some(i) = msg.find("cannot read ") {
        let from = i + "cannot read ".len();
        if let Some(j) = msg[from..].rfind(": ") {
            msg.replace_range(from..from + j, "<path>");
        }
    }
    if let Some(i) = msg.find("profile /") {
        let from = i + "profile ".len();
        if let Some(j) = msg[from..].find(": ") {
            msg.replace_range(from..from + j, "<path>");
        }
    }
    let mut out = String::with_capacity(msg.len());
    let mut chars = msg.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push_str("\"_\"");
                let mut escaped = false;
                for d in chars.by_ref() {
                    match d {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '`' => {
                let quoted: String = chars.by_ref().take_while(|d| *d != '`').collect();
                if known_words.contains(quoted.as_str()) {
                    write!(out, "`{quoted}`").unwrap();
                } else {
                    out.push_str("`_`");
                }
            }
            _ => out.push(c),
        }
    }
    let words: Vec<String> = out
        .split_whitespace()
        .map(|w| {
            let core = w.trim_matches(|c: char| ",;:()?'".contains(c)).trim_end_matches('.');
            let bare = core.trim_start_matches('[').trim_end_matches(']');
            if core.contains("://")
                || core.starts_with('/')
                || core.starts_with("<state>/")
                || core.contains("/0")
                || (core.contains('/') && core.bytes().next().is_some_and(|b| b.is_ascii_digit()))
                || bare.parse::<std::net::IpAddr>().is_ok()
                || (core.matches(':').count() >= 2 && core.chars().all(|c| c.is_ascii_hexdigit() || ":.[]".contains(c)))
            {
                w.replace(core, "<value>")
            } else {
                let mut s = String::new();
                let mut prev_digit = false;
                for c in w.chars() {
                    if c.is_ascii_digit() {
                        if !prev_digit {
                            s.push('0');
                        }
                        prev_digit = true;
                    } else {
                        prev_digit = false;
                        s.push(if c.is_ascii() && !c.is_ascii_control() { c } else { '?' });
                    }
                }
                s
            }
        })
        .collect();
    let mut s = words.join(" ");
    if let Some((i, _)) = s.char_indices().nth(240) {
        s.truncate(i);
    }
    s
}

// ---------------------------------------------------------------------------------------
// The spec target.

const FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "spec",
    "kubernetesVersion",
    "clusterName",
    "controlPlaneEndpoint",
    "networking",
    "podSubnet",
    "serviceSubnet",
    "dnsDomain",
    "pki",
    "encryptionAlgorithm",
    "certificateValidityPeriod",
    "caCertificateValidityPeriod",
    "apiServerCertSANs",
    "join",
    "tokenTTL",
    "timeout",
    "nodes",
    "role",
    "address",
    "imageRepository",
    "apiServer",
    "controllerManager",
    "scheduler",
    "etcd",
    "extraArgs",
    "vip",
    "interface",
    "image",
    "cni",
    "plugin",
    "version",
    "mode",
    "encapsulation",
    "mtu",
    "registry",
    "manifest",
    "url",
    "sha256",
    "file",
    "os",
    "format",
    "ignitionVersion",
    "packages",
    "login",
    "user",
    "sshAuthorizedKeys",
    "registryMirrors",
    "nodeNetwork",
    "prefixLength",
    "gateway",
    "nameservers",
    "ignorePreflightErrors",
    "workerPools",
    "labels",
    "taints",
    "key",
    "value",
    "effect",
    "externalCA",
    "secrets",
    "encryptTo",
    "identity",
    "<<",
];

const VALUES: &[&str] = &[
    "kubebake.io/v1alpha1",
    "kubebake.io/v1",
    "Cluster",
    "v1.33.3",
    "v1.33.0",
    "1.33.3",
    "v1.34.0",
    "v1.33.99999999999",
    "v1.33",
    "v01.33.3",
    "v1.33.3-rc.1",
    "control-plane",
    "worker",
    "master",
    "cp-1",
    "cp-2",
    "worker-1",
    "demo",
    "Demo",
    "a.b",
    "10.0.0.11",
    "10.0.0.12",
    "10.0.0.10:6443",
    "10.0.0.21",
    "10.0.0.300",
    "127.0.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "fd00::10",
    "[fd00::10]:6443",
    "[fd00::10]",
    "fe80::1%eth0",
    "::ffff:10.0.0.11",
    "api.example.com",
    "api.example.com:6443",
    "*.example.com",
    "host:0",
    "host:65536",
    ":6443",
    "[",
    "]:",
    "192.168.0.0/16",
    "10.96.0.0/12",
    "10.96.0.0/28",
    "10.96.0.0/31",
    "10.96.0.0/32",
    "0.0.0.0/0",
    "10.0.0.0/8",
    "fd00:10:96::/108",
    "fd00:10:96::/112",
    "fd00::/56",
    "fd00::/64",
    "::/0",
    "10.96.0.1/12",
    "192.168.0.0/16,fd00::/56",
    "24h",
    "8760h",
    "87600h",
    "876000h",
    "0",
    "0s",
    "1ns",
    "1.5h",
    "500ms",
    "1h30m",
    "-1h",
    "+5m",
    "99999999999999999999h",
    "5124095h",
    "5124096h",
    "1e3h",
    ".5h",
    "1..5h",
    "5µs",
    "18446744073709551615ns",
    "1d",
    "ECDSA-P256",
    "ECDSA-P384",
    "RSA-2048",
    "RSA-3072",
    "RSA-4096",
    "ED25519",
    "calico",
    "none",
    "flannel",
    "operator",
    "manifest",
    "VXLANCrossSubnet",
    "VXLAN",
    "IPIP",
    "IPIPCrossSubnet",
    "None",
    "v3.30.3",
    "v3.29.0",
    "v3.30",
    "v3.300000000000000000000.0",
    "https://example.com/calico.yaml",
    "http://10.0.0.1:5000",
    "ftp://x/y",
    "calico.yaml",
    "profile.yaml",
    "bad-profile.yaml",
    "missing.yaml",
    "sub/x.yaml",
    "sub",
    ".",
    "..",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "ubuntu-24.04",
    "debian-12",
    "flatcar",
    "fedora-coreos",
    "cloud-init",
    "ignition",
    "3.3.0",
    "3.4.0",
    "apt",
    "download",
    "prebaked",
    "bundle",
    "core",
    "ubuntu",
    "root",
    "_x",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDq0bPbBsOTVJbnS9PzWSk9IeJrn0RjxwMmfQjvbSlQe ops@example",
    "ssh-rsa",
    "ecdsa-sha2-nistp256 AAAA x",
    "eth0",
    "ens18",
    "a-very-long-interface-name",
    "eth0:1",
    "registry.k8s.io",
    "docker.io",
    "registry.example.com/k8s",
    "https://registry/",
    "ghcr.io/kube-vip/kube-vip:v0.9.2",
    "NumCPU",
    "Mem",
    "Port-6443",
    "all",
    "v",
    "--v",
    "bad flag",
    "true",
    "false",
    "yes",
    "no",
    "on",
    "~",
    "null",
    "''",
    "\"\"",
    "'\\u0000'",
    "\"\\uD800\"",
    "\"\\0\\t\\r\"",
    "\"\\x85\"",
    "é",
    "日本",
    "\u{feff}",
    "-",
    ".nan",
    ".inf",
    "-.inf",
    "0x10",
    "0o17",
    "1.0",
    "1e309",
    // Issue 21: values that once reached shell scripts and unit files, and the edges of each
    // field's grammar on both sides.
    "https://example.com/x.yaml';touch${IFS}/tmp/A;'",
    "https://example.com/x.yaml?version=v3.30.3&x=1",
    "http://10.0.0.1:8080/x.yaml",
    "https://user:pw@example.com/x.yaml",
    "https://example.com/x.yaml#f",
    "HTTPS://Example.com:443/a/../x.yaml",
    "https://0x7f.1/x.yaml",
    "https://[fd00::1]/x%20y.yaml",
    "https://mirror.example.com/v2/prefix",
    "reg.example.com/k8s\"x",
    "ghcr.io/kube-vip/kube-vip:v0.9.2\"",
    "ghcr.io/kube-vip/kube-vip@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "ghcr.io/kube-vip/kube-vip:v0.9.2@sha512:0",
    "localhost:5000/a__b/c--d.e_f",
    "Registry.Example.com/K8s",
    "[fd00::5]:5000",
    "10.0.0.5:5000",
    "_default",
    "a\"b",
    "/etc/kubebake/age$(touch${IFS}/tmp/C).key",
    "/etc/kubebake/age.key",
    "/etc/kubebake/",
    "/a//b",
    "/a/../b",
    "/",
    "e\n[Route]\nX=1",
    "abcdefghijklmno",
    "abcdefghijklmnop",
    "FileContent--proc-sys-net-ipv4-ip_forward",
    "all; rm -rf /",
    "containerd;ls",
    "root$",
    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCDAQqm9cesq5MCC9pCQztkiVZPmBEZbFJnqq4Px+WnPR+FZyRW1bXzjzZHBRISd0NNY0qAPtEDgwJZfd2dVnv4= core@example",
    "ssh-ed25519\tAAAAC3NzaC1lZDI1NTE5AAAAIDq0bPbBsOTVJbnS9PzWSk9IeJrn0RjxwMmfQjvbSlQe",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDq0bPbBsOTVJbnS9Pz",
    "a\u{2028}b",
    "a\u{85}b",
    "'$(id)' `id` \"x\"",
    "lax-profile.yaml",
    "hostile-profile.yaml",
];

const SYNTAX: &[&str] = &[
    "---\n",
    "...\n",
    "%YAML 1.2\n---\n",
    "%TAG ! tag:x,2000:\n---\n",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!str ",
    "!!int ",
    "!!float ",
    "!!binary ",
    "!!map ",
    "!!seq ",
    "!!null ",
    "!!bool ",
    "!foo ",
    "!<tag:yaml.org,2002:str> ",
    "? ",
    ": ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    "\"",
    "|",
    "|-",
    "|+2",
    ">",
    "# ",
    "\t",
    "\r\n",
    "\r",
    "\u{85}",
    "\u{2028}",
    "\\",
    "\0",
    "\u{1b}",
];

/// A profile file whose every field is at the edge of its grammar, and valid.
const LAX_PROFILE: &str = "name: a.b-0
formats: [cloud-init, ignition]
packages: apt
containerdPackage: c+.-
firewall: none
loginUser: _a-0
adminGroup: _
binDir: /._-/a.b
caDirs: [/etc/pki, /usr/share/ca-certificates, /usr/local/share/ca-certificates, /etc/ca-certificates]
flexVolumeDir: /
networkConfig: networkd
";

/// A profile file with a value outside its grammar in every field (issue 21).
const HOSTILE_PROFILE: &str = "name: \"my os\"
formats: []
packages: apt
containerdPackage: \"containerd;touch /tmp/D\"
firewall: none
loginUser: \"root$(id)\"
adminGroup: \"sudo\\n\"
binDir: /opt/bin;touch${IFS}/tmp/B
caDirs: [/etc/pki/../../tmp, /etc/pki, /etc/pki, /srv]
flexVolumeDir: '/opt/x y'
";

struct SpecTarget {
    path: PathBuf,
    corpus: PathBuf,
    dict: Vec<Vec<u8>>,
    values: Vec<String>,
    known_words: BTreeSet<&'static str>,
}

impl SpecTarget {
    /// `dir` gets the files a spec may name (a profile, a Calico manifest), so validation
    /// reaches the code that reads them; the spec's own path is `dir/cluster.yaml`.
    fn new(dirs: &Dirs, dir: &Path) -> SpecTarget {
        fs::create_dir_all(dir.join("sub")).expect("creating the spec scratch dir");
        let manifest = b"apiVersion: v1\nkind: List\nitems: []\n";
        fs::write(dir.join("calico.yaml"), manifest).unwrap();
        let flatcar = kubebake::spec::profile::BUILT_IN.iter().find(|(n, _)| *n == "flatcar").expect("flatcar").1;
        fs::write(dir.join("profile.yaml"), flatcar.replace("name: flatcar", "name: mine")).unwrap();
        fs::write(dir.join("bad-profile.yaml"), "name: [\n").unwrap();
        fs::write(dir.join("lax-profile.yaml"), LAX_PROFILE).unwrap();
        fs::write(dir.join("hostile-profile.yaml"), HOSTILE_PROFILE).unwrap();
        fs::write(dir.join("sub/x.yaml"), kubebake::spec::profile::BUILT_IN[0].1).unwrap();
        let mut values: Vec<String> = VALUES.iter().map(|s| s.to_string()).collect();
        values.push(sha256_hex(manifest));
        let dict = values
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .chain(FIELDS.iter().map(|f| f.as_bytes().to_vec()))
            .chain(SYNTAX.iter().map(|s| s.as_bytes().to_vec()))
            .collect();
        SpecTarget {
            path: dir.join("cluster.yaml"),
            corpus: dirs.corpus.join("spec"),
            dict,
            values,
            known_words: FIELDS.iter().copied().collect(),
        }
    }

    fn random_scalar(&self, rng: &mut Rng) -> Yaml {
        let token = rng.pick(&self.values);
        match rng.below(6) {
            // As YAML would read the token: a number, a bool, null or a string.
            0..=2 => Yaml::parse(token).unwrap_or_else(|| Yaml::Str(token.clone())),
            3 => Yaml::Str(token.clone()),
            4 => Yaml::Int(rng.next() as i64 >> rng.below(64)),
            _ => Yaml::Str(rng.pick(INTERESTING_NUMBERS).to_string()),
        }
    }

    /// A YAML-aware mutation: parse, change one node, serialise. False when the input is
    /// not YAML (or does not serialise back).
    fn mutate_yaml(&self, data: &mut Vec<u8>, pool: &[Vec<u8>], rng: &mut Rng) -> bool {
        let Ok(text) = std::str::from_utf8(data) else { return false };
        let Some(mut doc) = Yaml::parse(text) else { return false };
        let donor: Option<Yaml> = std::str::from_utf8(rng.pick::<Vec<u8>>(pool)).ok().and_then(Yaml::parse);
        let node = random_yaml_node(&mut doc, rng);
        match rng.below(14) {
            0 | 1 => *node = self.random_scalar(rng),
            2 => {
                if let Some(mut d) = donor {
                    *node = random_yaml_node(&mut d, rng).clone();
                }
            }
            3 => match node {
                Yaml::Map(m) if !m.is_empty() => {
                    m.remove(rng.below(m.len()));
                }
                Yaml::Seq(s) if !s.is_empty() => {
                    s.remove(rng.below(s.len()));
                }
                _ => *node = Yaml::Null,
            },
            4 | 5 => match node {
                Yaml::Map(m) => {
                    let value = match &donor {
                        Some(d) if rng.chance(1, 2) => {
                            let mut d = d.clone();
                            random_yaml_node(&mut d, rng).clone()
                        }
                        _ => self.random_scalar(rng),
                    };
                    Yaml::insert(m, Yaml::Str(rng.pick(FIELDS).to_string()), value);
                }
                Yaml::Seq(s) => {
                    let item =
                        if s.is_empty() || rng.chance(1, 3) { self.random_scalar(rng) } else { rng.pick(s).clone() };
                    let at = rng.below(s.len() + 1);
                    s.insert(at, item);
                }
                other => {
                    let v = std::mem::take(other);
                    *other = Yaml::Seq(vec![v]);
                }
            },
            6 => match node {
                Yaml::Map(m) if !m.is_empty() => {
                    let (k, v) = m.remove(rng.below(m.len()));
                    let new_key = match rng.below(4) {
                        0 => self.random_scalar(rng),
                        1 => Yaml::Str(format!("{}x", k.as_str().unwrap_or("k"))),
                        _ => Yaml::Str(rng.pick(FIELDS).to_string()),
                    };
                    Yaml::insert(m, new_key, v);
                }
                Yaml::Seq(s) if s.len() > 1 => {
                    let (i, j) = (rng.below(s.len()), rng.below(s.len()));
                    s.swap(i, j);
                }
                _ => *node = self.random_scalar(rng),
            },
            7 => {
                // Change the node's type.
                let v = std::mem::take(node);
                *node = match v {
                    Yaml::Map(m) => Yaml::Seq(m.into_iter().map(|(_, v)| v).collect()),
                    Yaml::Seq(s) => {
                        let mut m = Vec::new();
                        for (i, v) in s.into_iter().enumerate() {
                            Yaml::insert(&mut m, Yaml::Str(FIELDS[i % FIELDS.len()].into()), v);
                        }
                        Yaml::Map(m)
                    }
                    scalar if rng.chance(1, 2) => Yaml::Seq(vec![scalar]),
                    scalar => Yaml::Map(vec![(Yaml::Str(rng.pick(FIELDS).to_string()), scalar)]),
                };
            }
            8 => {
                // Edit a scalar's text a little.
                let mut bytes = node.scalar_text().unwrap_or_default().into_bytes();
                mutate_bytes(&mut bytes, rng, &self.dict, None);
                bytes.truncate(4096);
                *node = Yaml::Str(String::from_utf8_lossy(&bytes).into_owned());
            }
            9 => {
                *node = match std::mem::take(node) {
                    Yaml::Str(s) => Yaml::parse(&s).unwrap_or(Yaml::Null),
                    Yaml::Null => Yaml::Str(String::new()),
                    other => Yaml::Str(other.scalar_text().or_else(|| other.write()).unwrap_or_default()),
                };
            }
            10 => {
                // Nesting, sometimes around the parser's depth limit (64) and beyond.
                let depth = if rng.chance(1, 4) { 56 + rng.below(84) } else { 1 + rng.below(5) };
                let mut v = std::mem::take(node);
                for _ in 0..depth {
                    v = if rng.chance(1, 2) {
                        Yaml::Seq(vec![v])
                    } else {
                        Yaml::Map(vec![(Yaml::Str(rng.pick(FIELDS).to_string()), v)])
                    };
                }
                *node = v;
            }
            11 => {
                let v = std::mem::take(node);
                let tag = ["!foo", "!!str", "!!binary", "!Cluster", "!x"][rng.below(5)];
                *node = Yaml::Tagged(tag.to_string(), Box::new(v));
            }
            12 => match node {
                Yaml::Seq(s) if !s.is_empty() => {
                    let item = rng.pick(s).clone();
                    let n = if rng.chance(1, 8) { 200 + rng.below(800) } else { 1 + rng.below(8) };
                    s.extend(std::iter::repeat_n(item, n));
                }
                _ => *node = Yaml::Seq(Vec::new()),
            },
            _ => *node = Yaml::Null,
        }
        match doc.write() {
            Some(s) if s.len() <= MAX_INPUT => {
                *data = s.into_bytes();
                true
            }
            _ => false,
        }
    }

    /// Line-level edits that keep most of the YAML intact: duplicated keys, re-indented or
    /// moved lines, anchors and tags, new fields.
    fn mutate_lines(&self, data: &mut Vec<u8>, rng: &mut Rng) {
        let text = String::from_utf8_lossy(data).into_owned();
        let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
        let n = lines.len();
        let i = rng.below(n);
        match rng.below(9) {
            0 => {
                let l = lines[i].clone();
                lines.insert(rng.below(n + 1), l);
            }
            1 if n > 1 => {
                lines.remove(i);
            }
            2 => {
                let j = rng.below(n);
                lines.swap(i, j);
            }
            3 => {
                let l = &mut lines[i];
                match rng.below(4) {
                    0 => l.insert_str(0, &" ".repeat(1 + rng.below(4))),
                    1 => l.insert(0, '\t'),
                    _ => {
                        let blank = l.bytes().take_while(|b| *b == b' ' || *b == b'\t').count();
                        l.replace_range(..rng.below(5).min(blank), "");
                    }
                }
            }
            4 => {
                let indent = " ".repeat(2 * rng.below(4));
                let value = rng.pick(&self.values).clone();
                let line = match rng.below(3) {
                    0 => format!("{indent}- {value}"),
                    _ => format!("{indent}{}: {value}", rng.pick(FIELDS)),
                };
                lines.insert(rng.below(n + 1), line);
            }
            5 => {
                let end = (i + 1 + rng.below(6)).min(n);
                let block: Vec<String> = lines[i..end].to_vec();
                let at = rng.below(n + 1);
                lines.splice(at..at, block);
            }
            6 => {
                let l = &mut lines[i];
                let mut at = rng.below(l.len() + 1);
                while !l.is_char_boundary(at) {
                    at -= 1;
                }
                l.insert_str(at, rng.pick::<&str>(SYNTAX));
            }
            7 => {
                let value = rng.pick(&self.values).clone();
                let l = &mut lines[i];
                match l.find(": ") {
                    Some(p) => l.replace_range(p + 2.., &value),
                    None => l.push_str(&format!(": {value}")),
                }
            }
            _ => {
                // An anchor on one line and an alias of it on another.
                let l = &mut lines[i];
                if let Some(p) = l.find(": ") {
                    l.insert_str(p + 2, "&x ");
                }
                let j = rng.below(n);
                let l = &mut lines[j];
                match l.find(": ") {
                    Some(p) => l.replace_range(p + 2.., "*x"),
                    None => l.push_str(" *x"),
                }
            }
        }
        *data = lines.join("\n").into_bytes();
        data.truncate(MAX_INPUT);
    }
}

fn random_yaml_node<'a>(mut v: &'a mut Yaml, rng: &mut Rng) -> &'a mut Yaml {
    let mut depth = 0;
    loop {
        let children = match &*v {
            Yaml::Map(m) => m.len(),
            Yaml::Seq(s) => s.len(),
            Yaml::Tagged(..) => 1,
            _ => 0,
        };
        let stop = if depth == 0 { rng.chance(1, 12) } else { rng.chance(1, 3) };
        if children == 0 || stop {
            return v;
        }
        let i = rng.below(children);
        v = match v {
            Yaml::Map(m) => &mut m[i].1,
            Yaml::Seq(s) => &mut s[i],
            Yaml::Tagged(_, t) => t,
            _ => unreachable!("has children"),
        };
        depth += 1;
    }
}

/// A YAML document as the mutator sees it: keys of any kind, in document order, and tags.
#[derive(Debug, Clone, Default, PartialEq)]
enum Yaml {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Yaml>),
    Map(Vec<(Yaml, Yaml)>),
    Tagged(String, Box<Yaml>),
}

impl Yaml {
    /// `text` as kubebake reads YAML; None when it does not read.
    fn parse(text: &str) -> Option<Yaml> {
        kubebake::spec::yaml::from_str(text).ok()
    }

    fn write(&self) -> Option<String> {
        serde_saphyr::to_string(self).ok()
    }

    fn as_str(&self) -> Option<&str> {
        if let Yaml::Str(s) = self { Some(s) } else { None }
    }

    /// A scalar's text (a number or boolean as YAML writes it); None for anything else.
    fn scalar_text(&self) -> Option<String> {
        match self {
            Yaml::Str(s) => Some(s.clone()),
            Yaml::Bool(b) => Some(b.to_string()),
            Yaml::Int(n) => Some(n.to_string()),
            Yaml::UInt(n) => Some(n.to_string()),
            Yaml::Float(f) => Some(f.to_string()),
            _ => None,
        }
    }

    /// Sets `key` in a mapping: in place when it is there, at the end when not.
    fn insert(map: &mut Vec<(Yaml, Yaml)>, key: Yaml, value: Yaml) {
        match map.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => map.push((key, value)),
        }
    }
}

impl<'de> Deserialize<'de> for Yaml {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Yaml;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Yaml, E> {
                Ok(Yaml::Null)
            }
            fn visit_none<E>(self) -> Result<Yaml, E> {
                Ok(Yaml::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Yaml, D::Error> {
                Yaml::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Yaml, E> {
                Ok(Yaml::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Yaml, E> {
                Ok(Yaml::Int(n))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Yaml, E> {
                Ok(Yaml::UInt(n))
            }
            fn visit_f64<E>(self, f: f64) -> Result<Yaml, E> {
                Ok(Yaml::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> Result<Yaml, E> {
                Ok(Yaml::Str(s.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Yaml, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Yaml::Seq(out))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Yaml, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry()? {
                    out.push((k, v));
                }
                Ok(Yaml::Map(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Yaml {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Yaml::Null => s.serialize_unit(),
            Yaml::Bool(b) => s.serialize_bool(*b),
            Yaml::Int(n) => s.serialize_i64(*n),
            Yaml::UInt(n) => s.serialize_u64(*n),
            Yaml::Float(f) => s.serialize_f64(*f),
            Yaml::Str(t) => s.serialize_str(t),
            Yaml::Seq(items) => s.collect_seq(items),
            Yaml::Map(entries) => s.collect_map(entries.iter().map(|(k, v)| (k, v))),
            Yaml::Tagged(tag, v) => serde_saphyr::Tagged(v.as_ref(), Some(tag.clone())).serialize(s),
        }
    }
}

impl Target for SpecTarget {
    type Input = Vec<u8>;
    const NAME: &'static str = "spec";

    fn seeds(&self) -> Vec<Vec<u8>> {
        let mut paths: Vec<PathBuf> = fs::read_dir(&self.corpus)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.corpus.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        paths.sort();
        paths.iter().map(|p| fs::read(p).unwrap()).collect()
    }

    fn mutate(&self, data: &mut Vec<u8>, pool: &[Vec<u8>], rng: &mut Rng) {
        match rng.below(10) {
            0..=3 => {
                if !self.mutate_yaml(data, pool, rng) {
                    self.mutate_lines(data, rng);
                }
            }
            4 | 5 => self.mutate_lines(data, rng),
            _ => {
                let donor = rng.pick(pool).clone();
                mutate_bytes(data, rng, &self.dict, Some(&donor));
            }
        }
    }

    fn run(&self, data: &Vec<u8>, _scratch: &Path) -> Outcome {
        // `spec::load` refuses a file that is not UTF-8 before parsing; what reaches
        // `parse` is a &str, so invalid bytes become U+FFFD here.
        let text = String::from_utf8_lossy(data);
        match spec::parse(&text, &self.path) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    if w.message.trim().is_empty() {
                        return Outcome::Violation(format!("a warning with an empty message at {:?}", w.path));
                    }
                }
                Outcome::Accepted(accepted_kind(&loaded.cluster, &loaded.warnings, &self.known_words))
            }
            Err(Error::Spec(p)) => {
                if p.problems.is_empty() {
                    return Outcome::Violation("a spec error with no problem in it".into());
                }
                let lines = line_count(&text);
                let mut out = Vec::new();
                for problem in &p.problems {
                    if problem.message.trim().is_empty() {
                        return Outcome::Violation(format!("a problem with an empty message at {:?}", problem.path));
                    }
                    // A profile file's problems point into that file.
                    let lines = match &problem.file {
                        None => lines,
                        Some(f) => match fs::read_to_string(f) {
                            Ok(t) => line_count(&t),
                            Err(e) => {
                                return Outcome::Violation(format!(
                                    "{}: a problem in {} ({e})",
                                    problem.path,
                                    f.display()
                                ));
                            }
                        },
                    };
                    if problem.line.is_some_and(|l| l == 0 || l > lines) {
                        return Outcome::Violation(format!(
                            "{}: line {} of a {lines}-line file",
                            problem.path,
                            problem.line.expect("some")
                        ));
                    }
                    let path = normalize_field_path(&problem.path, false);
                    let message = normalize_field_path(&problem.message, true);
                    out.push(normalize(&format!("{path}: {message}"), &self.known_words));
                }
                Outcome::Rejected(out, p.to_string())
            }
            Err(other) => {
                let m = other.to_string();
                if m.trim().is_empty() {
                    return Outcome::Violation("an error with an empty message".into());
                }
                Outcome::Rejected(vec![normalize(&m, &self.known_words)], m)
            }
        }
    }

    fn to_file(&self, input: &Vec<u8>) -> Vec<u8> {
        input.clone()
    }

    fn read_file(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        Ok(bytes.to_vec())
    }
}

/// Lines as YAML counts them (libyaml also breaks lines at \r, NEL, LS and PS), plus one
/// for an error at the very end.
fn line_count(text: &str) -> usize {
    let mut n = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => n += 1,
            '\r' => {
                n += 1;
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
            }
            _ => {}
        }
    }
    n + 1
}

/// `spec.registryMirrors.<host>` and `...extraArgs.<flag>` hold the user's own keys (which
/// may hold anything: brackets, spaces, colons): each becomes `*`, keeping a trailing `[N]`.
/// In a problem's path the key runs to the end; in a serde message (which starts with the
/// path when the path has a space in it), to serde's own text.
fn normalize_field_path(text: &str, in_message: bool) -> String {
    const SERDE: &[&str] = &[": invalid ", ": unknown ", ": missing ", ": duplicate ", ": expected ", ": recursion "];
    let mut out = text.to_string();
    for anchor in ["registryMirrors.", "extraArgs."] {
        let Some(i) = out.find(anchor) else { continue };
        if in_message && (!out.starts_with("spec.") || out[..i].contains(' ')) {
            continue;
        }
        let from = i + anchor.len();
        let end = if in_message {
            SERDE.iter().filter_map(|m| out[from..].find(m)).min().map_or(out.len(), |j| from + j)
        } else {
            out.len()
        };
        let key = &out[from..end];
        let index = key
            .rfind('[')
            .filter(|k| key.ends_with(']') && key[k + 1..key.len() - 1].bytes().all(|b| b.is_ascii_digit()))
            .map_or("", |k| &key[k..]);
        let replacement = format!("*{index}");
        out.replace_range(from..end, &replacement);
    }
    if let Some(i) = out.find("without its dashes: ") {
        out.truncate(i + "without its dashes: ".len());
        out.push('*');
    }
    out
}

/// What an accepted spec turned into, coarsely, and the pure functions downstream of
/// validation run on it (a panic there means validation let something through).
fn accepted_kind(c: &Cluster, warnings: &[kubebake::error::Problem], known: &BTreeSet<&str>) -> String {
    use kubebake::model::{Cni, Host, ManifestSource};
    let _ = (c.networking.first_service_ip(), c.networking.cluster_dns_ip(), c.endpoint.host_port(), c.endpoint.url());
    let cfg = kubebake::node::kubeadm_config::cluster_configuration(c);
    let _ = kubebake::fmt::yaml::to_string(&cfg);
    let kubelet = kubebake::node::kubelet_config::kubelet_configuration(c);
    let _ = kubebake::fmt::yaml::to_string(&kubelet);
    for node in &c.nodes {
        let _ = kubebake::node::kubelet_config::kubelet_flags_env(c, node);
    }
    for node in c.control_planes() {
        let _ = kubebake::pki::control_plane_leaves(c, node);
        let _ = kubebake::pki::kubeconfig::node_identities(c, node);
    }
    let _ = kubebake::pki::kubeconfig::operator_identity(c);
    let cni = match &c.cni {
        Cni::None => "none".to_string(),
        Cni::Calico(k) => format!(
            "{:?}/{:?}/{}",
            k.mode,
            k.encapsulation,
            match k.source {
                ManifestSource::File { .. } => "file",
                _ => "url",
            }
        ),
    };
    let cps = c.control_planes().count();
    let mut warn: Vec<String> = warnings.iter().map(|w| normalize(&w.message, known)).collect();
    warn.sort();
    warn.dedup();
    format!(
        "os={} format={} packages={} cni={cni} vip={} nodeNetwork={} login={} endpoint={} ipv6={} cps={} workers={} \
         mirrors={} alg={} warnings={warn:?}",
        c.os.profile.name,
        c.os.format.name(),
        c.os.packages.name(),
        c.vip.is_some(),
        c.node_network.is_some(),
        c.login.create,
        if matches!(c.endpoint.host, Host::Dns(_)) { "dns" } else { "ip" },
        c.networking.pod_subnet.addr().is_ipv6(),
        cps.min(3),
        (c.nodes.len() - cps).min(2),
        !c.registry_mirrors.is_empty(),
        c.pki.algorithm.name(),
    )
}

// ---------------------------------------------------------------------------------------
// The state target.

/// One entry of a state directory, by path relative to it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    File(Vec<u8>),
    Link(Vec<u8>),
}

#[derive(Clone)]
struct StateInput {
    files: BTreeMap<Vec<u8>, Entry>,
    /// Unix seconds of the bake's clock.
    now: i64,
    /// Which spec of fuzz/corpus/state the bake is for.
    spec: usize,
}

/// A state crash file, as `StateTarget::to_file` writes it.
fn read_case(bytes: &[u8]) -> Result<StateCase, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    serde_saphyr::from_str(text).map_err(|e| e.to_string())
}

/// A state crash file: the clock, the spec and every file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateCase {
    now: i64,
    spec: String,
    files: Vec<CaseFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    symlink: Option<String>,
}

/// When the base state was baked (2025-06-15): every `now` is relative to it, so runs
/// do not depend on the date they run on.
const BAKED_AT: i64 = 1_750_000_000;
const DAY: i64 = 86_400;

const STATE_EXTRA_PATHS: &[&[u8]] = &[
    b"extra.txt",
    b".hidden",
    b"nodes/cp-9/pki/apiserver.crt",
    b"nodes/cp-9/pki/apiserver.key",
    b"nodes/cp-1/pki/unknown.crt",
    b"nodes/cp-1/pki/etcd/server.crt.bak",
    b"nodes/.hidden/x.crt",
    b"operator/admin.crt/inner",
    b"ca.crt/inner",
    b"etcd/ca.crt/inner",
    b"etcd/unknown",
    b"nodes/cp-1",
    b"kubebake-state.json/inner",
    b"token/inner",
    b"sa.pub/inner",
    b"operator/admin",
    b"nodes/cp-1/pki/apiserver",
    b"weird\nname",
    "名前".as_bytes(),
    b"bad\xffname",
    b"bad\xfename",
    b" ca.crt",
    b"CA.CRT",
    b"etcd",
    b"operator",
    b"nodes",
    b"x",
];
const SYMLINK_TARGETS: &[&str] = &[".", "..", "ca.crt", "../state/ca.crt", "nodes", "missing", "token", "etcd"];
const PEM_TAGS: &[&str] = &[
    "CERTIFICATE",
    "EC PRIVATE KEY",
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "PUBLIC KEY",
    "ENCRYPTED PRIVATE KEY",
    "X509 CRL",
    "",
    "certificate",
];
const TOKENS: &[&str] = &[
    "abcdef.0123456789abcdef\n",
    "abcdef.0123456789abcdef",
    "abcdef.0123456789abcdef\n\n",
    "abcdef.0123456789abcdef\r\n",
    "ABCDEF.0123456789abcdef\n",
    "abcdef0123456789abcdef\n",
    "",
    "\n",
    "abcdé.0123456789abcdef\n",
    ".",
    "abcdef.0123456789abcdef.x\n",
    " abcdef.0123456789abcdef\n",
];

struct StateTarget {
    specs: Vec<(String, Cluster)>,
    base: StateInput,
    /// The same spec baked again: same paths, other keys.
    other: BTreeMap<Vec<u8>, Vec<u8>>,
    /// PEM texts: every file of both states, RSA and P-384 CAs, PKCS#8 forms of keys.
    donors: Vec<Vec<u8>>,
    /// Parsed DER of some donors, for swapping in whole elements.
    donor_der: Vec<Vec<Der>>,
    /// Strings of the state record, for its JSON mutations.
    record_strings: Vec<String>,
    known_words: BTreeSet<&'static str>,
    dict: Vec<Vec<u8>>,
    runs: AtomicU64,
}

impl StateTarget {
    fn new(dirs: &Dirs, dir: &Path) -> StateTarget {
        fs::create_dir_all(dir).expect("creating the state scratch dir");
        let corpus = dirs.corpus.join("state");
        let mut names: Vec<String> = fs::read_dir(&corpus)
            .unwrap_or_else(|e| panic!("reading {}: {e}", corpus.display()))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        names.sort();
        // cluster.yaml is the spec the base state is baked for; the others are what a later
        // bake of that state might be asked for.
        names.sort_by_key(|n| n != "cluster.yaml");
        assert_eq!(names.first().map(String::as_str), Some("cluster.yaml"), "{} needs cluster.yaml", corpus.display());
        let specs: Vec<(String, Cluster)> = names
            .into_iter()
            .map(|n| {
                let loaded = spec::load(&corpus.join(&n)).unwrap_or_else(|e| panic!("{e}"));
                (n, loaded.cluster)
            })
            .collect();
        let now = OffsetDateTime::from_unix_timestamp(BAKED_AT).expect("a valid time");
        let bake = |name: &str| -> BTreeMap<Vec<u8>, Vec<u8>> {
            let d = dir.join(name);
            state::sync_and_save(&d, &mut specs[0].1.clone(), now)
                .unwrap_or_else(|e| panic!("baking the base state: {e}"));
            snapshot(&d)
                .into_iter()
                .filter_map(|(p, s)| match s {
                    Snap::File(b) => Some((p, b)),
                    _ => None,
                })
                .collect()
        };
        let base_files = bake("base");
        let other = bake("other");
        let base = StateInput {
            files: base_files.into_iter().map(|(p, b)| (p, Entry::File(b))).collect(),
            now: BAKED_AT,
            spec: 0,
        };

        let mut donors: Vec<Vec<u8>> = other.values().cloned().collect();
        for e in base.files.values() {
            if let Entry::File(b) = e {
                donors.push(b.clone());
            }
        }
        for (id, alg) in [(CaId::Kubernetes, KeyAlgorithm::Rsa2048), (CaId::FrontProxy, KeyAlgorithm::EcdsaP384)] {
            let ca = Ca::generate(id, alg, 10 * 365 * DAY as u64, now).expect("generating a donor CA");
            donors.push(ca.cert_pem.clone().into_bytes());
            donors.push(ca.key.to_pem().into_bytes());
            donors.push(pkcs8_pem(&ca.key.to_pem()).into_bytes());
        }
        // An expired CA and a CA whose certificate is not a CA's.
        let old = OffsetDateTime::from_unix_timestamp(BAKED_AT - 400 * DAY).expect("a valid time");
        let expired = Ca::generate(CaId::Etcd, KeyAlgorithm::EcdsaP256, DAY as u64, old).expect("an expired CA");
        donors.push(expired.cert_pem.clone().into_bytes());
        donors.push(expired.key.to_pem().into_bytes());
        for e in base.files.values() {
            if let Entry::File(b) = e
                && b.starts_with(b"-----BEGIN EC PRIVATE KEY")
            {
                donors.push(pkcs8_pem(&String::from_utf8_lossy(b)).into_bytes());
            }
        }
        let donor_der = donors.iter().filter_map(|d| pem_first(d)).filter_map(|p| der_parse(&p.der, 0)).collect();
        let record = match base.files.get(state::RECORD_FILE.as_bytes()) {
            Some(Entry::File(b)) => b.clone(),
            _ => panic!("the base state has no record"),
        };
        let mut record_strings = BTreeSet::new();
        collect_json_strings(&serde_json::from_slice(&record).expect("the record is JSON"), &mut record_strings);
        let mut dict: Vec<Vec<u8>> = PEM_TAGS.iter().map(|t| format!("-----BEGIN {t}-----\n").into_bytes()).collect();
        dict.extend(PEM_TAGS.iter().map(|t| format!("-----END {t}-----\n").into_bytes()));
        dict.extend(TOKENS.iter().map(|t| t.as_bytes().to_vec()));
        dict.extend(record_strings.iter().map(|s| s.as_bytes().to_vec()));
        dict.extend(INTERESTING_NUMBERS.iter().map(|s| s.as_bytes().to_vec()));
        dict.extend([b"=".to_vec(), b"==".to_vec(), b"\r\n".to_vec(), b"Proc-Type: 4,ENCRYPTED\n".to_vec()]);
        let mut known_words: BTreeSet<&'static str> =
            ["version", "cluster", "certificates", "commonName", "issuer", "algorithm", "usages", "validitySeconds"]
                .into_iter()
                .collect();
        known_words.extend(["organizations", "dnsNames", "ipAddresses"]);
        StateTarget {
            specs,
            base,
            other,
            donors,
            donor_der,
            record_strings: record_strings.into_iter().collect(),
            known_words,
            dict,
            runs: AtomicU64::new(0),
        }
    }

    fn file_paths(input: &StateInput) -> Vec<Vec<u8>> {
        input.files.iter().filter(|(_, e)| matches!(e, Entry::File(_))).map(|(p, _)| p.clone()).collect()
    }

    fn random_now(rng: &mut Rng) -> i64 {
        match rng.below(12) {
            0 => BAKED_AT + DAY,
            1 => BAKED_AT + 366 * DAY,
            2 => BAKED_AT + 3652 * DAY,
            3 => BAKED_AT + 20 * 365 * DAY,
            4 => BAKED_AT - 20 * 365 * DAY,
            5 => 0,
            6 => 4_102_444_800, // 2100
            7 => rng.below(4_102_444_800) as i64,
            8 => BAKED_AT - 301,
            _ => BAKED_AT,
        }
    }

    fn mutate_record(&self, bytes: &mut Vec<u8>, rng: &mut Rng) {
        use serde_json::Value;
        let Ok(mut doc) = serde_json::from_slice::<Value>(bytes) else {
            mutate_bytes(bytes, rng, &self.dict, None);
            return;
        };
        let node = random_json_node(&mut doc, rng);
        let scalar = |rng: &mut Rng, strings: &[String]| -> Value {
            match rng.below(12) {
                0 => Value::from(0),
                1 => Value::from(-1),
                2 => Value::from(2),
                3 => Value::from(u64::MAX),
                4 => Value::from(1.5),
                5 => Value::from("1"),
                6 => Value::from(""),
                7 => Value::Null,
                8 => Value::Bool(true),
                9 => Value::from("10.0.0.300"),
                _ => Value::from(rng.pick(strings).clone()),
            }
        };
        match rng.below(8) {
            0..=2 => *node = scalar(rng, &self.record_strings),
            3 => match node {
                Value::Object(m) if !m.is_empty() => {
                    let k = m.keys().nth(rng.below(m.len())).cloned().expect("in range");
                    m.remove(&k);
                }
                Value::Array(a) if !a.is_empty() => {
                    a.remove(rng.below(a.len()));
                }
                _ => *node = Value::Null,
            },
            4 => match node {
                Value::Object(m) => {
                    let k = if rng.chance(1, 2) { rng.pick(&self.record_strings).clone() } else { "unknown".into() };
                    m.insert(k, scalar(rng, &self.record_strings));
                }
                Value::Array(a) => {
                    let v = if a.is_empty() { scalar(rng, &self.record_strings) } else { rng.pick(a).clone() };
                    a.push(v);
                }
                other => *other = Value::Array(vec![std::mem::take(other)]),
            },
            5 => match node {
                Value::Object(m) if !m.is_empty() => {
                    let k = m.keys().nth(rng.below(m.len())).cloned().expect("in range");
                    let v = m.remove(&k).expect("present");
                    m.insert(rng.pick(&self.record_strings).clone(), v);
                }
                _ => *node = Value::Object(Default::default()),
            },
            6 => {
                // A number's neighbour, e.g. validitySeconds ± 1.
                if let Some(n) = node.as_u64() {
                    *node = Value::from(n.wrapping_add([1, u64::MAX, 3600][rng.below(3)]));
                } else {
                    *node = Value::Array(Vec::new());
                }
            }
            _ => {
                if let Value::String(s) = node {
                    let mut b = std::mem::take(s).into_bytes();
                    mutate_bytes(&mut b, rng, &self.dict, None);
                    *s = String::from_utf8_lossy(&b).into_owned();
                }
            }
        }
        *bytes = if rng.chance(3, 4) {
            let mut v = serde_json::to_vec_pretty(&doc).expect("serialisable");
            v.push(b'\n');
            v
        } else {
            serde_json::to_vec(&doc).expect("serialisable")
        };
    }

    /// PEM- and DER-aware mutations of a PEM file; false when the file holds no PEM.
    fn mutate_pem(&self, bytes: &mut Vec<u8>, rng: &mut Rng) -> bool {
        let Some(block) = pem_first(bytes) else { return false };
        let (head, tail) = (bytes[..block.start].to_vec(), bytes[block.end..].to_vec());
        let mut tag = block.tag.clone();
        let mut der = block.der.clone();
        let mut layout = PemLayout::Standard;
        match rng.below(12) {
            0..=5 => der = mutate_der(&der, rng, &self.donor_der, 0),
            6 => tag = rng.pick(PEM_TAGS).to_string(),
            7 => layout = [PemLayout::Crlf, PemLayout::OneLine, PemLayout::Wrap76, PemLayout::Headers][rng.below(4)],
            8 => {
                // Another block before or after this one.
                let other = rng.pick(&self.donors).clone();
                let mut out = Vec::new();
                if rng.chance(1, 2) {
                    out.extend_from_slice(&other);
                    out.extend_from_slice(bytes);
                } else {
                    out.extend_from_slice(bytes);
                    out.extend_from_slice(&other);
                }
                *bytes = out;
                return true;
            }
            9 => {
                // Garbage around the block, or a block cut short.
                let options: [&[u8]; 5] = [b"junk\n", b"\n\n", b"  ", b"-----", b"\xff\n"];
                let junk = options[rng.below(5)];
                if rng.chance(1, 2) {
                    bytes.splice(0..0, junk.iter().copied());
                } else {
                    let cut = block.end.saturating_sub(1 + rng.below(40));
                    bytes.truncate(cut);
                }
                return true;
            }
            10 => {
                // Base64 damage inside the body.
                let body_start = block.start + bytes[block.start..].iter().position(|b| *b == b'\n').unwrap_or(0) + 1;
                let body_end = block.end.saturating_sub(10 + block.tag.len()).max(body_start);
                if body_end > body_start {
                    let at = body_start + rng.below(body_end - body_start);
                    let options: [&[u8]; 7] = [b"*", b"=", b" ", b"\n", b"====", b"-", b"\t"];
                    let junk = options[rng.below(7)];
                    bytes.splice(at..at, junk.iter().copied());
                }
                return true;
            }
            _ => der = mutate_der(&der, rng, &self.donor_der, 0),
        }
        let mut out = head;
        out.extend_from_slice(pem_encode(&tag, &der, layout).as_bytes());
        out.extend_from_slice(&tail);
        *bytes = out;
        true
    }
}

fn collect_json_strings(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::String(s) => {
            out.insert(s.clone());
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_json_strings(x, out)),
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                out.insert(k.clone());
                collect_json_strings(x, out);
            }
        }
        _ => {}
    }
}

fn random_json_node<'a>(mut v: &'a mut serde_json::Value, rng: &mut Rng) -> &'a mut serde_json::Value {
    use serde_json::Value;
    let mut depth = 0;
    loop {
        let children = match &*v {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        let stop = if depth == 0 { rng.chance(1, 12) } else { rng.chance(1, 4) };
        if children == 0 || stop {
            return v;
        }
        let i = rng.below(children);
        v = match v {
            Value::Object(m) => m.values_mut().nth(i).expect("in range"),
            Value::Array(a) => &mut a[i],
            _ => unreachable!("has children"),
        };
        depth += 1;
    }
}

impl Target for StateTarget {
    type Input = StateInput;
    const NAME: &'static str = "state";

    fn seeds(&self) -> Vec<StateInput> {
        let byo = |input: &StateInput| StateInput {
            files: input
                .files
                .iter()
                .filter(|(p, _)| {
                    let p = String::from_utf8_lossy(p);
                    p.ends_with("ca.crt") || p.ends_with("ca.key") || p.starts_with("sa.")
                })
                .filter(|(p, _)| !p.starts_with(b"nodes/") && !p.starts_with(b"operator/"))
                .map(|(p, e)| (p.clone(), e.clone()))
                .collect(),
            ..input.clone()
        };
        let mut pkcs8 = self.base.clone();
        for e in pkcs8.files.values_mut() {
            if let Entry::File(b) = e
                && b.starts_with(b"-----BEGIN EC PRIVATE KEY")
            {
                *b = pkcs8_pem(&String::from_utf8_lossy(b)).into_bytes();
            }
        }
        let mut later = self.base.clone();
        later.now = BAKED_AT + 400 * DAY;
        // CAs (brought by the user: only CA files) whose subjects rcgen cannot write back
        // as an issuer name: an empty attribute type, a '?' in a PrintableString. They
        // panicked in sync before kubebake refused them; kept here as regression seeds.
        let odd_subjects: Vec<StateInput> = [
            ("ca.crt", Der::Cons(0x30, vec![Der::Prim(0x06, Vec::new()), Der::Prim(0x0c, b"x".to_vec())])),
            ("etcd/ca.crt", Der::Cons(0x30, vec![Der::Prim(0x06, vec![0x81, 0x00]), Der::Prim(0x0c, b"x".to_vec())])),
            (
                "front-proxy-ca.crt",
                Der::Cons(0x30, vec![Der::Prim(0x06, vec![0x55, 4, 10]), Der::Prim(0x13, b"a?".to_vec())]),
            ),
        ]
        .into_iter()
        .map(|(stem, rdn)| {
            let mut input = byo(&self.base);
            if let Some(Entry::File(pem)) = input.files.get_mut(stem.as_bytes()) {
                *pem = with_extra_rdn(pem, rdn).into_bytes();
            }
            input
        })
        .collect();
        let mut seeds =
            vec![self.base.clone(), byo(&self.base), StateInput { files: BTreeMap::new(), ..self.base.clone() }];
        seeds.push(pkcs8.clone());
        seeds.push(byo(&pkcs8));
        seeds.push(later);
        seeds.extend(odd_subjects);
        for i in 1..self.specs.len() {
            seeds.push(StateInput { spec: i, ..self.base.clone() });
        }
        seeds
    }

    fn mutate(&self, input: &mut StateInput, pool: &[StateInput], rng: &mut Rng) {
        let paths = Self::file_paths(input);
        let pick_file = |rng: &mut Rng| -> Option<Vec<u8>> { (!paths.is_empty()).then(|| rng.pick(&paths).clone()) };
        match rng.below(22) {
            0..=3 => {
                if let Some(p) = pick_file(rng)
                    && let Some(Entry::File(b)) = input.files.get_mut(&p)
                {
                    let donor = rng.pick(&self.donors).clone();
                    mutate_bytes(b, rng, &self.dict, Some(&donor));
                }
            }
            4..=8 => {
                if let Some(p) = pick_file(rng)
                    && let Some(Entry::File(b)) = input.files.get_mut(&p)
                    && !self.mutate_pem(b, rng)
                {
                    mutate_bytes(b, rng, &self.dict, None);
                }
            }
            9 => {
                // The same file from the other state: valid, but other keys.
                if let Some(p) = pick_file(rng) {
                    let content = self.other.get(&p).cloned().unwrap_or_else(|| rng.pick(&self.donors).clone());
                    input.files.insert(p, Entry::File(content));
                }
            }
            10 => {
                if let Some(p) = pick_file(rng) {
                    input.files.insert(p, Entry::File(rng.pick(&self.donors).clone()));
                }
            }
            11 if paths.len() > 1 => {
                let (a, b) = (rng.pick(&paths).clone(), rng.pick(&paths).clone());
                if a != b {
                    let ea = input.files.remove(&a).expect("present");
                    let eb = input.files.insert(b.clone(), ea).expect("present");
                    input.files.insert(a, eb);
                }
            }
            12 => {
                // Remove a file, or everything under a directory.
                if let Some(p) = pick_file(rng) {
                    let cuts: Vec<usize> = p.iter().enumerate().filter(|(_, b)| **b == b'/').map(|(i, _)| i).collect();
                    if cuts.is_empty() || rng.chance(2, 3) {
                        input.files.remove(&p);
                    } else {
                        let prefix = p[..=*rng.pick(&cuts)].to_vec();
                        input.files.retain(|k, _| !k.starts_with(&prefix));
                    }
                }
            }
            13 => {
                let path = rng.pick(STATE_EXTRA_PATHS).to_vec();
                let content = if rng.chance(1, 2) { rng.pick(&self.donors).clone() } else { b"x\n".to_vec() };
                input.files.insert(path, Entry::File(content));
            }
            14 => {
                let path = if rng.chance(1, 2) || paths.is_empty() {
                    rng.pick(STATE_EXTRA_PATHS).to_vec()
                } else {
                    rng.pick(&paths).clone()
                };
                input.files.insert(path, Entry::Link(rng.pick(SYMLINK_TARGETS).as_bytes().to_vec()));
            }
            15 => {
                // Move a file: under another name, or one level down.
                if let Some(p) = pick_file(rng) {
                    let e = input.files.remove(&p).expect("present");
                    let to = match rng.below(3) {
                        0 => [p.as_slice(), b"/inner"].concat(),
                        1 => p.to_ascii_uppercase(),
                        _ => rng.pick(STATE_EXTRA_PATHS).to_vec(),
                    };
                    input.files.insert(to, e);
                }
            }
            16 | 17 => {
                if let Some(Entry::File(b)) = input.files.get_mut(state::RECORD_FILE.as_bytes()) {
                    self.mutate_record(b, rng);
                }
            }
            18 => {
                let t = if rng.chance(3, 4) {
                    rng.pick(TOKENS).as_bytes().to_vec()
                } else {
                    let mut t = TOKENS[0].as_bytes().to_vec();
                    mutate_bytes(&mut t, rng, &self.dict, None);
                    t
                };
                input.files.insert(state::TOKEN_FILE.as_bytes().to_vec(), Entry::File(t));
            }
            19 => input.now = Self::random_now(rng),
            20 => input.spec = if rng.chance(1, 2) { 0 } else { rng.below(self.specs.len()) },
            _ => {
                // Splice: a file from another input of the pool.
                let other = rng.pick(pool);
                let keys: Vec<&Vec<u8>> = other.files.keys().collect();
                if !keys.is_empty() {
                    let k = (*rng.pick(&keys)).clone();
                    input.files.insert(k.clone(), other.files[&k].clone());
                }
            }
        }
    }

    fn run(&self, input: &StateInput, scratch: &Path) -> Outcome {
        let case = scratch.join("c");
        let _ = fs::remove_dir_all(&case);
        fs::create_dir_all(&case).expect("creating a case dir");
        let dir = case.join("state");
        let before = materialize(&dir, &input.files);
        let ino = |p: &Path| fs::symlink_metadata(p).ok().map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        let listing = |p: &Path| -> Vec<Vec<u8>> {
            let mut v: Vec<Vec<u8>> =
                fs::read_dir(p).map(|r| r.flatten().map(|e| e.file_name().into_vec()).collect()).unwrap_or_default();
            v.sort();
            v
        };
        let (ino_before, listing_before) = (ino(&dir), listing(&case));
        // Every 4th refusal is checked file by file, the others by the state directory's
        // inode (sync writes only by swapping in a new tree) and what lies beside it.
        let full_check = self.runs.fetch_add(1, Ordering::Relaxed).is_multiple_of(4);
        let cluster = &mut self.specs[input.spec].1.clone();
        let now = OffsetDateTime::from_unix_timestamp(input.now).expect("a valid time");
        let dir_text = dir.display().to_string();
        let outcome = match state::sync_and_save(&dir, cluster, now) {
            Err(e) => {
                let m = e.to_string();
                if m.trim().is_empty() {
                    Outcome::Violation("an error with an empty message".into())
                } else if ino(&dir) != ino_before || listing(&case) != listing_before {
                    Outcome::Violation(format!("refused ({m}) but replaced the state or left files beside it"))
                } else if full_check && snapshot(&case) != before {
                    Outcome::Violation(format!("refused ({m}) but changed {}", differences(&before, &snapshot(&case))))
                } else {
                    let shown = m.replace(&dir_text, "<state>");
                    Outcome::Rejected(vec![normalize(&shown, &self.known_words)], shown)
                }
            }
            Ok(first) => {
                let beside = listing(&case);
                if beside != [b"state".to_vec()] {
                    let names: Vec<String> = beside.iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
                    return Outcome::Violation(format!("after a sync, the state's parent holds {names:?}"));
                }
                let written = snapshot(&case);
                match state::sync_and_save(&dir, cluster, now) {
                    Err(e) => Outcome::Violation(format!("a second sync refused what the first wrote: {e}")),
                    Ok(second) if !second.changes.is_empty() => {
                        Outcome::Violation(format!("a second sync changed the state again: {:?}", second.changes))
                    }
                    Ok(_) => {
                        let again = snapshot(&case);
                        if again != written {
                            Outcome::Violation(format!("a second sync rewrote {}", differences(&written, &again)))
                        } else {
                            let mut kinds: Vec<String> = first
                                .changes
                                .iter()
                                .map(|c| normalize(c, &self.known_words).split(' ').next().unwrap_or("").to_string())
                                .collect();
                            kinds.sort();
                            kinds.dedup();
                            Outcome::Accepted(format!("spec={} changes={kinds:?}", self.specs[input.spec].0))
                        }
                    }
                }
            }
        };
        let _ = fs::remove_dir_all(&case);
        outcome
    }

    fn to_file(&self, input: &StateInput) -> Vec<u8> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let files = input
            .files
            .iter()
            .map(|(p, e)| {
                let (path, path_base64) = match std::str::from_utf8(p) {
                    Ok(s) if !s.contains(|c: char| c.is_control()) => (Some(s.to_string()), None),
                    _ => (None, Some(b64(p))),
                };
                let mut f = CaseFile { path, path_base64, text: None, base64: None, symlink: None };
                match e {
                    Entry::Link(t) => f.symlink = Some(String::from_utf8_lossy(t).into_owned()),
                    // Text when YAML gives it back byte for byte, else base64.
                    Entry::File(b) => match std::str::from_utf8(b) {
                        Ok(s)
                            if serde_saphyr::to_string(&s)
                                .ok()
                                .and_then(|y| serde_saphyr::from_str::<String>(&y).ok())
                                .is_some_and(|back| back == s) =>
                        {
                            f.text = Some(s.to_string())
                        }
                        _ => f.base64 = Some(b64(b)),
                    },
                }
                f
            })
            .collect();
        let case = StateCase { now: input.now, spec: self.specs[input.spec].0.clone(), files };
        let mut out = b"# A state directory for tests/fuzz.rs --replay: the clock, the spec in fuzz/corpus/state \
                        and each file.\n"
            .to_vec();
        out.extend(serde_saphyr::to_string(&case).expect("serialisable").into_bytes());
        out
    }

    fn read_file(&self, bytes: &[u8]) -> Result<StateInput, String> {
        let case = read_case(bytes)?;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| e.to_string());
        let spec = self.specs.iter().position(|(n, _)| *n == case.spec).ok_or(format!("no spec {}", case.spec))?;
        let mut files = BTreeMap::new();
        for f in case.files {
            let path = match (f.path, f.path_base64) {
                (Some(p), None) => p.into_bytes(),
                (None, Some(b)) => b64(&b)?,
                _ => return Err("each file needs path or path_base64".into()),
            };
            if path.split(|b| *b == b'/').any(|c| c.is_empty() || c == b"." || c == b"..") {
                return Err(format!("{} is not a path inside the state", String::from_utf8_lossy(&path)));
            }
            let entry = match (f.text, f.base64, f.symlink) {
                (Some(t), None, None) => Entry::File(t.into_bytes()),
                (None, Some(b), None) => Entry::File(b64(&b)?),
                (None, None, Some(l)) => Entry::Link(l.into_bytes()),
                _ => return Err("each file needs one of text, base64 or symlink".into()),
            };
            files.insert(path, entry);
        }
        Ok(StateInput { files, now: case.now, spec })
    }

    fn to_inflight(&self, input: &StateInput) -> Vec<u8> {
        // Length-prefixed binary: cheap enough to write before every input.
        let mut out = b"KBFZSTATE1".to_vec();
        out.extend(input.now.to_le_bytes());
        out.extend((input.spec as u32).to_le_bytes());
        for (p, e) in &input.files {
            let (kind, body) = match e {
                Entry::File(b) => (0u8, b),
                Entry::Link(t) => (1u8, t),
            };
            out.push(kind);
            out.extend((p.len() as u32).to_le_bytes());
            out.extend(p);
            out.extend((body.len() as u32).to_le_bytes());
            out.extend(body);
        }
        out
    }

    fn read_inflight(&self, bytes: &[u8]) -> Result<StateInput, String> {
        let bad = || "a damaged inflight file".to_string();
        let mut rest = bytes.strip_prefix(b"KBFZSTATE1").ok_or_else(bad)?;
        let mut take = |n: usize| -> Result<&[u8], String> {
            if rest.len() < n {
                return Err(bad());
            }
            let (a, b) = rest.split_at(n);
            rest = b;
            Ok(a)
        };
        let now = i64::from_le_bytes(take(8)?.try_into().map_err(|_| bad())?);
        let spec = u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
        let mut files = BTreeMap::new();
        while let Ok(kind) = take(1) {
            let kind = kind[0];
            let n = u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
            let p = take(n)?.to_vec();
            let n = u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
            let body = take(n)?.to_vec();
            files.insert(p, if kind == 0 { Entry::File(body) } else { Entry::Link(body) });
        }
        if spec >= self.specs.len() {
            return Err(bad());
        }
        Ok(StateInput { files, now, spec })
    }
}

/// Writes `files` into `dir` (created when there are any) and returns what a snapshot of
/// its parent would show: the entries that could be made (a file where another entry
/// needs a directory cannot, and is left out).
fn materialize(dir: &Path, files: &BTreeMap<Vec<u8>, Entry>) -> BTreeMap<Vec<u8>, Snap> {
    let mut made = BTreeMap::new();
    if files.is_empty() || fs::create_dir(dir).is_err() {
        return made;
    }
    let name = dir.file_name().expect("a name").as_bytes().to_vec();
    let key = |rel: &[u8]| [name.as_slice(), b"/", rel].concat();
    made.insert(name.clone(), Snap::Dir);
    // Directories first, parents before children (a prefix sorts first).
    let dirs: BTreeSet<&[u8]> = files
        .keys()
        .flat_map(|p| p.iter().enumerate().filter(|(_, b)| **b == b'/').map(move |(i, _)| &p[..i]))
        .collect();
    for d in dirs {
        if fs::create_dir(dir.join(OsStr::from_bytes(d))).is_ok() {
            made.insert(key(d), Snap::Dir);
        }
    }
    for (rel, entry) in files {
        let path = dir.join(OsStr::from_bytes(rel));
        let snap = match entry {
            Entry::File(b) => fs::write(&path, b).map(|_| Snap::File(b.clone())),
            Entry::Link(t) => std::os::unix::fs::symlink(OsStr::from_bytes(t), &path).map(|_| Snap::Link(t.clone())),
        };
        if let Ok(snap) = snap {
            made.insert(key(rel), snap);
        }
    }
    made
}

#[derive(Debug, PartialEq, Eq)]
enum Snap {
    File(Vec<u8>),
    Link(Vec<u8>),
    Dir,
}

/// Everything under `root`, hidden entries included, symlinks not followed.
fn snapshot(root: &Path) -> BTreeMap<Vec<u8>, Snap> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = fs::read_dir(root.join(&rel)) else { continue };
        for e in entries.flatten() {
            let child = rel.join(e.file_name());
            let abs = root.join(&child);
            let key = child.as_os_str().as_bytes().to_vec();
            match fs::symlink_metadata(&abs) {
                Ok(m) if m.file_type().is_symlink() => {
                    let target = fs::read_link(&abs).map(|t| t.into_os_string().into_vec()).unwrap_or_default();
                    out.insert(key, Snap::Link(target));
                }
                Ok(m) if m.is_dir() => {
                    out.insert(key, Snap::Dir);
                    stack.push(child);
                }
                Ok(_) => {
                    out.insert(key, Snap::File(fs::read(&abs).unwrap_or_default()));
                }
                Err(_) => {}
            }
        }
    }
    out
}

fn differences(a: &BTreeMap<Vec<u8>, Snap>, b: &BTreeMap<Vec<u8>, Snap>) -> String {
    let keys: BTreeSet<&Vec<u8>> = a.keys().chain(b.keys()).collect();
    let changed: Vec<String> =
        keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).map(|k| String::from_utf8_lossy(k).into_owned()).collect();
    format!("{changed:?}")
}

// ---------------------------------------------------------------------------------------
// PEM and DER, just enough to mutate certificates and keys structurally.

struct PemBlock {
    start: usize,
    end: usize,
    tag: String,
    der: Vec<u8>,
}

/// The first well-formed PEM block of `bytes`.
fn pem_first(bytes: &[u8]) -> Option<PemBlock> {
    let text = std::str::from_utf8(bytes).ok()?;
    let start = text.find("-----BEGIN ")?;
    let after = &text[start + 11..];
    let tag_end = after.find("-----")?;
    let tag = after[..tag_end].to_string();
    let body_start = start + 11 + tag_end + 5;
    let end_marker = format!("-----END {tag}-----");
    let body_len = text[body_start..].find(&end_marker)?;
    let body: String = text[body_start..body_start + body_len].chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
    let mut end = body_start + body_len + end_marker.len();
    if text[end..].starts_with('\n') {
        end += 1;
    }
    Some(PemBlock { start, end, tag, der })
}

#[derive(Clone, Copy)]
enum PemLayout {
    Standard,
    Crlf,
    OneLine,
    Wrap76,
    Headers,
}

fn pem_encode(tag: &str, der: &[u8], layout: PemLayout) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let width = match layout {
        PemLayout::OneLine => usize::MAX,
        PemLayout::Wrap76 => 76,
        _ => 64,
    };
    let nl = if matches!(layout, PemLayout::Crlf) { "\r\n" } else { "\n" };
    let mut out = format!("-----BEGIN {tag}-----{nl}");
    if matches!(layout, PemLayout::Headers) {
        out.push_str("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n");
    }
    let chars: Vec<char> = b64.chars().collect();
    for chunk in chars.chunks(width.min(chars.len().max(1))) {
        out.extend(chunk);
        out.push_str(nl);
    }
    write!(out, "-----END {tag}-----{nl}").unwrap();
    out
}

/// The certificate PEM with one more RDN (holding `attribute`) at the end of its subject;
/// the signature is left as it was (sync does not check a CA's self-signature).
fn with_extra_rdn(pem_bytes: &[u8], attribute: Der) -> String {
    let block = pem_first(pem_bytes).expect("a PEM certificate");
    let mut cert = der_parse(&block.der, 0).expect("DER");
    let Some(Der::Cons(_, parts)) = cert.first_mut() else { panic!("not a certificate") };
    let Some(Der::Cons(_, tbs)) = parts.first_mut() else { panic!("no TBSCertificate") };
    let subject = if matches!(tbs.first(), Some(Der::Cons(0xa0, _))) { 5 } else { 4 };
    let Some(Der::Cons(_, rdns)) = tbs.get_mut(subject) else { panic!("no subject") };
    rdns.push(Der::Cons(0x31, vec![attribute]));
    pem_encode("CERTIFICATE", &der_encode(&cert), PemLayout::Standard)
}

/// A PKCS#8 `PRIVATE KEY` for a SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`.
fn pkcs8_pem(pem_text: &str) -> String {
    const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let Some(block) = pem_first(pem_text.as_bytes()) else { return pem_text.to_string() };
    let alg = if block.tag == "RSA PRIVATE KEY" {
        Der::Cons(0x30, vec![Der::Prim(0x06, RSA.to_vec()), Der::Prim(0x05, Vec::new())])
    } else {
        // The curve moves from the SEC1 body to the algorithm identifier.
        let Some(mut sec1) = der_parse(&block.der, 0) else { return pem_text.to_string() };
        let Some(Der::Cons(_, parts)) = sec1.first_mut() else { return pem_text.to_string() };
        let Some(i) = parts.iter().position(|p| matches!(p, Der::Cons(0xa0, _))) else { return pem_text.to_string() };
        let Der::Cons(_, curve) = parts.remove(i) else { unreachable!() };
        let inner = der_encode(&sec1);
        let alg = Der::Cons(0x30, [vec![Der::Prim(0x06, EC.to_vec())], curve].concat());
        let key = der_encode(&[Der::Cons(0x30, vec![Der::Prim(0x02, vec![0]), alg, Der::Prim(0x04, inner)])]);
        return pem_encode("PRIVATE KEY", &key, PemLayout::Standard);
    };
    let key = der_encode(&[Der::Cons(0x30, vec![Der::Prim(0x02, vec![0]), alg, Der::Prim(0x04, block.der)])]);
    pem_encode("PRIVATE KEY", &key, PemLayout::Standard)
}

#[derive(Clone, Debug)]
enum Der {
    Prim(u8, Vec<u8>),
    Cons(u8, Vec<Der>),
}

fn der_parse(mut input: &[u8], depth: usize) -> Option<Vec<Der>> {
    if depth > 32 {
        return None;
    }
    let mut out = Vec::new();
    while !input.is_empty() {
        let (&tag, rest) = input.split_first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            (rest[..n].iter().fold(0usize, |a, b| (a << 8) | *b as usize), &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        let (content, rest) = rest.split_at(len);
        out.push(if tag & 0x20 != 0 {
            Der::Cons(tag, der_parse(content, depth + 1)?)
        } else {
            Der::Prim(tag, content.to_vec())
        });
        input = rest;
    }
    Some(out)
}

fn der_encode(nodes: &[Der]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nodes {
        let (tag, content) = match n {
            Der::Prim(t, b) => (*t, b.clone()),
            Der::Cons(t, kids) => (*t, der_encode(kids)),
        };
        out.push(tag);
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend(content);
    }
    out
}

fn der_count(nodes: &[Der]) -> usize {
    nodes.iter().map(|n| 1 + if let Der::Cons(_, k) = n { der_count(k) } else { 0 }).sum()
}

/// Calls `f` with the list holding the `k`th node (preorder) and its index in it.
fn der_at(list: &mut Vec<Der>, k: &mut usize, f: &mut dyn FnMut(&mut Vec<Der>, usize)) -> bool {
    for i in 0..list.len() {
        if *k == 0 {
            f(list, i);
            return true;
        }
        *k -= 1;
        if let Der::Cons(_, kids) = &mut list[i]
            && der_at(kids, k, f)
        {
            return true;
        }
    }
    false
}

const DER_TAGS: &[u8] = &[
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x16, 0x17, 0x18, 0x1e, 0x30, 0x31, 0xa0, 0xa1, 0xa3, 0x80, 0x81,
    0x82, 0x87, 0x00,
];
const OIDS: &[&[u8]] = &[
    &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01],
    &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
    &[0x2b, 0x81, 0x04, 0x00, 0x22],
    &[0x2b, 0x81, 0x04, 0x00, 0x23],
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
    &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
    &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
    &[0x2b, 0x65, 0x70],
    &[0x55, 0x1d, 0x13],
    &[0x55, 0x1d, 0x0f],
    &[0x55, 0x1d, 0x25],
    &[0x55, 0x1d, 0x11],
    &[0x55, 0x1d, 0x0e],
    &[0x55, 0x1d, 0x23],
    &[0x55, 0x04, 0x03],
    &[0x55, 0x04, 0x0a],
    &[],
    &[0x80],
    &[0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
];
const UTC_TIMES: &[&str] = &[
    "000101000000Z",
    "491231235959Z",
    "500101000000Z",
    "991231235959Z",
    "250615000000Z",
    "250101000000+0100",
    "2501010000Z",
    "250230000000Z",
    "251301000000Z",
    "250101246060Z",
    "",
    "Z",
    "991231235959",
];
const GENERALIZED_TIMES: &[&str] = &[
    "00000101000000Z",
    "99991231235959Z",
    "19500101000000Z",
    "20250101000000.123Z",
    "20500101000000Z",
    "20250615000000Z",
    "-0010101000000Z",
    "20250101000000",
    "2025010100Z",
];

fn interesting_body(tag: u8, rng: &mut Rng) -> Vec<u8> {
    match tag {
        0x02 => match rng.below(9) {
            0 => Vec::new(),
            1 => vec![0],
            2 => vec![0xff],
            3 => vec![0x80],
            4 => vec![0x00, 0x80],
            5 => vec![0x7f; 8],
            6 => vec![0xff; 9],
            7 => [vec![0x00], vec![0xc1; 512]].concat(),
            _ => vec![0x01; 33],
        },
        0x06 => rng.pick(OIDS).to_vec(),
        0x17 => rng.pick(UTC_TIMES).as_bytes().to_vec(),
        0x18 => rng.pick(GENERALIZED_TIMES).as_bytes().to_vec(),
        0x01 => {
            let options: [&[u8]; 5] = [&[], &[0], &[1], &[0xff], &[0, 0]];
            options[rng.below(5)].to_vec()
        }
        0x03 => match rng.below(4) {
            0 => Vec::new(),
            1 => vec![0],
            2 => vec![8, 0],
            _ => [vec![0, 0x04], (0..64).map(|_| rng.next() as u8).collect()].concat(),
        },
        0x05 => {
            if rng.chance(1, 2) {
                Vec::new()
            } else {
                vec![0]
            }
        }
        0x0c | 0x13 | 0x16 | 0x1e => {
            let options: [&[u8]; 6] = [b"", b"\0", "é".as_bytes(), b"\xff", &[b'a'; 300], b"kubernetes"];
            options[rng.below(6)].to_vec()
        }
        _ => {
            let options: [&[u8]; 4] = [&[], &[0], &[0xff; 4], &[0x30, 0x00]];
            options[rng.below(4)].to_vec()
        }
    }
}

/// Mutates DER structurally (one element changed, lengths re-encoded) or, sometimes, as
/// raw bytes (lengths broken too).
fn mutate_der(der: &[u8], rng: &mut Rng, donors: &[Vec<Der>], depth: usize) -> Vec<u8> {
    let Some(mut tree) = der_parse(der, 0).filter(|t| !t.is_empty()).filter(|_| rng.below(8) != 0) else {
        let mut raw = der.to_vec();
        mutate_bytes(&mut raw, rng, &[], None);
        return raw;
    };
    let mut k = rng.below(der_count(&tree));
    let op = rng.below(13);
    let mut f = |list: &mut Vec<Der>, i: usize| {
        // Operations on the element's place in its list.
        match op {
            4 => {
                list.remove(i);
                return;
            }
            5 => {
                let n = list[i].clone();
                list.insert(i, n);
                return;
            }
            6 => {
                let j = rng.below(list.len());
                list.swap(i, j);
                return;
            }
            7 => {
                let tag = *rng.pick(DER_TAGS) & !0x20;
                let body = interesting_body(tag, rng);
                list.insert(i, Der::Prim(tag, body));
                return;
            }
            8 if !donors.is_empty() => {
                fn flatten<'a>(nodes: &'a [Der], out: &mut Vec<&'a Der>) {
                    for n in nodes {
                        out.push(n);
                        if let Der::Cons(_, k) = n {
                            flatten(k, out);
                        }
                    }
                }
                let mut flat = Vec::new();
                flatten(rng.pick::<Vec<Der>>(donors), &mut flat);
                if !flat.is_empty() {
                    list[i] = (*rng.pick(&flat)).clone();
                }
                return;
            }
            _ => {}
        }
        // Operations on the element itself.
        let node = &mut list[i];
        let replacement = match node {
            Der::Prim(tag, body) => {
                match op {
                    0 if !body.is_empty() => {
                        let j = rng.below(body.len());
                        body[j] ^= 1 << rng.below(8);
                    }
                    2 => mutate_bytes(body, rng, &[], None),
                    3 => *tag = *rng.pick(DER_TAGS),
                    9 if (*tag == 0x04 || *tag == 0x03) && depth < 3 => {
                        // DER inside a string: a SEC1 key in PKCS#8, an extension's value,
                        // a public key in a BIT STRING.
                        let skip = usize::from(*tag == 0x03).min(body.len());
                        let inner = mutate_der(&body[skip..], rng, donors, depth + 1);
                        body.truncate(skip);
                        body.extend(inner);
                    }
                    11 if rng.chance(1, 2) => body.truncate(rng.below(body.len() + 1)),
                    11 => body.extend(std::iter::repeat_n(0, rng.size())),
                    _ => *body = interesting_body(*tag, rng),
                }
                None
            }
            Der::Cons(tag, kids) => match op {
                2 => {
                    // The content kept as raw bytes, mutated: broken inner lengths.
                    let mut bytes = der_encode(kids);
                    mutate_bytes(&mut bytes, rng, &[], None);
                    Some(Der::Prim(*tag, bytes))
                }
                3 => {
                    *tag = *rng.pick(DER_TAGS);
                    None
                }
                10 => {
                    let keep = rng.below(kids.len() + 1);
                    kids.truncate(keep);
                    None
                }
                12 => {
                    *tag = if rng.chance(1, 2) { *tag ^ 0x20 } else { 0x31 };
                    None
                }
                _ => {
                    kids.reverse();
                    None
                }
            },
        };
        if let Some(r) = replacement {
            *node = r;
        }
    };
    der_at(&mut tree, &mut k, &mut f);
    der_encode(&tree)
}
