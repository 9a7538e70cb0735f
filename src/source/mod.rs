//! Where service definitions come from: the service files of a revision,
//! read and validated. (The git fetch and cache, and the webhook receiver,
//! live here too as they are built.)

pub mod files;

#[cfg(test)]
mod files_tests;
