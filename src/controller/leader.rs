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
