//! The functional core: pure decisions from what was observed to what to do.
//! Nothing here performs I/O or reads the clock; time is an argument.

pub mod active_change;
pub mod claims;
pub mod conditions;
pub mod diff;
pub mod digest;
pub mod event;
pub mod failover;
pub mod hooks;
pub mod monitoring;
pub mod overlay;
pub mod parity;
pub mod preflight_warnings;
pub mod prerequisites;
pub mod prerequisites_report;
pub mod promotion;
pub mod promotion_commit;
mod promotion_contact;
pub mod promotion_input;
mod promotion_phases;
mod promotion_preflight;
pub mod promotion_status;
pub mod promotion_types;
pub mod prune;
mod reason_enum;
pub mod rehearsal;
pub mod rehearsal_judge;
pub mod schedule;
pub mod shard;
pub mod spec_check;
pub mod status_start;
pub mod strays;
pub mod sync;
pub mod sync_status;
pub mod time;
pub mod traffic_check;
pub mod verify;
pub mod windows;

#[cfg(test)]
mod diff_props;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod model_world;
#[cfg(test)]
mod model_world_after;
#[cfg(test)]
mod overlay_props;
#[cfg(test)]
mod promotion_window_tests;
