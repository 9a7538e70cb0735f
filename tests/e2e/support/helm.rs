//! helm, as the test bed's cached binary, run from the repository root
//! against a given kubeconfig with caches of its own.

use std::path::Path;
use std::process::{Command, Output};

use super::{repo_root, testbed};

/// `helm ARGS` against the API server of `kubeconfig`.
pub fn helm(args: &[&str], kubeconfig: &Path) -> Output {
    Command::new(testbed().bin.join("helm"))
        .args(args)
        .current_dir(repo_root())
        .env("KUBECONFIG", kubeconfig)
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("sitehapair-helm-cache"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("sitehapair-helm-config"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("sitehapair-helm-data"),
        )
        .output()
        .expect("run helm")
}
