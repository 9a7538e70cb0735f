//! The imperative shell: kube-runtime wiring, the shared context, leader
//! election, the HTTP endpoints, events and status writes.

pub mod active_change;
pub mod context;
pub mod error;
pub mod failover;
pub mod hook_http;
pub mod hook_job;
pub mod hooks;
pub mod leader;
pub mod listings;
pub mod pair_key;
pub mod pair_memory;
pub mod promote;
pub mod push_trigger;
pub mod reconcile;
pub mod role_records;
pub mod run;
pub mod secrets;
pub mod server;
pub mod site_drivers;
pub mod status_write;
pub mod sync;
pub mod traffic_memo;
pub mod webhook;

pub use context::Context;
pub use error::Error;
pub use pair_key::PairKey;
pub use run::{RunConfig, run};
