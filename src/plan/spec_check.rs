//! The spec as a trip uses it, checked once: every duration parsed into
//! `SpecTimes`, and every problem the API server should have refused (an
//! object stored before a CRD upgrade may still hold one) named.

use std::time::Duration;

use crate::api::{SiteHAPairSpec, duration};
use crate::plan::time::Timestamp;
use crate::plan::verify::VerifyConfig;
use crate::plan::windows::{Window, parse_windows};

/// The spec's durations, parsed. A field that does not parse is named in
/// the problems and falls back to its default here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecTimes {
    pub health_interval: Duration,
    pub health_timeout: Duration,
    pub contact_timeout: Duration,
    pub min_interval: Duration,
    /// spec.source.git.interval (None: no source, or not parsed).
    pub git_interval: Option<Duration>,
    pub settling: Duration,
    pub drain: Duration,
}

/// The spec checked: its times, its change windows, and what is wrong
/// with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecCheck {
    pub times: SpecTimes,
    /// spec.windows, parsed (a window that does not parse is a problem).
    pub windows: Vec<Window>,
    /// spec.promotion.notBefore, parsed.
    pub not_before: Option<Timestamp>,
    /// spec.promotion.verify, parsed (None: off).
    pub verify: Option<VerifyConfig>,
    pub problems: Vec<String>,
}

impl SpecCheck {
    pub fn valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Check `spec` once for the trip.
pub fn check_spec(spec: &SiteHAPairSpec) -> SpecCheck {
    let mut problems = Vec::new();
    let mut parse = |field: &'static str, value: &str, fallback: Duration| {
        duration::parse(field, value).unwrap_or_else(|e| {
            problems.push(e.to_string());
            fallback
        })
    };
    let promotion = &spec.promotion;
    let contact_timeout = parse(
        "spec.promotion.contactTimeout",
        &promotion.contact_timeout,
        Duration::from_secs(1800),
    );
    let min_interval = parse(
        "spec.promotion.automatic.minInterval",
        &promotion.automatic.min_interval,
        Duration::ZERO,
    );
    let health_interval = parse(
        "spec.healthCheck.interval",
        &spec.health_check.interval,
        Duration::from_secs(30),
    );
    let health_timeout = parse(
        "spec.healthCheck.timeout",
        &spec.health_check.timeout,
        Duration::from_secs(2),
    );
    let git_interval = spec.source.as_ref().and_then(|src| {
        let field = "spec.source.git.interval";
        duration::parse(field, &src.git.interval)
            .map_err(|e| problems.push(e.to_string()))
            .ok()
    });
    let times = SpecTimes {
        health_interval,
        health_timeout,
        contact_timeout,
        min_interval,
        git_interval,
        // Not among the problems: a bad one falls back to its default.
        settling: duration::parse("spec.promotion.settlingTime", &promotion.settling_time)
            .unwrap_or_default(),
        drain: duration::parse("spec.sync.drainTime", &spec.sync.drain_time)
            .unwrap_or(Duration::from_secs(10)),
    };
    problems.extend(site_problems(spec));
    let (windows, window_problems) = parse_windows(&spec.windows);
    problems.extend(window_problems);
    let not_before = spec.promotion.not_before.as_deref().and_then(|s| {
        crate::plan::time::parse(s).or_else(|| {
            problems.push(format!(
                "spec.promotion.notBefore {s:?} is not an RFC 3339 time such as 2026-12-12T22:00:00Z"
            ));
            None
        })
    });
    let verify = spec
        .promotion
        .verify
        .as_ref()
        .map(|v| verify_config(v, &mut problems));
    SpecCheck {
        times,
        windows,
        not_before,
        verify,
        problems,
    }
}

/// spec.promotion.verify with its durations parsed; what does not parse,
/// or a period shorter than the interval, is a problem.
fn verify_config(v: &crate::api::PromotionVerify, problems: &mut Vec<String>) -> VerifyConfig {
    let mut parse = |field: &'static str, value: &str, fallback: Duration| {
        duration::parse(field, value).unwrap_or_else(|e| {
            problems.push(e.to_string());
            fallback
        })
    };
    let period = parse(
        "spec.promotion.verify.period",
        &v.period,
        Duration::from_secs(120),
    );
    let interval = parse(
        "spec.promotion.verify.interval",
        &v.interval,
        Duration::from_secs(5),
    );
    if period < interval {
        problems.push(format!(
            "spec.promotion.verify.period {} is shorter than verify.interval {}",
            v.period, v.interval
        ));
    }
    if !(1..=100).contains(&v.successes) {
        problems.push(format!(
            "spec.promotion.verify.successes {} is not from 1 to 100",
            v.successes
        ));
    }
    VerifyConfig {
        period,
        successes: v.successes.clamp(1, 100),
        interval,
        revert: v.revert,
    }
}

/// Everything in the spec the API server should have refused, as messages.
pub fn spec_problems(spec: &SiteHAPairSpec) -> Vec<String> {
    check_spec(spec).problems
}

/// Sites named twice, and an active site that is none of them.
fn site_problems(spec: &SiteHAPairSpec) -> Vec<String> {
    let mut out = Vec::new();
    if !spec.sites.iter().any(|s| s.name == spec.active_site) {
        out.push(format!(
            "spec.activeSite {:?} names none of spec.sites",
            spec.active_site
        ));
    }
    let mut names: Vec<&str> = spec.sites.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        out.push(format!("spec.sites: the name {:?} is used twice", w[0]));
    }
    let mut urls: Vec<String> = spec
        .sites
        .iter()
        .map(|s| crate::plan::claims::normalize(&s.admin_url))
        .collect();
    urls.sort_unstable();
    if let Some(w) = urls.windows(2).find(|w| w[0] == w[1]) {
        out.push(format!("spec.sites: the adminUrl {} is named twice", w[0]));
    }
    out
}
