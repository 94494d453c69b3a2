//! One module per subcommand: each takes its options and returns a report (see
//! [`report`]), which the binary shows as text or JSON. Where the work lives in a lower
//! layer (`bundle`, `image`, `renew`, `token`), the module here is the thin adapter that
//! reads the flags, calls it and builds the report.

pub mod bake;
#[cfg(feature = "bundle")]
pub mod bundle;
pub mod check;
pub mod completions;
pub mod image;
pub mod images;
pub mod init;
pub mod inspect;
pub mod man;
pub mod renew;
pub mod report;
pub mod retire;
pub mod token;
pub mod validate;

/// A window as flags give it: a Go duration, or whole days (`30d`), which is how
/// certificate windows are spoken of. Errors name the flag and what it was given.
pub fn days(flag: &str, text: &str) -> crate::Result<std::time::Duration> {
    parse_days(text).map_err(|m| crate::Error::Usage(format!("{flag} {text}: {m}")))
}

fn parse_days(s: &str) -> std::result::Result<std::time::Duration, String> {
    match s.strip_suffix('d').map(str::parse::<u64>) {
        Some(Ok(days)) => Ok(std::time::Duration::from_secs(days * 86_400)),
        _ => crate::fmt::duration::parse_go_duration(s),
    }
}
