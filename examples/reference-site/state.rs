//! What one site holds (mode, epoch, service definitions) and how it is
//! kept: in memory, and optionally in a state file written atomically
//! (temporary file, fsync, rename). Definitions are held as their compact
//! JSON text, not as parsed values, so that thousands of virtual sites with
//! a hundred services each fit in little memory; the `GET /services` body
//! and the state file are both built by joining those texts.
//!
//! The entity tag of `GET /services` is a hash of the body it names
//! (SHA-256, the first 128 bits in hex, quoted: a strong validator), worked
//! out when first asked for after a change and kept until the next one. Equal
//! service sets have equal tags, also across restarts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// One site's state.
#[derive(Debug, Clone)]
pub struct SiteState {
    pub mode: String,
    pub epoch: i64,
    /// Service name to its definition as compact JSON text.
    services: BTreeMap<String, Box<str>>,
    /// The entity tag of the current service set; None after a change.
    etag: Option<String>,
}

impl Default for SiteState {
    fn default() -> Self {
        Self {
            mode: "passive".into(),
            epoch: 0,
            services: BTreeMap::new(),
            etag: None,
        }
    }
}

/// The state file as read (also the format written before definitions were
/// kept as text: pretty or compact, the same keys).
#[derive(Deserialize)]
struct FileState {
    mode: String,
    epoch: i64,
    services: Map<String, Value>,
}

/// JSON text of a string (quotes and escapes).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

impl SiteState {
    pub fn contains(&self, name: &str) -> bool {
        self.services.contains_key(name)
    }

    #[cfg(test)]
    pub fn count(&self) -> usize {
        self.services.len()
    }

    /// Create or replace a definition; returns the text it replaced.
    pub fn insert(&mut self, name: String, def: &Value) -> Option<Box<str>> {
        let text = def.to_string().into_boxed_str();
        let old = self.services.insert(name, text);
        self.etag = None;
        old
    }

    /// Remove a definition; returns its text.
    pub fn remove(&mut self, name: &str) -> Option<Box<str>> {
        let old = self.services.remove(name);
        if old.is_some() {
            self.etag = None;
        }
        old
    }

    /// Put back what `insert` or `remove` returned (a write that could
    /// not be persisted is undone).
    pub fn restore(&mut self, name: String, old: Option<Box<str>>) {
        match old {
            Some(text) => {
                self.services.insert(name, text);
            }
            None => {
                self.services.remove(&name);
            }
        }
        self.etag = None;
    }

    /// `{"<name>": <definition>, ...}`, names in order.
    fn services_json(&self) -> String {
        let size: usize = self
            .services
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum();
        let mut out = String::with_capacity(size + 2);
        out.push('{');
        for (i, (name, def)) in self.services.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&quoted(name));
            out.push(':');
            out.push_str(def);
        }
        out.push('}');
        out
    }

    /// The body of `GET /services`: `{"services": {...}}`.
    pub fn services_body(&self) -> String {
        format!("{{\"services\":{}}}", self.services_json())
    }

    /// The entity tag of the current service set, worked out from `body`
    /// (this state's `services_body`) when not known yet.
    pub fn etag_of(&mut self, body: &str) -> String {
        if let Some(tag) = &self.etag {
            return tag.clone();
        }
        let digest = Sha256::digest(body.as_bytes());
        let tag = format!("\"{}\"", hex::encode(&digest[..16]));
        self.etag = Some(tag.clone());
        tag
    }

    /// The entity tag when it is known without building the body.
    pub fn known_etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// The state file's text.
    fn file_text(&self) -> String {
        format!(
            "{{\"mode\":{},\"epoch\":{},\"services\":{}}}\n",
            quoted(&self.mode),
            self.epoch,
            self.services_json()
        )
    }
}

/// Read a state file; an absent file is a fresh passive site at epoch 0.
pub async fn load(path: &Path) -> std::io::Result<SiteState> {
    match tokio::fs::read(path).await {
        Ok(bytes) => {
            let file: FileState = serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            Ok(SiteState {
                mode: file.mode,
                epoch: file.epoch,
                services: file
                    .services
                    .into_iter()
                    .map(|(k, v)| (k, v.to_string().into_boxed_str()))
                    .collect(),
                etag: None,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SiteState::default()),
        Err(e) => Err(e),
    }
}

/// Write the state atomically: a temporary file beside it, fsync, rename.
/// Without a file (a virtual site kept in memory) there is nothing to do.
pub async fn persist(path: Option<&PathBuf>, state: &SiteState) -> std::io::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let tmp = path.with_extension("tmp");
    let mut f = tokio::fs::File::create(&tmp).await?;
    f.write_all(state.file_text().as_bytes()).await?;
    f.sync_all().await?;
    drop(f);
    tokio::fs::rename(&tmp, path).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_body_and_the_file_read_back_as_what_was_put() {
        let mut st = SiteState::default();
        st.insert("roads".into(), &json!({"type": "MapServer", "v": 1}));
        st.insert("odd \"name\"".into(), &json!({"v": [1, 2.5, null]}));
        let body: Value = serde_json::from_str(&st.services_body()).expect("body is JSON");
        assert_eq!(
            body,
            json!({"services": {"roads": {"type": "MapServer", "v": 1}, "odd \"name\"": {"v": [1, 2.5, null]}}})
        );
        let file: FileState = serde_json::from_str(&st.file_text()).expect("file is JSON");
        assert_eq!((file.mode.as_str(), file.epoch), ("passive", 0));
        assert_eq!(file.services.len(), 2);
    }

    #[test]
    fn the_tag_follows_the_content() {
        let mut st = SiteState::default();
        let empty = st.etag_of(&st.services_body());
        assert!(empty.starts_with('"') && empty.ends_with('"') && empty.len() == 34);
        st.insert("roads".into(), &json!({"v": 1}));
        assert_eq!(st.known_etag(), None, "a change forgets the tag");
        let one = st.etag_of(&st.services_body());
        assert_ne!(one, empty);
        // The same definition again: the same content, the same tag.
        st.insert("roads".into(), &json!({"v": 1}));
        assert_eq!(st.etag_of(&st.services_body()), one);
        st.insert("roads".into(), &json!({"v": 2}));
        let two = st.etag_of(&st.services_body());
        assert_ne!(two, one);
        let old = st.remove("roads");
        assert_eq!(st.etag_of(&st.services_body()), empty);
        st.restore("roads".into(), old);
        assert_eq!(st.etag_of(&st.services_body()), two);
    }
}
