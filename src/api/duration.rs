//! Go-style durations ("10s", "1m30s", "1h") as written in the spec, parsed
//! with kube's `metav1.Duration` implementation.

use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("field {field}: {value:?} is not a duration such as 10s, 1m or 1h30m")]
pub struct DurationError {
    pub field: &'static str,
    pub value: String,
}

/// Parse a non-negative Go duration; `field` names the spec field in the error.
pub fn parse(field: &'static str, value: &str) -> Result<Duration, DurationError> {
    let err = || DurationError {
        field,
        value: value.to_string(),
    };
    let parsed: kube::core::Duration = value.parse().map_err(|_| err())?;
    if parsed.is_negative() {
        return Err(err());
    }
    Ok(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("f", "10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("f", "1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("f", "1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("f", "250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn rejects_garbage_and_negatives() {
        assert!(parse("spec.x", "ten seconds").is_err());
        assert!(parse("spec.x", "-5s").is_err());
        let e = parse("spec.x", "5 s").unwrap_err();
        assert!(e.to_string().contains("spec.x"));
    }
}
