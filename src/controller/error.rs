//! Errors of one reconcile, each naming the object and what failed.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("writing status of {namespace}/{name}: {source}")]
    StatusWrite {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "status of {namespace}/{name} moved since it was read (resourceVersion {resource_version}); re-reading and planning again"
    )]
    Conflict {
        namespace: String,
        name: String,
        resource_version: String,
    },
    #[error("finalizer on {namespace}/{name}: {message}")]
    Finalizer {
        namespace: String,
        name: String,
        message: String,
    },
    #[error("{namespace}/{name}: not the leader any more; nothing written")]
    NotLeader { namespace: String, name: String },
    #[error("object has no namespace")]
    NoNamespace,
    #[error("automatic failover of {namespace}/{name}: {source}")]
    Failover {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Traffic(#[from] crate::traffic::TrafficError),
}

impl Error {
    /// Short reason used as the metrics label.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            Error::StatusWrite { .. } => "StatusWrite",
            Error::Conflict { .. } => "Conflict",
            Error::Finalizer { .. } => "Finalizer",
            Error::NotLeader { .. } => "NotLeader",
            Error::NoNamespace => "NoNamespace",
            Error::Traffic(_) => "Traffic",
            Error::Failover { .. } => "Failover",
        }
    }
}
