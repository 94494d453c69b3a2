//! The `kubebake` binary: parses the command line, runs the command (the work is all in
//! the library's `kubebake::cmd`), shows the report it returns as text or JSON, and exits
//! 0, or 2 with the error on stderr.

#![warn(clippy::too_many_lines)]

mod cli;

use std::process::ExitCode;

use anyhow::Result;
use kubebake::cmd::{self, report::Kind, report::Report, report::Shown, report::Text};
use time::OffsetDateTime;

fn main() -> ExitCode {
    // `kubebake images SPEC | head -1`: a closed pipe ends the process quietly, as it does
    // any Unix filter, instead of a panic on the next print.
    // SAFETY: restoring a signal's default disposition at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Parsed first: help and usage errors end the process inside clap.
    let cli = cli::Cli::parse_args();
    // SIGINT, SIGTERM and SIGHUP remove what is staged (keys among it) before the process
    // dies of them (kubebake::files::cleanup): blocked here, before the first thread starts, so
    // that every thread inherits the mask and only the signal thread takes them.
    let signals = kubebake::files::cleanup::block_signals();
    signals.watch_in_background();
    // A panic aborts a release build with nothing unwound: remove what is staged first.
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report_panic(info);
        kubebake::files::cleanup::abandon_after_panic();
    }));
    let result = run(cli.command, cli.global.quiet);
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

/// Runs the command and shows its report. `quiet` is the global --quiet.
fn run(command: cli::Command, quiet: bool) -> Result<()> {
    use cli::Command as C;
    let how = |json| Shown { json, quiet };
    let now = OffsetDateTime::now_utc();
    match command {
        C::Bake(args) => {
            let json = args.json;
            bake(args, how(json))
        }
        C::Images { spec, json } => show(&cmd::images::images(&spec)?, how(json)),
        #[cfg(feature = "bundle")]
        C::Bundle { spec, out, arch, rewrite, pins, trust_origin, json } => {
            let progress = how(json).progress();
            let opts = cmd::bundle::Options { spec, out, arch, rewrite, pins, trust_origin, progress };
            show(&cmd::bundle::run(opts)?, how(json))
        }
        C::Image { spec, out, bundle, age_identity, templates, json } => {
            let opts = kubebake::deliver::node_image::Options { spec, out, bundle, age_identity, templates };
            show(&cmd::image::run(&opts)?, how(json))
        }
        C::Token(t) => token(t, quiet, now),
        C::Completions { shell } => {
            let mut cli = <cli::Cli as clap::CommandFactory>::command();
            show(&cmd::completions::run(shell, &mut cli), how(false))
        }
        C::Man { out } => show(&cmd::man::run(&<cli::Cli as clap::CommandFactory>::command(), &out)?, how(false)),
        C::Init { out, force, spec, templates } => {
            let target = cmd::init::Target { out, force, templates };
            show(&cmd::init::run(&spec.into_options(), target)?, how(false))
        }
        C::Retire { spec, node, drain_timeout, templates } => {
            let drain_timeout = kubebake::fmt::duration::parse_go_duration(&drain_timeout)
                .map_err(|m| kubebake::Error::Usage(format!("--drain-timeout {drain_timeout}: {m}")))?;
            show(&cmd::retire::run(&cmd::retire::Options { spec, node, drain_timeout, templates })?, how(false))
        }
        C::Renew { state, names, within, new_keys, json } => {
            let opts = cmd::renew::Options { state, names, within, new_keys, now };
            show(&cmd::renew::run(&opts)?, how(json))
        }
        C::Check { spec, out, state, templates, warn, json } => {
            let warn = cmd::days("--warn", &warn)?;
            let opts = cmd::check::Options { spec, out, state, templates, warn, now };
            show(&cmd::check::check(&opts)?, how(json))
        }
        C::Inspect { state, json } => show(&cmd::inspect::inspect(&state, now)?, how(json)),
        C::Validate { spec, json } => show(&cmd::validate::run(&spec, json)?, how(json)),
    }
}

/// `kubebake bake`.
fn bake(args: cli::BakeArgs, how: Shown) -> Result<()> {
    let cli::BakeArgs {
        spec,
        out,
        state,
        show_token,
        templates,
        platform,
        allow_clear_secrets,
        bundle,
        media,
        json: _,
    } = args;
    let platform = platform.as_deref().and_then(kubebake::deliver::Platform::by_name);
    let media = media.as_deref().and_then(kubebake::deliver::seed::MediaKind::parse);
    let progress = how.progress();
    let now = OffsetDateTime::now_utc();
    let options =
        cmd::bake::Options { spec, out, state, templates, platform, allow_clear_secrets, bundle, media, now, progress };
    show(&cmd::bake::run(&options, show_token)?, how)
}

/// `kubebake token create|rotate|list`.
fn token(command: cli::TokenCommand, quiet: bool, now: OffsetDateTime) -> Result<()> {
    use cmd::token::{NewToken, Replaces};
    let (new, replaces) = match command {
        cli::TokenCommand::List { state, json } => return show(&cmd::token::list(&state, now)?, Shown { json, quiet }),
        cli::TokenCommand::Create(new) => (new, Replaces::Nothing),
        cli::TokenCommand::Rotate { new, pool: None } => (new, Replaces::Join),
        cli::TokenCommand::Rotate { new, pool: Some(pool) } => (new, Replaces::Pool(pool)),
    };
    let stdout_is_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let cli::TokenNew { state, ttl, out } = new;
    let created = cmd::token::create(NewToken { state, ttl, out, replaces, stdout_is_terminal, now })?;
    show(&created, Shown { json: false, quiet })
}

/// Shows a report, the one place anything is printed: its notes (stderr), then the report
/// as JSON or as text, each piece where it goes unless --quiet leaves it out; then the
/// command fails if the report says so.
fn show(report: &impl Report, how: Shown) -> Result<()> {
    if !how.quiet {
        for note in report.notes() {
            eprintln!("{note}");
        }
    }
    if how.json {
        if let Some(json) = report.json() {
            println!("{}", json?);
        }
    } else {
        let mut text = Text::default();
        report.text(&mut text);
        for (kind, piece) in &text.pieces {
            match kind {
                Kind::Data => print!("{piece}"),
                Kind::Report if !how.quiet => print!("{piece}"),
                Kind::Note if !how.quiet => eprint!("{piece}"),
                Kind::Report | Kind::Note => {}
            }
        }
    }
    match report.failure() {
        Some(failure) => Err(anyhow::anyhow!("{failure}")),
        None => Ok(()),
    }
}
