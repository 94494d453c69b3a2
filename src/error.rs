//! The library's one error type. Every variant names what was being done and on what,
//! so the CLI can print a single line a person can act on.

use std::fmt;
use std::path::PathBuf;

/// A problem found in a cluster spec: the field path (`spec.nodes[1].address`), where in
/// the file it is when known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, as `spec.nodes[1].address`; empty for a problem with the whole file.
    pub path: String,
    /// 1-based line of the field's value, when known.
    pub line: Option<usize>,
    /// 1-based column of the field's value, when known.
    pub column: Option<usize>,
    /// What is wrong and, where it helps, what is allowed.
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
    /// The spec file, as the user named it.
    pub file: PathBuf,
    /// All of them, so that one run shows every fix the spec needs.
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

/// Why a command failed, printed as one line (a spec's problems one per line after it).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec (or an OS profile it names) is not valid; every problem is listed.
    #[error("{0}")]
    Spec(Problems),

    /// A file or directory could not be read, written or created.
    // The cause is part of the message (one line for people), not a separate source, so
    // that printing the error chain does not repeat it.
    #[error("{action} {path}: {error}")]
    Io {
        /// What was being done, as a verb: `reading`, `creating`, `writing`.
        action: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },

    /// The state directory cannot be used as it is; nothing was changed.
    #[error("state {path}: {message}")]
    State {
        /// The state file or directory at fault.
        path: PathBuf,
        /// What is wrong with it and what to do.
        message: String,
    },

    /// A certificate or key could not be created or read.
    #[error("{what}: {message}")]
    Crypto {
        /// The certificate, key or step, e.g. `etcd/ca` or `generating a key`.
        what: String,
        /// Why it failed.
        message: String,
    },

    /// The output directory cannot be written where it was asked to be.
    #[error("output {path}: {message}")]
    Output {
        /// The output path given.
        path: PathBuf,
        /// Why it cannot be used.
        message: String,
    },

    /// A download or registry pull failed, or what it fetched did not match its checksum.
    #[error("{what}: {message}")]
    Fetch {
        /// The URL, image or file being fetched.
        what: String,
        /// Why it failed.
        message: String,
    },

    /// What was asked cannot be done as asked (a flag, a value, a template); the message says why.
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

/// The library's result: [`Error`] unless said otherwise.
pub type Result<T, E = Error> = std::result::Result<T, E>;
