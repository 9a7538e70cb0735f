//! The source snapshot of a trip, through the shared cache (a URL the
//! operator does not read is refused before any Secret is touched), and
//! what a refused credential means for the Secret cache.

use std::time::Duration;

use super::observe::Observed;
use crate::api::{GitSource, SiteContact};
use crate::controller::Context;
use crate::controller::secrets::TripSecrets;
use crate::controller::site_drivers::{check_source_url, source_key};
use crate::source::cache::{Snapshot, SourceError};
use crate::source::git::GitError;
use crate::source::overlays::check_overlay_sites;
use crate::source::verify::{TrustedKeys, Verified};

/// Why the source gave no snapshot.
pub(super) enum Unread {
    /// The operator does not read this source at all.
    Refused(String),
    /// Reading it failed.
    Failed(String),
}

/// Snapshot through the shared cache, as a message on failure. A URL the
/// operator does not read is refused before any Secret or repository is
/// touched.
pub(super) async fn fetch(
    ctx: &Context,
    secrets: &TripSecrets<'_>,
    git: &GitSource,
    interval: Option<Duration>,
    refresh: Option<std::time::SystemTime>,
) -> Result<Snapshot, Unread> {
    check_source_url(&git.url, ctx.allow_file_sources)
        .map_err(|e| Unread::Refused(e.to_string()))?;
    let (key, creds) = source_key(secrets, git).await.map_err(Unread::Failed)?;
    // A bad interval is a spec problem, and a pair with one is not synced.
    let interval = interval.unwrap_or(Duration::from_secs(60));
    let snapshot = ctx
        .source
        .snapshot(&key, creds, &git.path, interval, refresh)
        .await;
    if let (Err(SourceError::Git(GitError::Auth { .. } | GitError::HostKey { .. })), Some(s)) =
        (&snapshot, &git.secret_ref)
    {
        // Refused credentials: read the Secret afresh next time.
        secrets.store().invalidate(secrets.namespace(), &s.name);
    }
    snapshot.map_err(|e| Unread::Failed(e.to_string()))
}

/// Check the revision's signature against the keys the pair trusts
/// (spec.source.git.verify); a Secret that cannot be read or holds no
/// usable key refuses every revision, naming the Secret.
pub(super) async fn verify(
    secrets: &TripSecrets<'_>,
    git: &GitSource,
    snapshot: Result<Snapshot, Unread>,
) -> Result<Snapshot, Unread> {
    let mut s = snapshot?;
    let Some(v) = &git.verify else {
        return Ok(s);
    };
    let name = &v.secret_ref.name;
    let keys = match secrets.data(name).await {
        Err(e) => Err(e.to_string()),
        Ok(data) => {
            let values: Vec<(&str, &str)> = data
                .iter()
                .filter_map(|(k, b)| Some((k.as_str(), std::str::from_utf8(b).ok()?)))
                .collect();
            let secret = format!("{}/{name}", secrets.namespace());
            TrustedKeys::parse(&secret, values).map_err(|e| e.to_string())
        }
    };
    s.verified = match keys.map(|k| k.verify(&s.revision, s.signature.as_deref())) {
        Ok(Ok(signer)) => Verified::SignedBy(signer),
        Ok(Err(e)) => Verified::Refused(e.to_string()),
        Err(e) => Verified::Refused(format!("commit {}: {e}", s.revision)),
    };
    Ok(s)
}

/// A revision with an overlay for a site this pair does not have is
/// invalid for the pair (a typo must not leave a site on the base set):
/// its services become that error, so no site is written.
pub(super) fn refuse_unknown_overlay_sites(
    snapshot: Result<Snapshot, Unread>,
    spec: &crate::api::SiteHAPairSpec,
) -> Result<Snapshot, Unread> {
    let mut s = snapshot?;
    if let Ok(set) = s.services.as_ref() {
        let sites: Vec<&str> = spec.sites.iter().map(|s| s.name.as_str()).collect();
        if let Err(e) = check_overlay_sites(set, &sites) {
            s.services = std::sync::Arc::new(Err(e));
        }
    }
    Ok(s)
}

/// A site that refused its credentials gets them read afresh next time
/// (the watch may be behind a rotation).
pub(super) fn forget_refused_credentials(
    secrets: &TripSecrets<'_>,
    spec: &crate::api::SiteHAPairSpec,
    observed: &[Observed],
) {
    for o in observed {
        if o.report.contact != SiteContact::CredentialsRefused {
            continue;
        }
        if let Some(site) = spec.sites.iter().find(|s| s.name == o.spec_name) {
            let store = secrets.store();
            store.invalidate(secrets.namespace(), &site.credentials_secret_ref.name);
            if let Some(ca) = &site.ca_secret_ref {
                store.invalidate(secrets.namespace(), &ca.name);
            }
        }
    }
}

/// A wall-clock time as Kubernetes writes it: RFC 3339, whole seconds, UTC.
pub(super) fn rfc3339(t: std::time::SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(crate::plan::time::stamp)
        .unwrap_or_default()
}
