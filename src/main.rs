//! The `kubebake` binary: parses the command line and dispatches; all work is in the library.

mod cli;

use std::process::ExitCode;

use anyhow::Result;
use kubebake::cmd::bake::{self, Options, Report};
use kubebake::error::Problem;

fn main() -> ExitCode {
    // `kubebake images SPEC | head -1`: a closed pipe ends the process quietly, as it does
    // any Unix filter, instead of a panic on the next print.
    // SAFETY: restoring a signal's default disposition at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // glibc grows each thread's heap by exactly what an allocation needs, one mprotect call
    // a time: some seventy calls in a one-node bake. With a megabyte of headroom a heap is
    // made once; pages no allocation touches cost nothing.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 1 << 20);
    }
    // Parsed first: help and usage errors end the process inside clap.
    let cli = cli::Cli::parse_args();
    // SIGINT, SIGTERM and SIGHUP remove what is staged (keys among it) before the process
    // dies of them (kubebake::files::cleanup): blocked here, before the first thread starts, so
    // that every thread inherits the mask and only the signal thread takes them.
    let signals = kubebake::files::cleanup::block_signals();
    let warm_up = kubebake::warm_up_in_background();
    signals.watch_in_background();
    // A panic aborts a release build with nothing unwound: remove what is staged first.
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report_panic(info);
        kubebake::files::cleanup::abandon_after_panic();
    }));
    QUIET.store(cli.global.quiet, std::sync::atomic::Ordering::Relaxed);
    let result = run(cli.command);
    warm_up.wait();
    // Dies here of a signal that arrived, once what it found staged is removed.
    kubebake::files::cleanup::finish();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `--quiet`: reports and notes are left out; what a command produces is not.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// A report line (stdout), left out with --quiet.
macro_rules! report {
    ($($t:tt)*) => { if !quiet() { println!($($t)*); } };
}

/// A note on stderr, left out with --quiet.
macro_rules! note {
    ($($t:tt)*) => { if !quiet() { eprintln!($($t)*); } };
}

fn run(command: cli::Command) -> Result<()> {
    match command {
        cli::Command::Bake(cli::BakeArgs {
            spec,
            out,
            state,
            show_token,
            templates,
            platform,
            allow_clear_secrets,
            bundle,
            json,
        }) => {
            let platform = platform.as_deref().and_then(kubebake::deliver::Platform::by_name);
            let progress = !quiet() && !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let now = time::OffsetDateTime::now_utc();
            let options = Options { spec, out, state, templates, platform, allow_clear_secrets, bundle, now, progress };
            let report = bake::bake(&options)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report_json(&report, show_token))?);
            } else if !quiet() {
                print_report(&report, show_token);
            }
        }
        cli::Command::Images { spec, json } => {
            let loaded = kubebake::spec::load(&spec)?;
            print_warnings(&spec, &loaded.warnings);
            let images = kubebake::model::images::images(&loaded.cluster)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "images": images }))?);
            } else {
                for i in &images {
                    println!("{}", i.image);
                }
            }
        }
        #[cfg(feature = "bundle")]
        cli::Command::Bundle { spec, out, arch, rewrite, pins, trust_origin, json } => {
            let rewrites = rewrite
                .iter()
                .map(|r| {
                    r.split_once('=')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .ok_or_else(|| anyhow::anyhow!("--rewrite {r}: expected FROM=TO"))
                })
                .collect::<Result<Vec<_>>>()?;
            let started = std::time::Instant::now();
            let progress = !quiet() && !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let options =
                kubebake::deliver::bundle::Options { spec, out, arch, rewrites, progress, pins, trust_origin };
            let report = kubebake::deliver::bundle::bundle(&options)?;
            let m = &report.manifest;
            for line in &m.replaced_pins {
                note!("note: {line}");
            }
            if json {
                let summary = serde_json::json!({
                    "out": report.out, "bytes": report.bytes, "binaries": m.binaries.len(), "images": m.images.len(),
                    "calico": m.calico.len(), "seconds": started.elapsed().as_secs_f64(),
                });
                println!("{}", serde_json::to_string_pretty(&summary)?);
                return Ok(());
            }
            report!(
                "bundle {}: {} bytes, {} binaries, {} images, {} Calico manifests, in {:.1} s",
                report.out.display(),
                report.bytes,
                m.binaries.len(),
                m.images.len(),
                m.calico.len(),
                started.elapsed().as_secs_f64()
            );
        }
        cli::Command::Image { spec, out, bundle, age_identity, templates, json } => {
            let written = kubebake::deliver::packer::write(&kubebake::deliver::packer::Options {
                spec,
                out,
                bundle,
                age_identity,
                templates,
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "written": written }))?);
                return Ok(());
            }
            for path in written {
                report!("wrote {}", path.display());
            }
        }
        cli::Command::Token(cmd) => token(cmd)?,
        cli::Command::Completions { shell } => {
            let mut cmd = <cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "kubebake", &mut std::io::stdout());
        }
        cli::Command::Man { out } => {
            std::fs::create_dir_all(&out).map_err(|e| anyhow::anyhow!("creating {}: {e}", out.display()))?;
            let cmd = <cli::Cli as clap::CommandFactory>::command();
            for (name, page) in man_pages(&cmd, "kubebake")? {
                let path = out.join(format!("{name}.1"));
                kubebake::files::write_file_atomic(&path, &page, 0o644)?;
                report!("wrote {}", path.display());
            }
        }
        cli::Command::Init { out, force, spec, templates } => {
            if let Some(path) = out.as_ref().filter(|p| p.exists() && !force) {
                anyhow::bail!("-o {}: exists; pass --force to overwrite it", path.display());
            }
            let templates = kubebake::node::templates::Templates::load(templates.as_deref())?;
            let opts = spec.into_options();
            let text = kubebake::cmd::init::render(&opts, &templates)?;
            match out {
                Some(path) => {
                    kubebake::files::write_file_atomic(&path, text.as_bytes(), 0o644)?;
                    note!("wrote {}; next: kubebake bake {} -o out", path.display(), path.display());
                }
                None => print!("{text}"),
            }
        }
        cli::Command::Renew { state, names, within, new_keys, json } => {
            let within = match (within, names.is_empty()) {
                (Some(w), _) => Some(parse_days(&w).map_err(|m| anyhow::anyhow!("--within {w}: {m}"))?),
                (None, true) => Some(std::time::Duration::from_secs(30 * 86_400)),
                (None, false) => None,
            };
            let renewed = kubebake::state::renew(&state, &names, within, new_keys, time::OffsetDateTime::now_utc())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "renewed": renewed }))?);
                return Ok(());
            }
            if renewed.is_empty() {
                report!("nothing to renew in {}", state.display());
                return Ok(());
            }
            let mut by_node: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            for r in &renewed {
                report!(
                    "renewed {} ({}), valid until {}",
                    r.name,
                    if r.kept_key { "same key" } else { "new key" },
                    r.not_after
                );
                let (node, file) = node_file(&r.name);
                by_node.entry(node).or_default().push(file);
            }
            report!("\nbake again (kubebake bake SPEC -o OUT); these files change:");
            for (node, files) in &by_node {
                report!("  {node}: {}", files.join(" "));
            }
            report!(
                "\nput them on the running nodes (or re-provision them), then restart what reads them, \
                 as after kubeadm certs renew: on a control plane move each manifest out of \
                 /etc/kubernetes/manifests and back, for the kubelet systemctl restart kubelet."
            );
        }
        cli::Command::Check { spec, out, state, templates, warn, json } => {
            let warn_for = parse_days(&warn).map_err(|m| anyhow::anyhow!("--warn {warn}: {m}"))?;
            let now = time::OffsetDateTime::now_utc();
            let opts = kubebake::cmd::check::Options { spec, out, state, templates, warn: warn_for, now };
            let report = kubebake::cmd::check::check(&opts)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for f in &report.findings {
                    let label = match f.severity {
                        kubebake::cmd::check::Severity::Problem => "problem",
                        kubebake::cmd::check::Severity::Warning => "warning",
                    };
                    println!("{label}: {}", f.message);
                }
                report!(
                    "{}: {} files, {} certificates checked; {} problem(s), {} warning(s)",
                    opts.out.display(),
                    report.files_checked,
                    report.certificates_checked,
                    report.problems(),
                    report.findings.len() - report.problems()
                );
            }
            anyhow::ensure!(report.problems() == 0, "{} problem(s) in {}", report.problems(), opts.out.display());
        }
        cli::Command::Inspect { state, json } => {
            let i = kubebake::cmd::inspect::inspect(&state, time::OffsetDateTime::now_utc())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&i)?);
                return Ok(());
            }
            println!("cluster  {}", i.cluster);
            println!("CA pin   {}", i.ca_cert_hash);
            let w = i.certificates.iter().map(|c| c.name.len()).max().unwrap_or(4).max(11);
            println!(
                "\n{:<w$}  {:<10}  {:>5}  {:<10}  {:<24}  subject [SANs]",
                "certificate",
                "not after",
                "days",
                "algorithm",
                "issuer",
                w = w
            );
            for c in &i.certificates {
                let issuer = c.issuer.strip_prefix("CN=").unwrap_or(&c.issuer);
                println!(
                    "{:<w$}  {:<10}  {:>5}  {:<10}  {:<24}  {}{}",
                    c.name,
                    &c.not_after[..10],
                    c.days_left,
                    c.algorithm,
                    issuer,
                    c.subject,
                    if c.sans.is_empty() { String::new() } else { format!("  [{}]", c.sans.join(", ")) },
                    w = w
                );
            }
            println!("\n{:<8}  {:<22}  {:<22}  use", "token", "created", "expires");
            for t in &i.tokens {
                print_token_row(t);
            }
        }
        cli::Command::Validate { spec, json: true } => {
            // `file` is set when the problem is in another file than the spec (an OS profile).
            let problem = |p: &Problem| serde_json::json!({"path": p.path, "line": p.line, "column": p.column, "message": p.message, "file": p.file});
            match kubebake::spec::load(&spec) {
                Ok(loaded) => {
                    let c = &loaded.cluster;
                    let report = serde_json::json!({
                        "valid": true, "problems": [],
                        "warnings": loaded.warnings.iter().map(problem).collect::<Vec<_>>(),
                        "cluster": c.name, "kubernetesVersion": c.kubernetes_version.to_string(),
                        "controlPlanes": c.control_planes().count(),
                        "workers": c.nodes.len() - c.control_planes().count(),
                        "workerPools": c.worker_pools.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
                        "endpoint": c.endpoint.host_port(),
                    });
                    println!("{}", serde_json::to_string_pretty(&report)?);
                }
                Err(kubebake::error::Error::Spec(p)) => {
                    let report = serde_json::json!({
                        "valid": false, "problems": p.problems.iter().map(problem).collect::<Vec<_>>(),
                    });
                    println!("{}", serde_json::to_string_pretty(&report)?);
                    anyhow::bail!("{}: not a valid cluster spec", spec.display());
                }
                Err(e) => return Err(e.into()),
            }
        }
        cli::Command::Validate { spec, json: false } => {
            let loaded = kubebake::spec::load(&spec)?;
            print_warnings(&spec, &loaded.warnings);
            let c = &loaded.cluster;
            report!(
                "{}: valid: cluster {:?}, Kubernetes {}, {} control plane(s), {} worker(s), endpoint {}",
                spec.display(),
                c.name,
                c.kubernetes_version,
                c.control_planes().count(),
                c.nodes.len() - c.control_planes().count(),
                c.endpoint.host_port()
            );
        }
    }
    Ok(())
}

fn token(cmd: cli::TokenCommand) -> Result<()> {
    use kubebake::state::tokens;
    let now = time::OffsetDateTime::now_utc();
    let (new, join) = match cmd {
        cli::TokenCommand::List { state, json } => {
            let list = tokens::list(&state, now)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "tokens": list }))?);
                return Ok(());
            }
            println!("{:<8}  {:<22}  {:<22}  use", "id", "created", "expires");
            for t in &list {
                print_token_row(t);
            }
            return Ok(());
        }
        cli::TokenCommand::Create(new) => (new, None),
        cli::TokenCommand::Rotate { new, pool } => (new, Some(pool)),
    };
    let pool = join.clone().flatten();
    let use_ = match (&join, &pool) {
        (None, _) => tokens::Use::Spare,
        (Some(_), None) => tokens::Use::Join,
        (Some(_), Some(p)) => tokens::Use::Pool(p),
    };
    let ttl = match &new.ttl {
        Some(text) => {
            kubebake::fmt::duration::parse_go_duration(text).map_err(|m| anyhow::anyhow!("--ttl {text}: {m}"))?
        }
        // A pool's user-data outlives a day: its new token gets a pool's default lifetime.
        None if pool.is_some() => kubebake::spec::DEFAULT_POOL_TOKEN_TTL,
        None => std::time::Duration::from_secs(24 * 3600),
    };
    // Refused before anything changes: a Secret on a terminal would show the token.
    let to_terminal = new.out.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    if to_terminal {
        anyhow::bail!(
            "the bootstrap-token Secret holds the token: pipe it (| kubectl apply -f -) or write it with -o FILE"
        );
    }
    if let Some(parent) = new.out.as_deref().and_then(|p| p.parent()).filter(|p| !p.as_os_str().is_empty()) {
        anyhow::ensure!(parent.is_dir(), "-o: {} is not a directory", parent.display());
    }
    let (t, expires) = tokens::create(&new.state, ttl, now, use_)?;
    let secret = tokens::secret_manifest(&t, expires.as_deref(), pool.as_deref());
    match &new.out {
        Some(path) => kubebake::files::write_file_atomic(path, secret.as_bytes(), 0o600)?,
        None => print!("{secret}"),
    }
    note!(
        "token {} created in {}, expires {}{}",
        t.id(),
        new.state.display(),
        expires.as_deref().unwrap_or("never"),
        match (&join, &pool) {
            (_, Some(p)) => format!("; worker pool {p}'s user-data carries it from the next bake on"),
            (Some(_), None) => "; joining nodes carry it from the next bake on".to_string(),
            (None, _) => String::new(),
        }
    );
    Ok(())
}

/// A Go duration, or whole days (`30d`), which is how certificate windows are spoken of.
fn parse_days(s: &str) -> std::result::Result<std::time::Duration, String> {
    match s.strip_suffix('d').map(str::parse::<u64>) {
        Some(Ok(days)) => Ok(std::time::Duration::from_secs(days * 86_400)),
        _ => kubebake::fmt::duration::parse_go_duration(s),
    }
}

/// Where a state certificate lands: the node (or the operator's OUT/admin.conf) and path.
fn node_file(name: &str) -> (String, String) {
    if let Some((node, rest)) = name.strip_prefix("nodes/").and_then(|r| r.split_once('/')) {
        let path = match rest.split_once('/') {
            Some(("pki", "kubelet-serving")) => "/var/lib/kubelet/pki/kubelet.crt".to_string(),
            Some(("pki", leaf)) => format!("/etc/kubernetes/pki/{leaf}.crt"),
            Some(("kubeconfig", k)) => format!("/etc/kubernetes/{k}.conf"),
            _ => rest.to_string(),
        };
        return (node.to_string(), path);
    }
    ("operator".to_string(), "OUT/admin.conf".to_string())
}

fn print_token_row(t: &kubebake::state::tokens::TokenInfo) {
    let expires = match (&t.expires, t.initial) {
        (Some(e), _) => format!("{e}{}", if t.expired { " (expired)" } else { "" }),
        (None, true) => "tokenTTL after init".into(),
        (None, false) => "never".into(),
    };
    let mut uses = Vec::new();
    if t.initial {
        uses.push("kubeadm init");
    }
    let pool = t.pool.as_ref().map(|p| format!("pool {p}"));
    match (&pool, t.joins) {
        (None, true) => uses.push("joining nodes"),
        (Some(p), true) => uses.push(p.as_str()),
        _ => {}
    }
    println!(
        "{:<8}  {:<22}  {:<22}  {}",
        t.id,
        t.created.as_deref().unwrap_or("-"),
        expires,
        if uses.is_empty() { "-".into() } else { uses.join(", ") }
    );
}

/// kubebake.1 and kubebake-<command>[-<sub>].1 for every command, as git names its pages.
fn man_pages(cmd: &clap::Command, name: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let cmd = cmd.clone().name(name.to_string());
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    let mut pages = vec![(name.to_string(), page)];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        pages.extend(man_pages(sub, &format!("{name}-{}", sub.get_name()))?);
    }
    Ok(pages)
}

fn report_json(r: &Report, show_token: bool) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = r
        .nodes
        .iter()
        .map(|n| {
            serde_json::json!({
                "name": n.name, "role": n.role.name(), "files": n.files, "bytes": n.bytes,
                "format": n.format.name(), "userData": n.raw, "delivered": n.delivered,
            })
        })
        .collect();
    let mut join = serde_json::json!({
        "endpoint": r.cluster.endpoint.host_port(),
        "tokenId": r.token.id(),
        "caCertHash": r.ca_cert_hash,
        "command": r.join_command(show_token),
    });
    if show_token {
        join["token"] = r.token.expose().into();
    }
    let pools: Vec<serde_json::Value> = r
        .pools
        .iter()
        .map(|p| {
            let n = &p.user_data;
            serde_json::json!({
                "name": p.pool, "dir": n.name, "role": n.role.name(), "files": n.files, "bytes": n.bytes,
                "format": n.format.name(), "userData": n.raw, "delivered": n.delivered,
                "tokenId": p.token_id, "tokenFromInit": p.token_from_init, "tokenExpires": p.token_expires,
            })
        })
        .collect();
    serde_json::json!({
        "spec": r.spec, "state": r.state_dir, "stateChanges": r.state_changes, "out": r.out,
        "operatorKubeconfig": r.out.join(bake::OPERATOR_KUBECONFIG), "nodes": nodes, "pools": pools, "join": join,
        "warnings": r.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
    })
}

fn print_warnings(spec: &std::path::Path, warnings: &[Problem]) {
    for w in warnings {
        note!("warning: {}", w.located(spec));
    }
}

fn print_report(r: &Report, show_token: bool) {
    print_warnings(&r.spec, &r.warnings);
    println!("state  {}", r.state_dir.display());
    if r.state_changes.is_empty() {
        println!("       reused as it was");
    }
    for c in &r.state_changes {
        println!("       {c}");
    }
    println!("out    {}", r.out.display());
    let pools = r.pools.iter().map(|p| &p.user_data);
    let width = r.nodes.iter().chain(pools.clone()).map(|n| n.name.len()).max().unwrap_or(4).max(4);
    println!(
        "       {:<width$}  {:<13}  {:>5}  {:>9}  {:<10}  {:>9}  {:>9}",
        "node", "role", "files", "bytes", "format", "user-data", "delivered"
    );
    for (n, role) in r.nodes.iter().map(|n| (n, n.role.name())).chain(pools.map(|n| (n, "worker pool"))) {
        println!(
            "       {:<width$}  {:<13}  {:>5}  {:>9}  {:<10}  {:>9}  {:>9}",
            n.name,
            role,
            n.files,
            n.bytes,
            n.format.name(),
            n.raw,
            n.delivered
        );
    }
    println!("       {} (operator kubeconfig)", r.out.join(bake::OPERATOR_KUBECONFIG).display());
    println!("join   {}", r.join_command(show_token));
}
