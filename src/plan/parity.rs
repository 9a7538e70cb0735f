//! Parity between the sites of a pair, pure: a standby must run the same
//! product version as the active and share its token key (or every token
//! one issues is refused by the other after a failover). From the status
//! rows (what each site last reported in `GET /info`): the `Parity`
//! condition, and the differences that block a promotion in preflight. A
//! site that did not report a value is unknown, never equal.

use crate::api::conditions::ConditionStatus;
use crate::api::{SiteHAPairStatus, SiteStatus};
use crate::plan::reason_enum::reason_enum;

reason_enum! {
    /// Whether the sites run one version and share one token key.
    ParityReason {
        Matched,
        VersionSkew,
        TokenKeyMismatch,
        VersionSkewAndTokenKeyMismatch,
        ParityUnknown,
    }
}

/// One site's reported values (None: not reported, or not yet seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reported<'a> {
    pub name: &'a str,
    pub version: Option<&'a str>,
    pub token_key: Option<&'a str>,
}

/// The `Parity` condition: status, reason, message.
pub fn parity_condition(sites: &[Reported<'_>]) -> (ConditionStatus, ParityReason, String) {
    let mut differs = Vec::new();
    let mut reasons = Vec::new();
    for (what, token_key, reason) in [
        ("version", false, ParityReason::VersionSkew),
        (
            "token key fingerprint",
            true,
            ParityReason::TokenKeyMismatch,
        ),
    ] {
        let known: Vec<(&str, &str)> = sites
            .iter()
            .filter_map(|s| Some((s.name, if token_key { s.token_key? } else { s.version? })))
            .collect();
        if known.windows(2).any(|w| w[0].1 != w[1].1) {
            let list: Vec<String> = known.iter().map(|(n, v)| format!("{n} {v}")).collect();
            differs.push(format!("{what} differs: {}", list.join(", ")));
            reasons.push(reason);
        }
    }
    if !differs.is_empty() {
        let reason = if reasons.len() > 1 {
            ParityReason::VersionSkewAndTokenKeyMismatch
        } else {
            reasons[0]
        };
        return (ConditionStatus::False, reason, differs.join("; "));
    }
    let unknown: Vec<String> = sites
        .iter()
        .filter_map(|s| {
            let missing: Vec<&str> = [
                ("version", s.version),
                ("token key fingerprint", s.token_key),
            ]
            .into_iter()
            .filter(|(_, v)| v.is_none())
            .map(|(w, _)| w)
            .collect();
            (!missing.is_empty())
                .then(|| format!("{} reports no {}", s.name, missing.join(" and no ")))
        })
        .collect();
    if !unknown.is_empty() {
        return (
            ConditionStatus::Unknown,
            ParityReason::ParityUnknown,
            unknown.join("; "),
        );
    }
    let version = sites.first().and_then(|s| s.version).unwrap_or_default();
    (
        ConditionStatus::True,
        ParityReason::Matched,
        format!(
            "all {} sites run version {version} and share one token key",
            sites.len()
        ),
    )
}

/// What differs between the active and a promotion target, each known on
/// both sides (unknown values do not block; the condition shows them).
pub fn differences(active: &Reported<'_>, target: &Reported<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(a), Some(t)) = (active.version, target.version)
        && a != t
    {
        out.push(format!(
            "site {} runs version {t}, the active {} runs {a}",
            target.name, active.name
        ));
    }
    if let (Some(a), Some(t)) = (active.token_key, target.token_key)
        && a != t
    {
        out.push(format!(
            "site {} has token key fingerprint {t}, the active {} has {a}: tokens one issues are refused by the other",
            target.name, active.name
        ));
    }
    out
}

/// Every site's reported values, from the status rows.
pub fn reported(status: &SiteHAPairStatus) -> Vec<Reported<'_>> {
    reported_rows(&status.sites)
}

/// Every site's reported values, from `rows`.
pub fn reported_rows(rows: &[SiteStatus]) -> Vec<Reported<'_>> {
    rows.iter()
        .map(|r| Reported {
            name: &r.name,
            version: r.version.as_deref(),
            token_key: r.token_key_fingerprint.as_deref(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site<'a>(name: &'a str, v: Option<&'a str>, k: Option<&'a str>) -> Reported<'a> {
        Reported {
            name,
            version: v,
            token_key: k,
        }
    }

    #[test]
    fn equal_sites_are_in_parity() {
        let (s, r, m) = parity_condition(&[
            site("east", Some("11.3"), Some("ab12")),
            site("west", Some("11.3"), Some("ab12")),
        ]);
        assert_eq!((s, r), (ConditionStatus::True, ParityReason::Matched));
        assert!(m.contains("11.3"), "{m}");
    }

    #[test]
    fn a_version_skew_and_a_different_key_are_both_named() {
        let (s, r, m) = parity_condition(&[
            site("east", Some("11.1"), Some("ab12")),
            site("west", Some("11.3"), Some("cd34")),
        ]);
        assert_eq!(
            (s, r),
            (
                ConditionStatus::False,
                ParityReason::VersionSkewAndTokenKeyMismatch
            )
        );
        assert!(
            m.contains("east 11.1, west 11.3") && m.contains("east ab12, west cd34"),
            "{m}"
        );
    }

    #[test]
    fn a_site_that_reports_no_fingerprint_is_unknown_not_equal() {
        let (s, r, m) = parity_condition(&[
            site("east", Some("11.3"), Some("ab12")),
            site("west", Some("11.3"), None),
        ]);
        assert_eq!(
            (s, r),
            (ConditionStatus::Unknown, ParityReason::ParityUnknown)
        );
        assert!(m.contains("west reports no token key fingerprint"), "{m}");
        // Unknown never hides a known difference.
        let (s, r, _) = parity_condition(&[
            site("east", Some("11.1"), None),
            site("west", Some("11.3"), None),
        ]);
        assert_eq!((s, r), (ConditionStatus::False, ParityReason::VersionSkew));
    }

    #[test]
    fn only_known_differences_block_a_target() {
        let active = site("east", Some("11.1"), Some("ab12"));
        assert!(differences(&active, &site("west", Some("11.1"), None)).is_empty());
        let d = differences(&active, &site("west", Some("11.3"), Some("cd34")));
        assert_eq!(d.len(), 2);
        assert!(
            d[0].contains("west runs version 11.3, the active east runs 11.1"),
            "{d:?}"
        );
    }
}
