//! The key of one pair in this replica's memory: its namespace and name,
//! shown as `namespace/name` (as logs and metrics name a pair).

use std::fmt;

use kube::ResourceExt;

use crate::api::SiteHAPair;

/// A pair's namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PairKey {
    pub namespace: String,
    pub name: String,
}

impl PairKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of `pair` (an empty namespace when it has none).
    pub fn of(pair: &SiteHAPair) -> Self {
        Self::new(pair.namespace().unwrap_or_default(), pair.name_any())
    }

    /// The key shown as `namespace/name`, read back; None without a `/`.
    pub fn parse(shown: &str) -> Option<Self> {
        let (namespace, name) = shown.split_once('/')?;
        Some(Self::new(namespace, name))
    }
}

impl fmt::Display for PairKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::PairKey;

    #[test]
    fn a_key_is_shown_as_namespace_slash_name_and_read_back() {
        let key = PairKey::new("ns", "gis");
        assert_eq!(key.to_string(), "ns/gis");
        assert_eq!(PairKey::parse("ns/gis"), Some(key));
        assert_eq!(PairKey::parse("gis"), None);
        assert!(PairKey::new("a", "z") < PairKey::new("b", "a"));
    }
}
