//! The imperative shell: kube-runtime wiring (`run`), the shared context,
//! leader election, the reconcile (`reconcile`) and its trip (`trip`: the
//! steps, the status journal, events, traffic), the sync's I/O (`sync`),
//! the site drivers and Secrets, hooks' calls and Jobs, the HTTP endpoints.

pub mod context;
pub mod error;
pub mod hook_http;
pub mod hook_job;
pub mod leader;
pub mod listings;
pub mod pair_key;
pub mod pair_memory;
pub mod push_trigger;
pub mod reconcile;
pub mod role_records;
pub mod run;
pub mod secrets;
pub mod server;
pub mod site_drivers;
pub mod sync;
pub mod traffic_endpoint;
pub mod traffic_memo;
pub mod trip;
pub mod webhook;

pub use context::Context;
pub use error::Error;
pub use pair_key::PairKey;
pub use run::{RunConfig, run};
