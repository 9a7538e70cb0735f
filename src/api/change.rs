//! status.activeChange: the standby-first change of the active site under
//! spec.sync.strategy ShiftTraffic, step by step, so that a killed operator
//! resumes where it stood.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The change of the active site under way (ShiftTraffic).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ActiveChangeStatus {
    /// The site being changed: the active site.
    pub site: String,
    /// The passive site that takes traffic meanwhile.
    pub standby: String,
    /// The revision the active site is being brought to.
    pub revision: String,
    /// TrafficToStandby, ChangingActive, ActiveFailedCheck or TrafficBack.
    #[schemars(with = "String")]
    pub step: ChangeStep,
    /// When the change started (RFC 3339).
    pub started_at: String,
    /// Traffic was on the standby by then; the active is changed once
    /// spec.sync.drainTime has passed since (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drained_at: Option<String>,
    /// Why the change waits, or what failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The steps of the standby-first change. A step this version does not
/// know (written by a newer operator) is kept as `Unknown` and refused.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ChangeStep {
    /// Traffic is being moved to the standby; the active is untouched.
    #[default]
    TrafficToStandby,
    /// Traffic is on the standby; the active is being changed and checked.
    ChangingActive,
    /// The active failed its health check after the change: traffic stays
    /// on the standby; the change is tried again every trip.
    ActiveFailedCheck,
    /// The active passed its check: traffic is moving back to it.
    TrafficBack,
    Unknown(String),
}

impl ChangeStep {
    pub fn as_str(&self) -> &str {
        match self {
            ChangeStep::TrafficToStandby => "TrafficToStandby",
            ChangeStep::ChangingActive => "ChangingActive",
            ChangeStep::ActiveFailedCheck => "ActiveFailedCheck",
            ChangeStep::TrafficBack => "TrafficBack",
            ChangeStep::Unknown(s) => s,
        }
    }

    /// Does this step hold client traffic on the standby?
    pub fn traffic_on_standby(&self) -> bool {
        matches!(
            self,
            ChangeStep::TrafficToStandby
                | ChangeStep::ChangingActive
                | ChangeStep::ActiveFailedCheck
        )
    }
}

impl From<String> for ChangeStep {
    fn from(s: String) -> Self {
        match s.as_str() {
            "TrafficToStandby" => ChangeStep::TrafficToStandby,
            "ChangingActive" => ChangeStep::ChangingActive,
            "ActiveFailedCheck" => ChangeStep::ActiveFailedCheck,
            "TrafficBack" => ChangeStep::TrafficBack,
            _ => ChangeStep::Unknown(s),
        }
    }
}

impl From<ChangeStep> for String {
    fn from(p: ChangeStep) -> Self {
        p.as_str().to_string()
    }
}

impl ActiveChangeStatus {
    /// Where this change holds traffic: the standby until the step moving
    /// it back; an unknown step holds it where status says.
    pub fn holds_traffic_on(&self) -> Option<&str> {
        self.step
            .traffic_on_standby()
            .then_some(self.standby.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_step_round_trips_as_unknown() {
        let s: ChangeStep = serde_json::from_str("\"Draining\"").expect("step");
        assert_eq!(s, ChangeStep::Unknown("Draining".into()));
        assert_eq!(serde_json::to_string(&s).expect("json"), "\"Draining\"");
        let known: ChangeStep = serde_json::from_str("\"ChangingActive\"").expect("step");
        assert_eq!(known, ChangeStep::ChangingActive);
    }
}
