//! Errors of one reconcile, each naming the pair and what failed: a read,
//! a step of the trip (see `trip::error`), the finalizer, the clean-up.

use thiserror::Error;

use super::trip::error::TripError;

#[derive(Debug, Error)]
pub enum Error {
    #[error("reading {namespace}/{name}: {source}")]
    Read {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("{namespace}/{name}: {source}")]
    Trip {
        namespace: String,
        name: String,
        #[source]
        source: TripError,
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
    #[error("removing the traffic objects of a deleted pair: {0}")]
    Cleanup(#[from] crate::traffic::TrafficError),
}

impl Error {
    /// Short reason used as the metrics label.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            Error::Read { .. } => "Read",
            Error::Trip { source, .. } => source.metric_reason(),
            Error::Finalizer { .. } => "Finalizer",
            Error::NotLeader { .. } => "NotLeader",
            Error::NoNamespace => "NoNamespace",
            Error::Cleanup(_) => "Traffic",
        }
    }

    /// A status write found the pair moved since it was read.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Trip { source, .. } if source.is_conflict())
    }
}
