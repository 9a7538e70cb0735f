//! What a site holds besides the services a pair synchronises, and whether
//! its account may write: for `sitehapair export` (what was left out) and
//! `sitehapair check` (privileges). The kinds' own parts live with their
//! drivers (`arcgis::survey`); these are the shared types.

/// Something on a site that an export leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// What it is, as a person finds it on the site (`folder System`).
    pub item: String,
    /// Why a pair does not synchronise it.
    pub why: String,
}

/// What a write probe did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteProbe {
    /// A write that changes nothing was made and accepted; what it was.
    Accepted(&'static str),
    /// The kind offers no write that changes nothing; how the privilege
    /// to write was judged instead (an authenticated read that only an
    /// administrator may make).
    JudgedByRead(&'static str),
}

impl WriteProbe {
    /// How the probe is described in a report.
    pub fn describe(self) -> &'static str {
        match self {
            WriteProbe::Accepted(s) | WriteProbe::JudgedByRead(s) => s,
        }
    }
}
