//! Where the role of a site without a role of its own is kept (ArcGIS
//! Server, whose READ_ONLY site mode blocks publishing and so cannot stand
//! for passive; pygeoapi, which has no notion of a role at all): the role
//! and its fencing epoch live outside the site, in a record the operator
//! writes with optimistic concurrency (a ConfigMap in the pair's
//! namespace: `controller::role_records`). The record follows the same
//! rule as a contract site's `PUT /mode`: a write at an epoch older than
//! the record's is refused as fenced.

use std::fmt;
use std::sync::Mutex;

use futures::future::BoxFuture;

use crate::api::redact::{MAX_MESSAGE, trim};
use crate::sites::{Mode, ModeState, SiteError};

/// Why a role could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("the role record holds epoch {held}, newer than {asked}")]
    Fenced { held: i64, asked: i64 },
    #[error("the role record: {0}")]
    Store(String),
}

/// The role record of one site.
pub trait RoleStore: Send + Sync + fmt::Debug {
    /// The role; a site with no record is passive at epoch 0.
    fn read(&self) -> BoxFuture<'_, Result<ModeState, RoleError>>;
    /// Set the role at `epoch`; `Fenced` when the record holds a newer one.
    fn write(&self, mode: Mode, epoch: i64) -> BoxFuture<'_, Result<ModeState, RoleError>>;
}

/// The fencing rule, shared by every store: the state after asking for
/// `mode` at `epoch` when the record holds `held`.
pub fn fenced_write(held: ModeState, mode: Mode, epoch: i64) -> Result<ModeState, RoleError> {
    if epoch < held.epoch {
        return Err(RoleError::Fenced {
            held: held.epoch,
            asked: epoch,
        });
    }
    Ok(ModeState { mode, epoch })
}

/// A record in memory: for tests, and for commands that never change a role.
#[derive(Debug, Default)]
pub struct MemoryRoles(Mutex<Option<ModeState>>);

impl RoleStore for MemoryRoles {
    fn read(&self) -> BoxFuture<'_, Result<ModeState, RoleError>> {
        let held = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(PASSIVE_AT_ZERO);
        Box::pin(async move { Ok(held) })
    }

    fn write(&self, mode: Mode, epoch: i64) -> BoxFuture<'_, Result<ModeState, RoleError>> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let result = fenced_write(guard.unwrap_or(PASSIVE_AT_ZERO), mode, epoch);
        if let Ok(s) = result {
            *guard = Some(s);
        }
        Box::pin(async move { result })
    }
}

/// The error a failed role read or write is for `site`'s `call`: a newer
/// epoch in the record is fenced (as a contract site's 409); a record the
/// operator could not reach is in the cluster, not the site, so it is not
/// the site's silence: it is retried and shown (503), never forced.
pub fn role_error(site: &str, call: &str, e: RoleError) -> SiteError {
    match e {
        RoleError::Fenced { .. } => SiteError::Fenced {
            site: site.to_string(),
            call: call.to_string(),
            message: e.to_string(),
        },
        RoleError::Store(m) => SiteError::Status {
            site: site.to_string(),
            call: call.to_string(),
            status: 503,
            message: trim(&format!("the role record: {m}"), MAX_MESSAGE),
        },
    }
}

/// What a site with no record holds.
pub const PASSIVE_AT_ZERO: ModeState = ModeState {
    mode: Mode::Passive,
    epoch: 0,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_at_an_older_epoch_is_fenced_and_changes_nothing() {
        let r = MemoryRoles::default();
        assert_eq!(r.read().await, Ok(PASSIVE_AT_ZERO));
        r.write(Mode::Active, 3).await.expect("active at 3");
        assert_eq!(
            r.write(Mode::Active, 2).await,
            Err(RoleError::Fenced { held: 3, asked: 2 })
        );
        assert_eq!(
            r.read().await,
            Ok(ModeState {
                mode: Mode::Active,
                epoch: 3
            })
        );
        // The same epoch again is idempotent; a newer one demotes.
        r.write(Mode::Active, 3).await.expect("again");
        r.write(Mode::Passive, 4).await.expect("demoted");
        assert_eq!(
            r.read().await,
            Ok(ModeState {
                mode: Mode::Passive,
                epoch: 4
            })
        );
    }
}
