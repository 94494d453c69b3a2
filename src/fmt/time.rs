//! Times as Kubernetes writes them.

use ::time::{OffsetDateTime, UtcOffset};

/// RFC 3339 in UTC to the second (`2027-01-15T08:00:00Z`), as Kubernetes writes timestamps.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(rfc3339(t), "2027-01-15T08:00:00Z");
    }
}
