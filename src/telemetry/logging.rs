//! Structured logging with `tracing`: text for people, JSON for machines.
//! The level comes from `RUST_LOG` (default `info`). The lease manager and
//! kube-runtime are held at `warn` unless `RUST_LOG` names them:
//! kube-runtime opens an info span for every reconcile, its fields
//! formatted whether or not a line is logged in it (about 2 % of a core at
//! 1,000 pairs at rest), and the operator's own lines name the pair.

use clap::ValueEnum;
use tracing_subscriber::{EnvFilter, fmt};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Targets held at `warn` unless the filter asked for names them.
const QUIET: [&str; 2] = ["kube_lease_manager", "kube_runtime"];

/// The filter for `asked` (the value of `RUST_LOG`, if set): `info` when
/// none, and every quiet target at `warn` that it does not name.
pub fn directives(asked: Option<&str>) -> String {
    let asked = asked
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .unwrap_or("info");
    let mut out = asked.to_string();
    for target in QUIET.iter().filter(|t| !asked.contains(*t)) {
        out.push_str(&format!(",{target}=warn"));
    }
    out
}

/// Install the global subscriber; call once at start-up.
pub fn init(format: LogFormat) {
    let asked = std::env::var("RUST_LOG").ok();
    let filter = EnvFilter::try_new(directives(asked.as_deref()))
        .unwrap_or_else(|_| EnvFilter::new(directives(None)));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn kube_runtime_and_the_lease_manager_stay_at_warn_unless_named() {
        assert_eq!(
            directives(None),
            "info,kube_lease_manager=warn,kube_runtime=warn"
        );
        assert_eq!(
            directives(Some("info")),
            "info,kube_lease_manager=warn,kube_runtime=warn"
        );
        assert_eq!(
            directives(Some("sitehapair=debug,info")),
            "sitehapair=debug,info,kube_lease_manager=warn,kube_runtime=warn"
        );
        // Asked for by name: left as asked.
        assert_eq!(
            directives(Some("info,kube_runtime=debug")),
            "info,kube_runtime=debug,kube_lease_manager=warn"
        );
    }
}
