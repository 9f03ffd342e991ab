//! The batch store of `relbot analyze`: every (host, peer) pair with its flow start times.

use std::net::IpAddr;

use hashbrown::HashMap;
use relbot_flow::FlowRecord;

/// Start times of one ordered (source, destination) pair.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The monitored host (flow source).
    pub src: IpAddr,
    /// The peer (flow destination).
    pub dst: IpAddr,
    /// Flow start times, ms; unsorted until [`PairTable::sort_times`].
    pub times: Vec<i64>,
}

/// All pairs seen in the input, in first-seen order.
#[derive(Debug, Default)]
pub struct PairTable {
    index: HashMap<(IpAddr, IpAddr), u32>,
    pairs: Vec<Pair>,
    flows: u64,
}

impl PairTable {
    /// Adds one flow's start time to its pair.
    pub fn add(&mut self, flow: &FlowRecord) {
        self.flows += 1;
        let next = self.pairs.len() as u32;
        let slot = *self.index.entry((flow.src, flow.dst)).or_insert(next);
        if slot == next {
            self.pairs.push(Pair {
                src: flow.src,
                dst: flow.dst,
                times: Vec::with_capacity(4),
            });
        }
        self.pairs[slot as usize].times.push(flow.start_ms);
    }

    /// Number of flows added.
    pub fn flows(&self) -> u64 {
        self.flows
    }

    /// Number of distinct pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no flow was added.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Number of distinct sources.
    pub fn hosts(&self) -> usize {
        let mut hosts: hashbrown::HashSet<IpAddr> = hashbrown::HashSet::new();
        hosts.extend(self.pairs.iter().map(|p| p.src));
        hosts.len()
    }

    /// Gives up the lookup index and returns the pairs for evaluation.
    pub fn into_pairs(self) -> Vec<Pair> {
        self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_ordered_pair() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut t = PairTable::default();
        t.add(&FlowRecord::from_triple(3, a, b));
        t.add(&FlowRecord::from_triple(1, b, a));
        t.add(&FlowRecord::from_triple(2, a, b));
        assert_eq!((t.flows(), t.len(), t.hosts()), (3, 2, 2));
        let pairs = t.into_pairs();
        assert_eq!(
            (pairs[0].src, pairs[0].dst, pairs[0].times.clone()),
            (a, b, vec![3, 2])
        );
        assert_eq!(pairs[1].times, vec![1]);
    }
}
