//! Default values of the optional spec fields, one function each, so serde
//! and the generated schema agree on them.

use super::spec::TrafficPort;

pub fn token_key() -> String {
    "token".to_string()
}
pub fn git_path() -> String {
    ".".to_string()
}
pub fn git_interval() -> String {
    "1m".to_string()
}
pub fn yes() -> bool {
    true
}
pub fn max_prune_fraction() -> i32 {
    50
}
pub fn settling_time() -> String {
    "0s".into()
}

pub fn contact_timeout() -> String {
    "30m".to_string()
}
pub fn failure_threshold() -> i32 {
    3
}
pub fn min_interval() -> String {
    "1h".to_string()
}
pub fn hook_attempts() -> i32 {
    3
}
pub fn hook_backoff() -> String {
    "10s".to_string()
}
pub fn hook_timeout() -> String {
    "10s".to_string()
}
pub fn health_path() -> String {
    "/health".to_string()
}
pub fn health_interval() -> String {
    "10s".to_string()
}
pub fn health_timeout() -> String {
    "2s".to_string()
}
pub fn traffic_ports() -> Vec<TrafficPort> {
    vec![TrafficPort {
        name: "https".to_string(),
        port: 443,
        target_port: None,
    }]
}

pub fn drain_time() -> String {
    "10s".into()
}
