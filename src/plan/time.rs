//! Time in the core: one type (`Timestamp`, read once per trip by the
//! shell and passed down) and one formatter for what status holds.

pub use jiff::Timestamp;

/// RFC 3339 in whole seconds, UTC: how status writes every time.
pub fn stamp(t: Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
}

/// A time as status wrote it, if it is one.
pub fn parse(s: &str) -> Option<Timestamp> {
    s.trim().parse().ok()
}
