//! Logs (tracing, text or JSON) and Prometheus metrics (prometheus-client).

pub mod heap;
pub mod logging;
pub mod metrics;
pub mod pairs;

pub use metrics::Metrics;
