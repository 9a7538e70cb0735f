//! Where service definitions come from: the git fetch (git2) and the shared
//! cache per repository and ref, reading and validating the service files of
//! a revision, ssh host key checks, and the webhook receiver's matching.

pub mod cache;
pub mod files;
pub mod git;
pub mod known_hosts;
pub mod masked;
pub mod overlays;
pub mod verify;
pub mod webhook;

#[cfg(test)]
mod files_tests;
#[cfg(test)]
mod overlays_tests;
#[cfg(test)]
mod verify_tests;
