//! Change windows (`spec.windows`), like Argo CD's sync windows: when a
//! planned promotion or a sync may run. What a window decides at a given
//! time is `plan::windows`.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One window: from each time `schedule` fires, for `duration`, in
/// `timeZone`. When any allow window applies to an action, the action runs
/// only inside one; inside a deny window it never runs (deny wins). A
/// planned promotion or sync that falls outside waits, and says until when;
/// the annotation `sitehapair.io/window-override` lets one through now.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChangeWindow {
    /// Allow or Deny.
    pub kind: WindowKind,
    /// When the window opens: five cron fields, minute hour day-of-month
    /// month day-of-week (0 or 7 is Sunday; names such as Mon-Fri work),
    /// such as `0 22 * * Sat`. Day-of-month and day-of-week may not both be
    /// restricted.
    #[schemars(length(min = 9, max = 200))]
    pub schedule: String,
    /// How long it stays open (Go duration, such as 4h).
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1m') && duration(self) <= duration('168h')").message("duration must be between 1m and 168h, such as 4h"))]
    pub duration: String,
    /// The IANA time zone the schedule is read in, such as Europe/Berlin
    /// (default UTC).
    #[serde(default = "utc")]
    pub time_zone: String,
    /// What the window rules: Sync, Promotion, or both (the default).
    #[serde(default = "both")]
    #[schemars(length(min = 1, max = 2))]
    pub applies_to: Vec<WindowAction>,
    /// Hold automatic failover too. Off by default: a failover after the
    /// active site fails is never held by a window unless this is set.
    #[serde(default)]
    pub hold_failover: bool,
}

/// Whether a window lets actions run or keeps them out.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    Allow,
    Deny,
}

/// What a window rules.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowAction {
    /// Writes of a revision to the sites.
    Sync,
    /// The start of a promotion (a running one finishes).
    Promotion,
}

fn utc() -> String {
    "UTC".to_string()
}

fn both() -> Vec<WindowAction> {
    vec![WindowAction::Sync, WindowAction::Promotion]
}
