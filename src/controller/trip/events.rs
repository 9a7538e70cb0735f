//! Publishing the Events a trip decided: through the shared recorder, or
//! created one by one when each carries its own news. A failure to publish
//! is logged, never fatal.

use kube::api::Api;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use tracing::warn;

use crate::api::SiteHAPair;
use crate::controller::Context;
use crate::plan::event::PlannedEvent;

/// Publish an Event. The shared recorder folds repeats of one reason into
/// a series and keeps the first note, so Events whose note is the news are
/// created one by one.
pub async fn publish(ctx: &Context, obj: &SiteHAPair, event: &PlannedEvent) {
    ctx.metrics.observe_event(event.reason);
    if event.is_unique() {
        if let Err(e) = create_event(ctx, obj, event).await {
            warn!(name = obj.name_any(), error = %e, reason = event.reason, "could not publish event");
        }
        return;
    }
    let ev = Event {
        type_: if event.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: event.reason.to_string(),
        note: Some(event.note.clone()),
        action: event.action.to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        warn!(name = obj.name_any(), error = %e, reason = event.reason, "could not publish event");
    }
}

/// Publish every Event of a trip, in order.
pub async fn publish_all(ctx: &Context, obj: &SiteHAPair, events: &[PlannedEvent]) {
    for event in events {
        publish(ctx, obj, event).await;
    }
}

/// Create one events.k8s.io Event about `obj`.
async fn create_event(
    ctx: &Context,
    obj: &SiteHAPair,
    event: &PlannedEvent,
) -> Result<(), kube::Error> {
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
    let namespace = obj.namespace().unwrap_or_default();
    // The Event's own time: when it is published (not a decision).
    let at = jiff::Timestamp::now();
    let ev = K8sEvent {
        metadata: ObjectMeta {
            // The name the Recorder also uses: object name and a nanosecond stamp.
            name: Some(format!("{}.{:x}", obj.name_any(), at.as_nanosecond())),
            namespace: Some(namespace.clone()),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(at)),
        action: Some(event.action.to_string()),
        reason: Some(event.reason.to_string()),
        note: Some(event.note.chars().take(1024).collect()),
        type_: Some(if event.warning { "Warning" } else { "Normal" }.to_string()),
        regarding: Some(obj.object_ref(&())),
        reporting_controller: Some("sitehapair-operator".to_string()),
        reporting_instance: Some(ctx.identity.clone()),
        ..K8sEvent::default()
    };
    let api: Api<K8sEvent> = Api::namespaced(ctx.client.clone(), &namespace);
    api.create(&kube::api::PostParams::default(), &ev).await?;
    Ok(())
}
