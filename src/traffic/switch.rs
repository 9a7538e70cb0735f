//! The order in which a pair's EndpointSlices are written, planned purely.
//!
//! An EndpointSlice holds one address family, so a pair whose sites have
//! IPv4 and IPv6 addresses has two slices, written one at a time. Written
//! in turn, a switch from east to west would leave a moment with the IPv4
//! slice on west and the IPv6 slice still on east: clients of one family on
//! the new site, of the other on the old. So a switch drains first: every
//! slice that points at a site and would change is emptied (or deleted, if
//! no longer wanted), then each is written with its new endpoints. The
//! states clients see are old/old, empty/old, empty/empty, new/empty,
//! new/new: never two sites at once. When writing the slices in turn is
//! already safe (one slice, or every slice on one site throughout), they
//! are written in turn with no extra write.

use std::collections::BTreeMap;

/// A slice the cluster holds, as far as this replica knows: its name and
/// the site its endpoints point at (None: no endpoints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub name: String,
    pub site: Option<String>,
}

/// A slice that should exist: its name, the site it is to point at (None:
/// no endpoints), and whether writing it changes what the cluster holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub site: Option<String>,
    pub changes: bool,
}

/// One write of a switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SliceWrite {
    /// Write the wanted slice with no endpoints.
    Drain(String),
    /// Delete the slice: it is no longer wanted.
    Delete(String),
    /// Write the slice as wanted.
    Fill(String),
}

/// What clients see: each existing slice and the site it points at.
pub type State = BTreeMap<String, Option<String>>;

/// The writes that take the cluster from `held` to `wanted`, in order.
/// Slices that do not change are not written; slices held but not wanted
/// are deleted. At no point between two writes do two slices point at two
/// different sites (unless the cluster already did before the first).
pub fn switch_writes(held: &[Held], wanted: &[Wanted]) -> Vec<SliceWrite> {
    let is_wanted = |name: &str| wanted.iter().any(|w| w.name == name);
    let direct: Vec<SliceWrite> = wanted
        .iter()
        .filter(|w| w.changes)
        .map(|w| SliceWrite::Fill(w.name.clone()))
        .chain(
            held.iter()
                .filter(|h| !is_wanted(&h.name))
                .map(|h| SliceWrite::Delete(h.name.clone())),
        )
        .collect();
    if states(held, wanted, &direct).iter().all(at_most_one_site) {
        return direct;
    }
    // Drain: empty (or delete) every slice that points at a site and would
    // change, then fill the changed ones.
    let mut writes = Vec::new();
    for h in held {
        match wanted.iter().find(|w| w.name == h.name) {
            None => writes.push(SliceWrite::Delete(h.name.clone())),
            Some(w) if w.changes && h.site.is_some() => writes.push(if w.site.is_none() {
                // Its new form has no endpoints: writing it drains it.
                SliceWrite::Fill(w.name.clone())
            } else {
                SliceWrite::Drain(w.name.clone())
            }),
            Some(_) => {}
        }
    }
    for w in wanted.iter().filter(|w| w.changes) {
        if !writes.contains(&SliceWrite::Fill(w.name.clone())) {
            writes.push(SliceWrite::Fill(w.name.clone()));
        }
    }
    writes
}

/// The state before the writes and after each one.
pub fn states(held: &[Held], wanted: &[Wanted], writes: &[SliceWrite]) -> Vec<State> {
    let mut state: State = held
        .iter()
        .map(|h| (h.name.clone(), h.site.clone()))
        .collect();
    let mut out = vec![state.clone()];
    for write in writes {
        match write {
            SliceWrite::Drain(name) => {
                state.insert(name.clone(), None);
            }
            SliceWrite::Delete(name) => {
                state.remove(name);
            }
            SliceWrite::Fill(name) => {
                let site = wanted
                    .iter()
                    .find(|w| &w.name == name)
                    .and_then(|w| w.site.clone());
                state.insert(name.clone(), site);
            }
        }
        out.push(state.clone());
    }
    out
}

/// Do the slices of this state point at one site at most?
pub fn at_most_one_site(state: &State) -> bool {
    let mut sites = state.values().flatten();
    match sites.next() {
        None => true,
        Some(first) => sites.all(|s| s == first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn held(slices: &[(&str, Option<&str>)]) -> Vec<Held> {
        slices
            .iter()
            .map(|(n, s)| Held {
                name: (*n).to_string(),
                site: s.map(str::to_string),
            })
            .collect()
    }

    fn wanted(slices: &[(&str, Option<&str>, bool)]) -> Vec<Wanted> {
        slices
            .iter()
            .map(|(n, s, c)| Wanted {
                name: (*n).to_string(),
                site: s.map(str::to_string),
                changes: *c,
            })
            .collect()
    }

    fn sites(states: &[State]) -> Vec<Vec<Option<&str>>> {
        states
            .iter()
            .map(|s| s.values().map(Option::as_deref).collect())
            .collect()
    }

    #[test]
    fn a_dual_stack_switch_drains_both_families_first() {
        let h = held(&[("gis-ipv4", Some("east")), ("gis-ipv6", Some("east"))]);
        let w = wanted(&[
            ("gis-ipv4", Some("west"), true),
            ("gis-ipv6", Some("west"), true),
        ]);
        let writes = switch_writes(&h, &w);
        assert_eq!(
            writes,
            [
                SliceWrite::Drain("gis-ipv4".into()),
                SliceWrite::Drain("gis-ipv6".into()),
                SliceWrite::Fill("gis-ipv4".into()),
                SliceWrite::Fill("gis-ipv6".into()),
            ]
        );
        assert_eq!(
            sites(&states(&h, &w, &writes)),
            [
                vec![Some("east"), Some("east")],
                vec![None, Some("east")],
                vec![None, None],
                vec![Some("west"), None],
                vec![Some("west"), Some("west")],
            ]
        );
    }

    #[test]
    fn a_single_stack_switch_is_one_write() {
        let h = held(&[("gis-ipv4", Some("east"))]);
        let w = wanted(&[("gis-ipv4", Some("west"), true)]);
        assert_eq!(switch_writes(&h, &w), [SliceWrite::Fill("gis-ipv4".into())]);
    }

    #[test]
    fn at_rest_nothing_is_written() {
        let h = held(&[("gis-ipv4", Some("east")), ("gis-ipv6", Some("east"))]);
        let w = wanted(&[
            ("gis-ipv4", Some("east"), false),
            ("gis-ipv6", Some("east"), false),
        ]);
        assert!(switch_writes(&h, &w).is_empty());
    }

    #[test]
    fn a_change_on_one_site_is_written_in_turn() {
        // A new address of the same site, or a first placement: no drain.
        let h = held(&[("gis-ipv4", Some("east")), ("gis-ipv6", Some("east"))]);
        let w = wanted(&[
            ("gis-ipv4", Some("east"), true),
            ("gis-ipv6", Some("east"), true),
        ]);
        assert_eq!(switch_writes(&h, &w).len(), 2);
        let h = held(&[("gis-ipv4", None)]);
        let w = wanted(&[
            ("gis-ipv4", Some("west"), true),
            ("gis-ipv6", Some("west"), true),
        ]);
        assert_eq!(
            switch_writes(&h, &w),
            [
                SliceWrite::Fill("gis-ipv4".into()),
                SliceWrite::Fill("gis-ipv6".into())
            ]
        );
    }

    #[test]
    fn a_family_the_new_site_lacks_is_deleted_before_the_other_moves() {
        let h = held(&[("gis-ipv4", Some("east")), ("gis-ipv6", Some("east"))]);
        let w = wanted(&[("gis-ipv4", Some("west"), true)]);
        let writes = switch_writes(&h, &w);
        assert_eq!(
            writes,
            [
                SliceWrite::Drain("gis-ipv4".into()),
                SliceWrite::Delete("gis-ipv6".into()),
                SliceWrite::Fill("gis-ipv4".into()),
            ]
        );
        assert!(states(&h, &w, &writes).iter().all(at_most_one_site));
    }

    #[test]
    fn a_switch_to_nothing_empties_without_an_extra_write() {
        let h = held(&[("gis-ipv4", Some("east")), ("gis-ipv6", Some("east"))]);
        let w = wanted(&[("gis-ipv4", None, true)]);
        assert_eq!(
            switch_writes(&h, &w),
            [
                SliceWrite::Fill("gis-ipv4".into()),
                SliceWrite::Delete("gis-ipv6".into())
            ]
        );
    }

    /// A world consistent with how the slices are built: every wanted slice
    /// points at one site (or none); the held ones at one site (or none);
    /// a slice that does not change holds what it is wanted to.
    fn world() -> impl Strategy<Value = (Vec<Held>, Vec<Wanted>)> {
        let site = prop::option::of(prop::sample::select(vec!["east", "west", "north"]));
        let slot = (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        );
        (site.clone(), site, prop::collection::vec(slot, 1..4)).prop_map(|(from, to, slots)| {
            let mut held = Vec::new();
            let mut wanted = Vec::new();
            for (i, (is_held, held_full, is_wanted, wanted_full, edited)) in
                slots.into_iter().enumerate()
            {
                let name = format!("s{i}");
                let h = is_held.then(|| from.filter(|_| held_full).map(str::to_string));
                if let Some(site) = &h {
                    held.push(Held {
                        name: name.clone(),
                        site: site.clone(),
                    });
                }
                if is_wanted {
                    let site = to.filter(|_| wanted_full).map(str::to_string);
                    // A slice on the same site may still change (ports,
                    // addresses); one that is not held always does.
                    let changes = h.as_ref() != Some(&site) || edited;
                    wanted.push(Wanted {
                        name,
                        site,
                        changes,
                    });
                }
            }
            (held, wanted)
        })
    }

    proptest! {
        #[test]
        fn no_moment_points_at_two_sites_and_the_end_is_what_is_wanted((held, wanted) in world()) {
            let writes = switch_writes(&held, &wanted);
            let seen = states(&held, &wanted, &writes);
            for s in &seen {
                prop_assert!(at_most_one_site(s), "two sites at once: {seen:?} by {writes:?}");
            }
            let end: State = wanted.iter().map(|w| (w.name.clone(), w.site.clone())).collect();
            prop_assert_eq!(seen.last(), Some(&end));
            // Each slice is written at most twice, and only when it changes
            // or goes; one slice alone is written at most once.
            for w in &wanted {
                let n = writes.iter().filter(|x| matches!(x, SliceWrite::Drain(n) | SliceWrite::Fill(n) if n == &w.name)).count();
                prop_assert!(n <= if w.changes { 2 } else { 0 }, "{writes:?}");
            }
            // The drain costs writes only where writing in turn would not do.
            let direct = wanted.iter().filter(|w| w.changes).count()
                + held.iter().filter(|h| !wanted.iter().any(|w| w.name == h.name)).count();
            if writes.len() > direct {
                let mut fills: Vec<SliceWrite> = wanted.iter().filter(|w| w.changes).map(|w| SliceWrite::Fill(w.name.clone())).collect();
                fills.extend(held.iter().filter(|h| !wanted.iter().any(|w| w.name == h.name)).map(|h| SliceWrite::Delete(h.name.clone())));
                prop_assert!(!states(&held, &wanted, &fills).iter().all(at_most_one_site), "{writes:?}");
            }
            // A single-stack pair (one slice, kept) is written at most once.
            if held.len() <= 1 && wanted.len() == 1 && held.iter().all(|h| h.name == wanted[0].name) {
                prop_assert!(writes.len() <= 1, "{writes:?}");
            }
        }
    }
}
