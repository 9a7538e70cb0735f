//! Leader election on a coordination.k8s.io Lease, with kube-lease-manager
//! (the one leader-election crate on kube 5; it renews with server-side
//! apply). Only the holder reconciles and writes.

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// Seconds a holder's lock stays valid after its last renewal.
    pub duration_s: u64,
    /// Seconds before expiry at which the holder renews.
    pub grace_s: u64,
    /// Seconds after its last renewal at which the holder stops writing,
    /// less than `duration_s` (client-go's renew deadline).
    pub renew_deadline_s: u64,
}

/// Start competing for the Lease. The receiver says whether this replica
/// holds it; dropping it releases the Lease and ends the task.
pub async fn elect(
    client: Client,
    cfg: &LeaseConfig,
) -> Result<
    (
        watch::Receiver<bool>,
        JoinHandle<Result<LeaseManager, LeaseManagerError>>,
    ),
    LeaseManagerError,
> {
    let manager = LeaseManagerBuilder::new(client, cfg.name.clone())
        .with_namespace(cfg.namespace.clone())
        .with_identity(cfg.identity.clone())
        .with_duration(cfg.duration_s)
        .with_grace(cfg.grace_s)
        .with_field_manager(format!("sitehapair-lease-{}", cfg.identity))
        .build()
        .await?;
    Ok(manager.watch().await)
}

/// The instant after which this replica must not start a write, shared by
/// the Lease guard and every reconcile. None: no deadline known (leader
/// election off, or not leading).
#[derive(Clone, Debug, Default)]
pub struct LeaderDeadline(std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>);

impl LeaderDeadline {
    pub fn set(&self, at: Option<std::time::Instant>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// Time left before the deadline (None: no deadline).
    pub fn remaining(&self) -> Option<std::time::Duration> {
        let at = *self.0.lock().unwrap_or_else(|p| p.into_inner());
        at.map(|at| at.saturating_duration_since(std::time::Instant::now()))
    }

    /// True while the deadline (if any) lies ahead.
    pub fn open(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|at| std::time::Instant::now() < at)
    }
}

/// The shortest time a write to a site is started with: below it, the
/// write waits for the next term (or the next trip).
pub const MIN_WRITE_BUDGET: std::time::Duration = std::time::Duration::from_millis(300);

/// How long one write may take so that it lands before the renew deadline:
/// `wanted`, cut to the time `left` (None: no leader election, no bound).
/// None when too little is left to start it. Pure.
pub fn write_budget(
    left: Option<std::time::Duration>,
    wanted: std::time::Duration,
) -> Option<std::time::Duration> {
    match left {
        None => Some(wanted),
        Some(left) if left < MIN_WRITE_BUDGET => None,
        Some(left) => Some(wanted.min(left)),
    }
}

/// How often the guard reads the Lease.
const GUARD_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// How long this replica may still write at `now`: until its last renewal
/// plus the renew deadline, which is shorter than the Lease duration, so a
/// leader stops before anyone else may take the Lease. None when it may not
/// (another holder, no renewal, or past the deadline). Pure.
pub fn remaining_hold(
    holder: Option<&str>,
    me: &str,
    renew_time: Option<jiff::Timestamp>,
    renew_deadline_s: u64,
    now: jiff::Timestamp,
) -> Option<std::time::Duration> {
    if holder != Some(me) {
        return None;
    }
    let renewed = renew_time?;
    let duration = jiff::SignedDuration::from_secs(i64::try_from(renew_deadline_s).ok()?);
    let expires = renewed.checked_add(duration).ok()?;
    let left = expires.duration_since(now);
    if left.is_positive() {
        std::time::Duration::try_from(left).ok()
    } else {
        None
    }
}

/// Watch the Lease apart from kube-lease-manager, whose channel keeps
/// saying `true` while renewals fail. Keeps `until` (what
/// `Context::is_leader` checks before every write) at the last renewal plus
/// the renew deadline, and resolves when this replica can no longer show a
/// valid hold: another holder, or the deadline passed by the local clock
/// (also when the API server cannot be reached to renew it).
pub async fn hold_lost(client: Client, cfg: LeaseConfig, until: LeaderDeadline) {
    use k8s_openapi::api::coordination::v1::Lease;
    let api: kube::Api<Lease> = kube::Api::namespaced(client, &cfg.namespace);
    // Acquired just now means renewed just now.
    let mut valid_until =
        Some(std::time::Instant::now() + std::time::Duration::from_secs(cfg.renew_deadline_s));
    loop {
        match api.get(&cfg.name).await {
            Ok(lease) => {
                let spec = lease.spec.unwrap_or_default();
                let left = remaining_hold(
                    spec.holder_identity.as_deref(),
                    &cfg.identity,
                    spec.renew_time.map(|t| t.0),
                    cfg.renew_deadline_s,
                    jiff::Timestamp::now(),
                );
                match left {
                    Some(left) => {
                        let at = std::time::Instant::now() + left;
                        valid_until = Some(at);
                        until.set(Some(at));
                    }
                    // Freshly acquired leases can be read before the first
                    // renewal lands; only a different holder is final.
                    None if spec.holder_identity.as_deref() != Some(cfg.identity.as_str())
                        && spec.holder_identity.is_some() =>
                    {
                        tracing::warn!(holder = ?spec.holder_identity, "the Lease names another holder");
                        return;
                    }
                    None => {}
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the leader Lease"),
        }
        if valid_until.is_some_and(|at| std::time::Instant::now() >= at) {
            tracing::warn!("the leader Lease was not renewed before the renew deadline");
            return;
        }
        // At least four looks per renew deadline, so that one slow read
        // does not end a healthy term.
        let period = GUARD_PERIOD
            .min(std::time::Duration::from_millis(cfg.renew_deadline_s * 250))
            .max(std::time::Duration::from_millis(250));
        tokio::time::sleep(period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::{remaining_hold, write_budget};
    use jiff::Timestamp;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn hold_is_valid_until_renewal_plus_the_renew_deadline() {
        let left = remaining_hold(
            Some("a"),
            "a",
            Some(ts("2026-01-01T00:00:00Z")),
            10,
            ts("2026-01-01T00:00:07Z"),
        );
        assert_eq!(left, Some(std::time::Duration::from_secs(3)));
    }

    #[test]
    fn expired_or_foreign_hold_is_not_valid() {
        let renewed = Some(ts("2026-01-01T00:00:00Z"));
        assert_eq!(
            remaining_hold(Some("a"), "a", renewed, 10, ts("2026-01-01T00:00:10Z")),
            None
        );
        assert_eq!(
            remaining_hold(Some("b"), "a", renewed, 10, ts("2026-01-01T00:00:01Z")),
            None
        );
        assert_eq!(
            remaining_hold(None, "a", renewed, 10, ts("2026-01-01T00:00:01Z")),
            None
        );
        assert_eq!(
            remaining_hold(Some("a"), "a", None, 10, ts("2026-01-01T00:00:01Z")),
            None
        );
    }

    #[test]
    fn a_write_to_a_site_is_cut_to_the_time_left_before_the_renew_deadline() {
        use std::time::Duration;
        let ten = Duration::from_secs(10);
        assert_eq!(write_budget(None, ten), Some(ten));
        assert_eq!(write_budget(Some(Duration::from_secs(30)), ten), Some(ten));
        assert_eq!(
            write_budget(Some(Duration::from_secs(3)), ten),
            Some(Duration::from_secs(3))
        );
        assert_eq!(write_budget(Some(Duration::from_millis(100)), ten), None);
    }
}
