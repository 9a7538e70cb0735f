//! Change windows, pure: `spec.windows` parsed once per trip, and whether an
//! action (a sync, a planned promotion, an automatic failover) may run at a
//! given time, or until when it waits. When any allow window applies to an
//! action it runs only inside one; inside a deny window it never runs.

use std::str::FromStr;

use jiff::SignedDuration;
use jiff::tz::TimeZone;

use crate::api::{ChangeWindow, WindowAction, WindowKind, duration};
use crate::plan::time::{Timestamp, stamp};

/// One window, parsed.
#[derive(Debug, Clone)]
pub struct Window {
    /// Its place in spec.windows.
    pub index: usize,
    pub kind: WindowKind,
    pub sync: bool,
    pub promotion: bool,
    pub hold_failover: bool,
    schedule: jiff_cron::Schedule,
    length: SignedDuration,
    tz: TimeZone,
    /// What the spec said, for equality and messages.
    source: String,
}

impl PartialEq for Window {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index && self.source == other.source
    }
}

impl Eq for Window {}

/// What a window gate is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Sync,
    PlannedPromotion,
    AutomaticFailover,
}

impl Action {
    fn ruled_by(self, w: &Window) -> bool {
        match self {
            Action::Sync => w.sync,
            Action::PlannedPromotion => w.promotion,
            Action::AutomaticFailover => w.promotion && w.hold_failover,
        }
    }
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Closed: why, and when it opens next (None: not within a year).
    Closed {
        until: Option<Timestamp>,
        why: String,
    },
}

/// Parse spec.windows; the problems name the field and what to fix.
pub fn parse_windows(spec: &[ChangeWindow]) -> (Vec<Window>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, w) in spec.iter().enumerate() {
        match parse_one(i, w) {
            Ok(w) => out.push(w),
            Err(e) => problems.push(e),
        }
    }
    (out, problems)
}

fn parse_one(index: usize, w: &ChangeWindow) -> Result<Window, String> {
    let field = format!("spec.windows[{index}]");
    let expr = to_crate_syntax(&w.schedule).map_err(|e| format!("{field}.schedule: {e}"))?;
    let schedule = jiff_cron::Schedule::from_str(&expr)
        .map_err(|e| format!("{field}.schedule {:?}: {e}", w.schedule))?;
    let tz = TimeZone::get(&w.time_zone).map_err(|_| {
        format!(
            "{field}.timeZone {:?} is not a time zone this operator knows; use an IANA name such as Europe/Berlin",
            w.time_zone
        )
    })?;
    let length = duration::parse("duration", &w.duration).map_err(|e| format!("{field}: {e}"))?;
    let length = SignedDuration::try_from(length).map_err(|e| format!("{field}.duration: {e}"))?;
    Ok(Window {
        index,
        kind: w.kind,
        sync: w.applies_to.contains(&WindowAction::Sync),
        promotion: w.applies_to.contains(&WindowAction::Promotion),
        hold_failover: w.hold_failover,
        schedule,
        length,
        tz,
        source: format!(
            "{:?} {} for {} ({})",
            w.kind, w.schedule, w.duration, w.time_zone
        ),
    })
}

/// Five standard cron fields into the crate's seven (seconds first, year
/// last), with day-of-week numbers (0-7, Sunday 0 or 7) as names: the
/// crate counts Sunday as 1, a standard cron line does not.
pub fn to_crate_syntax(expr: &str) -> Result<String, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields.as_slice() else {
        return Err(format!(
            "{expr:?} must have five fields: minute hour day-of-month month day-of-week"
        ));
    };
    if *dom != "*" && *dom != "?" && *dow != "*" && *dow != "?" {
        return Err(format!(
            "{expr:?} restricts both day-of-month and day-of-week; cron lines disagree on what that means, so use one of them (and * for the other)"
        ));
    }
    let dow = dow_names(dow)?;
    Ok(format!("0 {minute} {hour} {dom} {month} {dow} *"))
}

fn dow_names(field: &str) -> Result<String, String> {
    const NAMES: [&str; 8] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let mut out = String::new();
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String, after_slash: bool| -> Result<(), String> {
        if digits.is_empty() {
            return Ok(());
        }
        if after_slash {
            out.push_str(digits);
        } else {
            let n: usize = digits
                .parse()
                .map_err(|_| format!("day-of-week {field:?}"))?;
            let name = NAMES.get(n).ok_or_else(|| {
                format!("day-of-week {n} in {field:?}: use 0-7 (0 and 7 are Sunday)")
            })?;
            out.push_str(name);
        }
        digits.clear();
        Ok(())
    };
    let mut after_slash = false;
    for c in field.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut digits, &mut out, after_slash)?;
        after_slash = c == '/';
        out.push(c);
    }
    flush(&mut digits, &mut out, after_slash)?;
    Ok(out)
}

impl Window {
    /// Is the window open at `t`: did it fire at some time in
    /// (t - duration, t]?
    pub fn open_at(&self, t: Timestamp) -> bool {
        self.fired_in_last(t).is_some()
    }

    fn fired_in_last(&self, t: Timestamp) -> Option<Timestamp> {
        let from = t.checked_sub(self.length).ok()?.to_zoned(self.tz.clone());
        let fired = self.schedule.after(from).next()?.timestamp();
        (fired <= t).then_some(fired)
    }

    /// The next time after `t` it opens, and the end of the opening that
    /// holds `t` (if open).
    fn edges_after(&self, t: Timestamp) -> Vec<Timestamp> {
        let mut out = Vec::new();
        if let Some(f) = self.fired_in_last(t)
            && let Ok(end) = f.checked_add(self.length)
        {
            out.push(end);
        }
        let next = self.schedule.after(t.to_zoned(self.tz.clone())).take(3);
        for n in next {
            let n = n.timestamp();
            out.push(n);
            if let Ok(end) = n.checked_add(self.length) {
                out.push(end);
            }
        }
        out
    }

    fn describe(&self) -> String {
        format!("spec.windows[{}] ({})", self.index, self.source)
    }
}

/// May `action` run at `now` under `windows`?
pub fn gate(windows: &[Window], action: Action, now: Timestamp) -> Gate {
    let ruling: Vec<&Window> = windows.iter().filter(|w| action.ruled_by(w)).collect();
    let Some(why) = closed_why(&ruling, now) else {
        return Gate::Open;
    };
    // The next time the gate opens: at one of the windows' edges.
    let mut edges: Vec<Timestamp> = ruling.iter().flat_map(|w| w.edges_after(now)).collect();
    edges.sort();
    edges.dedup();
    let until = edges
        .into_iter()
        .find(|t| *t > now && closed_why(&ruling, *t).is_none());
    Gate::Closed { until, why }
}

/// When an open gate next closes: the first of its windows' edges ahead
/// at which it is closed (None: no window rules the action, or none
/// closes it within the next few openings).
pub fn closes_at(windows: &[Window], action: Action, now: Timestamp) -> Option<Timestamp> {
    let ruling: Vec<&Window> = windows.iter().filter(|w| action.ruled_by(w)).collect();
    let mut edges: Vec<Timestamp> = ruling.iter().flat_map(|w| w.edges_after(now)).collect();
    edges.sort();
    edges.dedup();
    edges
        .into_iter()
        .find(|t| *t > now && closed_why(&ruling, *t).is_some())
}

fn closed_why(ruling: &[&Window], t: Timestamp) -> Option<String> {
    if let Some(deny) = ruling
        .iter()
        .find(|w| w.kind == WindowKind::Deny && w.open_at(t))
    {
        return Some(format!("inside the deny window {}", deny.describe()));
    }
    let allows: Vec<&&Window> = ruling
        .iter()
        .filter(|w| w.kind == WindowKind::Allow)
        .collect();
    if !allows.is_empty() && !allows.iter().any(|w| w.open_at(t)) {
        let names: Vec<String> = allows.iter().map(|w| w.describe()).collect();
        return Some(format!("outside every allow window ({})", names.join(", ")));
    }
    None
}

/// Why the sync may not write now (its change windows), if so.
pub fn sync_window_closed(windows: &[Window], now: Timestamp) -> Option<String> {
    match gate(windows, Action::Sync, now) {
        Gate::Open => None,
        Gate::Closed { until, why } => Some(format!(
            "the sync waits {} ({why}); to sync a revision now: kubectl annotate shp <name> {}=<revision>",
            until_text(until),
            crate::api::ANNOTATION_WINDOW_OVERRIDE
        )),
    }
}

/// "until 2026-12-12T22:00:00Z" or "with no opening within the next three
/// openings of its windows".
pub fn until_text(until: Option<Timestamp>) -> String {
    until.map_or("with no opening in sight".into(), |t| {
        format!("until {}", stamp(t))
    })
}

#[cfg(test)]
#[path = "windows_tests.rs"]
mod tests;
