//! `kubebake token create|rotate|list STATE`: the adapter to [`crate::state::join_tokens`],
//! which keeps the tokens; this reads the flags, writes the Secret and reports.

use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

use crate::cmd::report::{self, Report, Text};
use crate::error::{Error, Result};
use crate::state::join_tokens::{self, TokenInfo};

/// Which token a new one replaces from the next bake on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaces {
    /// None (`token create`).
    Nothing,
    /// The one joining nodes carry (`token rotate`).
    Join,
    /// This worker pool's (`token rotate --pool NAME`).
    Pool(String),
}

/// `kubebake token create|rotate`'s flags, as given.
pub struct NewToken {
    /// The state directory.
    pub state: PathBuf,
    /// `--ttl`, as given (a Go duration).
    pub ttl: Option<String>,
    /// `-o FILE` for the Secret; stdout when None.
    pub out: Option<PathBuf>,
    /// What the new token replaces.
    pub replaces: Replaces,
    /// Whether stdout is a terminal: a Secret is not shown on one.
    pub stdout_is_terminal: bool,
    /// When the token is created.
    pub now: OffsetDateTime,
}

/// A token created.
pub struct Created {
    /// The bootstrap-token Secret, for stdout; None when written to `-o FILE`.
    pub secret: Option<String>,
    /// The token's id (never its secret).
    pub id: String,
    /// The state it was added to.
    pub state: PathBuf,
    /// When it expires (RFC 3339); None: never, or as kubeadm init decides.
    pub expires: Option<String>,
    /// What it replaces.
    pub replaces: Replaces,
}

/// How long the new token lives: `--ttl`, else a pool's default lifetime for a pool's
/// token (its user-data outlives a day), else a day.
fn ttl(new: &NewToken) -> Result<Duration> {
    match &new.ttl {
        Some(text) => {
            crate::fmt::duration::parse_go_duration(text).map_err(|m| Error::Usage(format!("--ttl {text}: {m}")))
        }
        None if matches!(new.replaces, Replaces::Pool(_)) => Ok(crate::spec::DEFAULT_POOL_TOKEN_TTL),
        None => Ok(Duration::from_secs(24 * 3600)),
    }
}

/// Adds a token to the state and writes its Secret to `-o FILE`, or hands it back for
/// stdout. Refused before anything changes when the Secret would go to a terminal.
pub fn create(new: NewToken) -> Result<Created> {
    let use_ = match &new.replaces {
        Replaces::Nothing => join_tokens::Use::Spare,
        Replaces::Join => join_tokens::Use::Join,
        Replaces::Pool(p) => join_tokens::Use::Pool(p),
    };
    let ttl = ttl(&new)?;
    if new.out.is_none() && new.stdout_is_terminal {
        return Err(Error::Usage(
            "the bootstrap-token Secret holds the token: pipe it (| kubectl apply -f -) or write it with -o FILE"
                .into(),
        ));
    }
    if let Some(parent) = new.out.as_deref().and_then(|p| p.parent()).filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(Error::Usage(format!("-o: {} is not a directory", parent.display())));
    }
    let (t, expires) = join_tokens::create(&new.state, ttl, new.now, use_)?;
    let pool = match &new.replaces {
        Replaces::Pool(p) => Some(p.as_str()),
        _ => None,
    };
    let secret = join_tokens::secret_manifest(&t, expires.as_deref(), pool);
    let secret = match &new.out {
        Some(path) => {
            crate::files::write_file_atomic(path, secret.as_bytes(), 0o600)?;
            None
        }
        None => Some(secret),
    };
    Ok(Created { secret, id: t.id().to_string(), state: new.state, expires, replaces: new.replaces })
}

impl Report for Created {
    fn text(&self, out: &mut Text) {
        if let Some(secret) = &self.secret {
            out.raw(secret.as_str());
        }
        out.note(format_args!(
            "token {} created in {}, expires {}{}",
            self.id,
            self.state.display(),
            self.expires.as_deref().unwrap_or("never"),
            match &self.replaces {
                Replaces::Pool(p) => format!("; worker pool {p}'s user-data carries it from the next bake on"),
                Replaces::Join => "; joining nodes carry it from the next bake on".to_string(),
                Replaces::Nothing => String::new(),
            }
        ));
    }
}

/// The state's tokens, as `token list` shows them.
pub struct Tokens(pub Vec<TokenInfo>);

/// Lists the state's tokens; never a secret.
pub fn list(state: &std::path::Path, now: OffsetDateTime) -> Result<Tokens> {
    join_tokens::list(state, now).map(Tokens)
}

impl Report for Tokens {
    fn text(&self, out: &mut Text) {
        out.data(format_args!("{:<8}  {:<22}  {:<22}  use", "id", "created", "expires"));
        for t in &self.0 {
            out.data(row(t));
        }
    }

    fn json(&self) -> Option<serde_json::Result<String>> {
        report::json(&serde_json::json!({ "tokens": self.0 }))
    }
}

/// A token's line in a table (`token list`, `inspect`): id, created, expires, use.
pub fn row(t: &TokenInfo) -> String {
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
    format!(
        "{:<8}  {:<22}  {:<22}  {}",
        t.id,
        t.created.as_deref().unwrap_or("-"),
        expires,
        if uses.is_empty() { "-".into() } else { uses.join(", ") }
    )
}
