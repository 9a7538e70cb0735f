//! `sitehapair ack`: acknowledge a pair's hold after a failed verification
//! (status.hold): the annotation sitehapair.io/acknowledge-hold names the
//! hold (its `since`), and -by records who, from the API server's
//! SelfSubjectReview. The operator clears the hold and says who in a
//! HoldAcknowledged Event.

use std::process::ExitCode;

use clap::Args;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::promote::{CLI_FIELD_MANAGER, pair_api, who_am_i};
use crate::api::{ANNOTATION_ACKNOWLEDGE_HOLD, ANNOTATION_ACKNOWLEDGE_HOLD_BY};

#[derive(Args, Debug)]
pub struct AckArgs {
    /// The SiteHAPair.
    pub name: String,
    /// Namespace of the pair (default: the kubeconfig's).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
}

/// Exit 0: the acknowledgement is written; 1: the pair is not held.
pub async fn ack(args: AckArgs) -> anyhow::Result<ExitCode> {
    let (client, api, ns) = pair_api(args.namespace).await?;
    let pair = api.get(&args.name).await?;
    let Some(hold) = pair.status.as_ref().and_then(|s| s.hold.as_ref()) else {
        println!("{ns}/{}: not held; nothing to acknowledge", args.name);
        return Ok(ExitCode::FAILURE);
    };
    let by = who_am_i(&client).await;
    let patch = json!({"metadata": {"annotations": {
        ANNOTATION_ACKNOWLEDGE_HOLD: hold.since,
        ANNOTATION_ACKNOWLEDGE_HOLD_BY: format!("{} by {by}", hold.since),
    }}});
    let pp = PatchParams {
        field_manager: Some(CLI_FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    api.patch(&args.name, &pp, &Patch::Merge(&patch)).await?;
    println!(
        "{ns}/{}: acknowledged the hold since {} ({}) as {by}; automatic failover and revert run again once the operator clears it",
        args.name, hold.since, hold.message
    );
    Ok(ExitCode::SUCCESS)
}
