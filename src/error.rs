//! The library's one error type. Every variant names what was being done and on what,
//! so the CLI can print a single line a person can act on.

use std::fmt;
use std::path::PathBuf;

/// A problem found in a cluster spec: the field path (`spec.nodes[1].address`), where in
/// the file it is when known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    /// The file the line and column are in when it is not the spec itself: an OS profile
    /// file the spec names is input too, and its problems point into it.
    pub file: Option<PathBuf>,
}

impl Problem {
    /// `FILE:line L column C: path: message`, FILE being the problem's own file or `spec`.
    pub fn located(&self, spec: &std::path::Path) -> String {
        format!("{}:{self}", self.file.as_deref().unwrap_or(spec).display())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l} column {c}: ")?,
            (Some(l), None) => write!(f, "line {l}: ")?,
            _ => {}
        }
        if self.path.is_empty() { write!(f, "{}", self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// Problems collected over a whole spec, reported together.
#[derive(Debug, Clone)]
pub struct Problems {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{} is not a valid cluster spec ({} problem{})",
            self.file.display(),
            n,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {}", p.located(&self.file))?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Spec(Problems),

    // The cause is part of the message (one line for people), not a separate source, so
    // that printing the error chain does not repeat it.
    #[error("{action} {path}: {error}")]
    Io { action: &'static str, path: PathBuf, error: std::io::Error },

    /// The state directory cannot be used as it is; nothing was changed.
    #[error("state {path}: {message}")]
    State { path: PathBuf, message: String },

    /// A certificate or key could not be created or read.
    #[error("{what}: {message}")]
    Crypto { what: String, message: String },

    #[error("output {path}: {message}")]
    Output { path: PathBuf, message: String },

    /// A download or registry pull failed, or what it fetched did not match its checksum.
    #[error("{what}: {message}")]
    Fetch { what: String, message: String },

    #[error("{0}")]
    Usage(String),

    /// The process is ending (a signal, or a panic elsewhere) and has removed what it had
    /// staged; nothing more is written.
    #[error("interrupted; nothing half-written was left behind")]
    Interrupted,
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), error: source }
    }

    pub(crate) fn state(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::State { path: path.into(), message: message.into() }
    }

    pub(crate) fn crypto(what: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::Crypto { what: what.into(), message: message.to_string() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
