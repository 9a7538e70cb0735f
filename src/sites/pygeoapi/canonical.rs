//! The one form in which pygeoapi resources are compared, on both sides
//! (git's file and what `GET /admin/config/resources` answers): what the
//! server changes on its own is taken out, found by writing resources to a
//! real pygeoapi 0.24 and reading them back.
//!
//! - Temporal extents: the admin API parses `extents.temporal.begin` and
//!   `end` into datetimes, writes them to its YAML file in UTC to the
//!   second (a time without an offset taken as UTC, a fraction of a
//!   second dropped), and answers them in Python's `isoformat()`:
//!   `2000-10-30T18:24:39Z` comes back as `2000-10-30T18:24:39+00:00`, a
//!   date `2000-10-30` as `2000-10-30T00:00:00+00:00`,
//!   `2001-01-01T10:00:00.5+02:00` as `2001-01-01T08:00:00+00:00`. Both
//!   sides are brought to that instant, spelt `...Z`.
//! - Every answer of the admin API escapes `<` and `>` in strings as
//!   `&lt;` and `&gt;` (`pygeoapi.util.to_json`): both sides are unescaped.
//! - Numbers: a whole number written as `180.0` in one place and `180` in
//!   another is one number.
//!
//! Key order never matters (definitions are compared as JSON values).
//! Pure, so it is unit-tested.

use serde_json::{Map, Number, Value};

/// `resource` in the comparison form.
pub fn canonical(resource: &Value) -> Value {
    let mut v = plain(resource);
    if let Some(temporal) = v
        .get_mut("extents")
        .and_then(|e| e.get_mut("temporal"))
        .and_then(Value::as_object_mut)
    {
        for key in ["begin", "end"] {
            if let Some(Value::String(s)) = temporal.get_mut(key) {
                *s = datetime(s);
            }
        }
    }
    v
}

/// Strings unescaped and whole numbers made integers, all the way down.
fn plain(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("&lt;", "<").replace("&gt;", ">")),
        Value::Number(n) => Value::Number(whole(n)),
        Value::Array(a) => Value::Array(a.iter().map(plain).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), plain(v)))
                .collect::<Map<String, Value>>(),
        ),
        other => other.clone(),
    }
}

/// A float with no fraction that fits an i64, as an integer.
fn whole(n: &Number) -> Number {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => Number::from(f as i64),
        _ => n.clone(),
    }
}

/// One spelling of a datetime as the admin API stores it: the instant in
/// UTC to the second (`...Z`); a date and time without an offset, or a
/// date alone (its midnight), taken as UTC; anything else as written.
pub fn datetime(s: &str) -> String {
    let t = s.trim();
    let instant = t.parse::<jiff::Timestamp>().ok().or_else(|| {
        let dt = t
            .parse::<jiff::civil::DateTime>()
            .ok()
            .or_else(|| Some(t.parse::<jiff::civil::Date>().ok()?.at(0, 0, 0, 0)))?;
        dt.to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    });
    match instant {
        Some(ts) => jiff::Timestamp::from_second(ts.as_second())
            .map_or_else(|_| s.to_string(), |t| t.to_string()),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lakes(begin: &str, end: Value, title: &str, max: Value) -> Value {
        json!({
            "type": "collection",
            "title": title,
            "extents": {
                "spatial": {"bbox": [-180, -90, max, 90]},
                "temporal": {"begin": begin, "end": end}
            },
            "providers": [{"type": "feature", "name": "GeoJSON", "data": "lakes.geojson", "id_field": "id"}]
        })
    }

    #[test]
    fn a_temporal_extent_read_back_in_isoformat_is_the_one_written() {
        let git = lakes("2000-10-30T18:24:39Z", Value::Null, "Lakes", json!(180));
        let live = lakes(
            "2000-10-30T18:24:39+00:00",
            Value::Null,
            "Lakes",
            json!(180),
        );
        assert_eq!(canonical(&git), canonical(&live));
        // As pygeoapi 0.24 answered them: a date and a naive time taken
        // as UTC, an offset moved to UTC, a fraction of a second dropped.
        let git = lakes(
            "2000-10-30",
            json!("2001-01-01T10:00:00.5+02:00"),
            "Lakes",
            json!(180),
        );
        let live = lakes(
            "2000-10-30T00:00:00+00:00",
            json!("2001-01-01T08:00:00+00:00"),
            "Lakes",
            json!(180),
        );
        assert_eq!(canonical(&git), canonical(&live));
        assert_eq!(datetime("2000-10-30T00:00:00"), "2000-10-30T00:00:00Z");
    }

    #[test]
    fn a_different_instant_is_still_a_change() {
        let a = lakes("2000-10-30T18:24:39Z", Value::Null, "Lakes", json!(180));
        let b = lakes(
            "2000-10-30T18:24:40+00:00",
            Value::Null,
            "Lakes",
            json!(180),
        );
        assert_ne!(canonical(&a), canonical(&b));
    }

    #[test]
    fn escaped_angle_brackets_and_whole_floats_are_what_was_written() {
        let git = lakes("2000-01-01", Value::Null, "Lakes <b>big</b>", json!(180));
        let live = lakes(
            "2000-01-01",
            Value::Null,
            "Lakes &lt;b&gt;big&lt;/b&gt;",
            json!(180.0),
        );
        assert_eq!(canonical(&git), canonical(&live));
        let other = lakes("2000-01-01", Value::Null, "Lakes <b>big</b>", json!(180.5));
        assert_ne!(canonical(&git), canonical(&other));
    }

    #[test]
    fn text_that_is_not_a_datetime_is_left_as_written() {
        assert_eq!(datetime("soon"), "soon");
        assert_eq!(datetime("2000-10-30T18:24:39Z"), "2000-10-30T18:24:39Z");
    }
}
