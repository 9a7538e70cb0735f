//! Request parameters as ArcGIS Server reads them. Every Administrator API
//! call may carry its parameters in the query string, in a form-encoded body
//! (`application/x-www-form-urlencoded`), or both: the two lists are merged
//! with the query first, and the first value of a name wins (what a Java
//! servlet's `getParameter` does, which is what ArcGIS Server runs on).
//! Names are case-sensitive; the value of `f` is not.
//!
//! The response format `f` is documented on every page of the API as
//! `html | json | pjson`, default `html`, e.g.
//! <https://developers.arcgis.com/rest/enterprise-administration/server/services.htm>.

/// The response format asked for with `f`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    /// Pretty-printed JSON.
    Pjson,
    /// The documented default: a page for a person. The emulator answers a
    /// minimal HTML page holding the same JSON.
    Html,
}

/// The merged parameters of one request.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Merge the query string and a form body (either may be absent).
    pub fn parse(query: Option<&str>, body: Option<&str>) -> Self {
        let mut pairs = query.map(parse_urlencoded).unwrap_or_default();
        if let Some(b) = body {
            pairs.extend(parse_urlencoded(b));
        }
        Self { pairs }
    }

    /// The first value of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first non-empty value of `name`.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// The format asked for; anything but json/pjson is the HTML default.
    pub fn format(&self) -> Format {
        match self.get("f").map(|f| f.trim().to_ascii_lowercase()) {
            Some(f) if f == "json" => Format::Json,
            Some(f) if f == "pjson" => Format::Pjson,
            _ => Format::Html,
        }
    }

    /// A boolean parameter (`true`/`false`, any case); `None` when absent,
    /// `Some(Err(value))` when present but neither.
    pub fn boolean(&self, name: &str) -> Option<Result<bool, String>> {
        let v = self.non_empty(name)?;
        match v.trim().to_ascii_lowercase().as_str() {
            "true" => Some(Ok(true)),
            "false" => Some(Ok(false)),
            _ => Some(Err(v.to_string())),
        }
    }
}

/// `a=1&b=x+y&c=%7B%7D` into pairs, decoding `+` and `%XX`. Empty pieces
/// are skipped; a piece without `=` is a name with an empty value.
pub fn parse_urlencoded(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| match piece.split_once('=') {
            Some((k, v)) => (decode_component(k, true), decode_component(v, true)),
            None => (decode_component(piece, true), String::new()),
        })
        .collect()
}

/// Decode `%XX` escapes (and `+` as a space when `plus` is set, as in form
/// data but not in a path). Malformed escapes are kept as they are;
/// invalid UTF-8 becomes U+FFFD.
pub fn decode_component(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let hex = |c: u8| (c as char).to_digit(16);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
