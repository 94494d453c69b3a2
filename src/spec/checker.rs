//! Collects the problems of one input file (the spec, or an OS profile it names), each
//! with its field path and where in that file the field is.

use std::path::Path;

use super::Locator;
use crate::error::Problem;

pub(crate) struct Checker<'a> {
    locator: &'a Locator,
    /// The file when it is not the spec itself (an OS profile): its problems say so.
    file: Option<&'a Path>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl<'a> Checker<'a> {
    pub fn new(locator: &'a Locator, file: Option<&'a Path>) -> Self {
        Checker { locator, file, problems: Vec::new(), warnings: Vec::new() }
    }

    fn problem(&self, path: &str, message: String) -> Problem {
        let pos = self.locator.find(path);
        Problem {
            path: path.to_string(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            message,
            file: self.file.map(Path::to_path_buf),
        }
    }

    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        let p = self.problem(path, message.into());
        self.problems.push(p);
    }

    pub fn warn(&mut self, path: &str, message: impl Into<String>) {
        let p = self.problem(path, message.into());
        self.warnings.push(p);
    }

    /// Records the error and yields `None` so the caller can carry on with a placeholder.
    pub fn check<T>(&mut self, path: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|m| self.error(path, m)).ok()
    }

    /// Records a grammar's refusal; true when the value follows it.
    pub fn rule(&mut self, path: &str, r: Result<(), String>) -> bool {
        self.check(path, r).is_some()
    }
}
