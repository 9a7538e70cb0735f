//! Which pair manages a site, pure: a site (its admin URL) named by two
//! pairs belongs to the pair created first (then the lower namespace/name);
//! the other pair leaves it alone and says which pair holds it. Two
//! operators' worth of promotions on one site would make it active twice.

/// One pair's claim on its sites.
#[derive(Debug, Clone)]
pub struct PairSites<'a> {
    /// namespace/name.
    pub key: &'a str,
    /// metadata.creationTimestamp (RFC 3339, UTC, as the API server writes it).
    pub created: &'a str,
    /// (site name, adminUrl).
    pub sites: Vec<(&'a str, &'a str)>,
}

/// An admin URL as compared: scheme and host lowercased, no trailing slash.
pub fn normalize(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            format!(
                "{}://{}{path}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        }
        None => url.to_string(),
    }
}

/// Every pair's claims, by normalized admin URL: built once from all
/// pairs (the shell rebuilds it only when a pair is added, removed or its
/// spec changes), then each reconcile looks its own sites up. With N pairs
/// a lookup is O(sites), where scanning every pair per reconcile made the
/// pairs' steady state O(N²).
#[derive(Debug, Default)]
pub struct ClaimIndex {
    /// Normalized admin URL → (created, key) of every pair naming it, sorted.
    by_url: std::collections::HashMap<String, Vec<(String, String)>>,
}

impl ClaimIndex {
    pub fn build(pairs: &[PairSites<'_>]) -> Self {
        let mut by_url: std::collections::HashMap<String, Vec<(String, String)>> =
            std::collections::HashMap::new();
        for p in pairs {
            for (_, url) in &p.sites {
                let claimants = by_url.entry(normalize(url)).or_default();
                let claim = (p.created.to_string(), p.key.to_string());
                if !claimants.contains(&claim) {
                    claimants.push(claim);
                }
            }
        }
        for claimants in by_url.values_mut() {
            claimants.sort();
        }
        Self { by_url }
    }

    /// The sites of `me` an earlier pair already manages, as messages naming it.
    pub fn claimed_elsewhere(&self, me: &PairSites<'_>) -> Vec<String> {
        let mut out = Vec::new();
        for (site, url) in &me.sites {
            let n = normalize(url);
            let first = self.by_url.get(&n).and_then(|claimants| {
                claimants
                    .iter()
                    .find(|(c, k)| k != me.key && (c.as_str(), k.as_str()) < (me.created, me.key))
            });
            if let Some((_, key)) = first {
                out.push(format!(
                    "site {site} ({n}) is already managed by pair {key}; this pair leaves it alone: remove it here, or from that pair"
                ));
            }
        }
        out
    }
}

/// The sites of `me` an earlier pair among `others` already manages, as
/// messages naming it (an index of `others` built for one lookup).
pub fn claimed_elsewhere(me: &PairSites<'_>, others: &[PairSites<'_>]) -> Vec<String> {
    ClaimIndex::build(others).claimed_elsewhere(me)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair<'a>(key: &'a str, created: &'a str, sites: &[(&'a str, &'a str)]) -> PairSites<'a> {
        PairSites {
            key,
            created,
            sites: sites.to_vec(),
        }
    }

    #[test]
    fn the_older_pair_keeps_a_shared_site_and_the_newer_names_it() {
        let old = pair(
            "gis/a",
            "2026-01-01T00:00:00Z",
            &[("east", "https://East.example:6443/admin/")],
        );
        let new = pair(
            "gis/b",
            "2026-02-01T00:00:00Z",
            &[
                ("e", "https://east.example:6443/admin"),
                ("w", "https://w.example"),
            ],
        );
        let all = [old.clone(), new.clone()];
        assert!(claimed_elsewhere(&old, &all).is_empty());
        let c = claimed_elsewhere(&new, &all);
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(
            c[0].contains("site e") && c[0].contains("pair gis/a"),
            "{c:?}"
        );
    }

    #[test]
    fn pairs_created_in_the_same_second_are_ordered_by_name() {
        let a = pair("ns/a", "2026-01-01T00:00:00Z", &[("x", "http://s")]);
        let b = pair("ns/b", "2026-01-01T00:00:00Z", &[("y", "http://s/")]);
        let all = [a.clone(), b.clone()];
        assert!(claimed_elsewhere(&a, &all).is_empty());
        assert_eq!(claimed_elsewhere(&b, &all).len(), 1);
    }
}
