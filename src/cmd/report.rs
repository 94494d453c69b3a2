//! What every command hands back: a report the binary shows as text or JSON, in one place
//! (`main.rs`). A command computes; it prints nothing itself, so `--quiet` and `--json`
//! are decided once, for all of them.

use serde::Serialize;

/// What a command did, to be shown.
pub trait Report {
    /// Notes for stderr whichever the format, before the report: what the user should know
    /// about the input or the run (a spec's warnings, a replaced pin). Left out with --quiet.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// The report as text, line by line, each line marked for what it is (see [`Text`]).
    fn text(&self, out: &mut Text);

    /// The report as JSON, for a command given `--json`; None when there is none to show
    /// (a command without that flag, or a report that is only its failure).
    fn json(&self) -> Option<serde_json::Result<String>> {
        None
    }

    /// Why the command fails once its report is shown (`check` found problems, `validate
    /// --json` an invalid spec): the error line, printed after the report.
    fn failure(&self) -> Option<String> {
        None
    }
}

/// JSON as every command prints it: pretty, and in the order the value serialises in.
pub fn json(value: &impl Serialize) -> Option<serde_json::Result<String>> {
    Some(serde_json::to_string_pretty(value))
}

/// Where a piece of text goes, and whether `--quiet` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// What the command produces (a list, a table, a Secret, a script): stdout, always.
    Data,
    /// A report about what was done: stdout, left out with --quiet.
    Report,
    /// A note or warning: stderr, left out with --quiet.
    Note,
}

/// A report's text, in the order it is shown; newlines are part of each piece.
#[derive(Debug, Default)]
pub struct Text {
    /// Each piece of text, with where it goes.
    pub pieces: Vec<(Kind, String)>,
}

impl Text {
    /// A line of what the command produces.
    pub fn data(&mut self, line: impl std::fmt::Display) {
        self.pieces.push((Kind::Data, format!("{line}\n")));
    }

    /// What the command produces, as it is (no newline added).
    pub fn raw(&mut self, text: impl Into<String>) {
        self.pieces.push((Kind::Data, text.into()));
    }

    /// A line of the report.
    pub fn report(&mut self, line: impl std::fmt::Display) {
        self.pieces.push((Kind::Report, format!("{line}\n")));
    }

    /// A line for stderr.
    pub fn note(&mut self, line: impl std::fmt::Display) {
        self.pieces.push((Kind::Note, format!("{line}\n")));
    }
}

/// How the binary shows reports: the global `--quiet` and the command's `--json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shown {
    /// `--json`: the report as JSON on stdout instead of text.
    pub json: bool,
    /// `--quiet`: reports and notes are left out; what a command produces is not.
    pub quiet: bool,
}

impl Shown {
    /// Whether a long command may draw progress on stderr: only for a person watching
    /// (stderr a terminal), and not when they asked for quiet or for JSON.
    pub fn progress(self) -> bool {
        !self.quiet && !self.json && std::io::IsTerminal::is_terminal(&std::io::stderr())
    }
}
