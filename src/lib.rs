//! sitehapair: a Kubernetes operator for active/passive pairs of sibling
//! sites. `api` holds the resource, `plan` the pure decisions, `controller`
//! the kube-runtime shell, `telemetry` logs and metrics, `cli` the commands.

pub mod api;
pub mod cli;
pub mod controller;
pub mod plan;
pub mod sites;
pub mod source;
pub mod telemetry;
pub mod traffic;

#[cfg(test)]
mod layout_tests;
