//! Eviction for the maps that clients fill (rate-limit buckets, cached auth answers): each has
//! a fixed capacity, and a full map makes room by dropping first what carries no information,
//! then what carries the least, never everything at once.

use std::collections::HashMap;
use std::hash::Hash;

/// Makes room in `map`, whose capacity is `cap` entries, for one more entry. Nothing happens
/// until the map is full. Then the entries `stale` says carry no information (a drained
/// bucket, an expired answer) go first; if the map is still more than 7/8 full, the entries
/// with the lowest `score` (the bucket closest to drained, the answer closest to expiry) go
/// until it is 7/8 full. The cost is linear in `cap` once every `cap / 8` insertions at most.
pub fn make_room<K, V>(
    map: &mut HashMap<K, V>,
    cap: usize,
    stale: impl Fn(&V) -> bool,
    score: impl Fn(&V) -> u64,
) where
    K: Eq + Hash,
{
    if map.len() < cap {
        return;
    }
    map.retain(|_, v| !stale(v));
    let target = cap - cap / 8;
    if map.len() <= target {
        return;
    }
    let excess = map.len() - target;
    let mut scores: Vec<u64> = map.values().map(&score).collect();
    let (_, threshold, _) = scores.select_nth_unstable(excess - 1);
    let threshold = *threshold;
    // Below the threshold everything goes; at it, only as many as are still needed.
    let below = scores.iter().filter(|&&s| s < threshold).count();
    let mut at_threshold = excess - below;
    map.retain(|_, v| match score(v) {
        s if s < threshold => false,
        s if s == threshold && at_threshold > 0 => {
            at_threshold -= 1;
            false
        }
        _ => true,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_entries_go_first_then_the_lowest_scores() {
        let mut map: HashMap<u32, u64> = (0..16).map(|k| (k, u64::from(k))).collect();
        make_room(&mut map, 16, |v| *v < 4, |v| *v);
        assert_eq!(map.len(), 12, "four stale entries were enough");
        make_room(&mut map, 12, |_| false, |v| *v);
        assert_eq!(map.len(), 11, "7/8 of 12, rounded up");
        assert!(!map.contains_key(&4) && map.contains_key(&5) && map.contains_key(&15));
    }

    #[test]
    fn ties_remove_only_as_many_as_needed() {
        let mut map: HashMap<u32, u64> = (0..64).map(|k| (k, 7)).collect();
        make_room(&mut map, 64, |_| false, |v| *v);
        assert_eq!(map.len(), 56);
    }

    #[test]
    fn a_map_below_capacity_is_left_alone() {
        let mut map: HashMap<u32, u64> = (0..10).map(|k| (k, 0)).collect();
        make_room(&mut map, 11, |_| true, |v| *v);
        assert_eq!(map.len(), 10);
    }
}
