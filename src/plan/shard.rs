//! Which shard a pair belongs to, pure: a stable hash (FNV-1a, 64 bit) of
//! `namespace/name`, modulo the number of shards. Stable across versions,
//! processes and machines, so every replica agrees without talking.

/// One shard of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The only shard when pairs are not split.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// The shard of the pair `namespace/name` among `count`.
    pub fn of(namespace: &str, name: &str, count: u32) -> Shard {
        let count = count.max(1);
        let h = pair_hash(namespace, name);
        Shard {
            index: u32::try_from(h % u64::from(count)).unwrap_or(0),
            count,
        }
    }

    /// Does this shard hold the pair `namespace/name`?
    pub fn holds(&self, namespace: &str, name: &str) -> bool {
        Shard::of(namespace, name, self.count).index == self.index
    }
}

/// The stable hash of the pair `namespace/name`: its shard, and its slot
/// in the health interval (`schedule::until_slot`).
pub fn pair_hash(namespace: &str, name: &str) -> u64 {
    fnv1a(format!("{namespace}/{name}").as_bytes())
}

/// FNV-1a, 64 bit.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv1a_and_stable() {
        // The published test vectors: the shard of a pair never depends on
        // the build, the process or the machine.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(Shard::of("ns", "gis", 1), Shard::ALL);
        assert_eq!(Shard::of("ns", "gis", 7).index as u64, fnv1a(b"ns/gis") % 7);
    }

    #[test]
    fn a_thousand_pairs_spread_evenly_over_three_shards() {
        let mut counts = [0u32; 3];
        for i in 0..1000 {
            counts[Shard::of("team-a", &format!("gis-{i:04}"), 3).index as usize] += 1;
        }
        for c in counts {
            assert!((283..=383).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn every_pair_is_held_by_exactly_one_shard() {
        for i in 0..200 {
            let name = format!("p{i}");
            let holders = (0..5)
                .filter(|s| {
                    Shard {
                        index: *s,
                        count: 5,
                    }
                    .holds("ns", &name)
                })
                .count();
            assert_eq!(holders, 1, "{name}");
        }
    }
}
