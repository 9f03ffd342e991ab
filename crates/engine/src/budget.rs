//! Memory accounting and the overall budget: what the state costs, and which hosts go first
//! when it is over budget.
//!
//! Costs are estimated from capacities, the way glibc's allocator charges them (a chunk is the
//! request plus 8 bytes, rounded up to 16, at least 32), so that `state_bytes` tracks what the
//! process really pays. The bench compares the estimate with a counting allocator.

use std::net::IpAddr;

/// Bytes the allocator charges for a request of `bytes` (0 for no allocation).
pub(crate) fn heap_cost(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        (bytes + 8).next_multiple_of(16).max(32)
    }
}

/// After an eviction pass the state is at most this share of the budget (per mille), so that
/// passes (each a walk over all hosts) are rare.
const LOW_WATER_PERMILLE: usize = 900;

/// The state size an eviction pass brings the state down to.
pub(crate) fn low_water(budget: usize) -> usize {
    budget / 1000 * LOW_WATER_PERMILLE
}

/// Picks the hosts to evict so that `total` bytes drop to `target`: least recently active
/// first (oldest newest-flow time), ties broken by address so that the choice is
/// deterministic. `hosts` yields (host, newest flow start, bytes of its state).
pub(crate) fn lru_victims(
    hosts: impl Iterator<Item = (IpAddr, i64, usize)>,
    total: usize,
    target: usize,
) -> Vec<IpAddr> {
    if total <= target {
        return Vec::new();
    }
    let mut all: Vec<(i64, IpAddr, usize)> = hosts.map(|(h, t, b)| (t, h, b)).collect();
    all.sort_unstable_by_key(|a| (a.0, a.1));
    let mut freed = 0usize;
    let need = total - target;
    let mut victims = Vec::new();
    for (_, host, bytes) in all {
        if freed >= need {
            break;
        }
        freed += bytes;
        victims.push(host);
    }
    victims
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocator_costs() {
        assert_eq!(heap_cost(0), 0);
        assert_eq!(heap_cost(1), 32);
        assert_eq!(heap_cost(24), 32);
        assert_eq!(heap_cost(25), 48);
        assert_eq!(heap_cost(1000), 1008);
    }

    #[test]
    fn victims_are_least_recent_first() {
        let ip = |n: u8| IpAddr::from([10, 0, 0, n]);
        let hosts = vec![
            (ip(1), 50, 100),
            (ip(2), 10, 100),
            (ip(3), 10, 100),
            (ip(4), 99, 100),
        ];
        assert_eq!(
            lru_victims(hosts.clone().into_iter(), 400, 250),
            vec![ip(2), ip(3)]
        );
        assert!(lru_victims(hosts.into_iter(), 400, 400).is_empty());
        assert_eq!(low_water(1_000_000), 900_000);
    }
}
