//! A compact set of candidate-period indices.

/// Which candidate periods (by index into the configured period list) a pair is periodic for.
///
/// Algorithms accept at most [`PeriodMask::CAPACITY`] candidate periods, which their parameter
/// validation enforces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PeriodMask(u64);

impl PeriodMask {
    /// The largest number of candidate periods a mask can hold.
    pub const CAPACITY: usize = 64;

    /// The empty set.
    pub const EMPTY: Self = Self(0);

    /// Adds period index `index` (ignored when `index >= CAPACITY`).
    pub fn insert(&mut self, index: usize) {
        if index < Self::CAPACITY {
            self.0 |= 1 << index;
        }
    }

    /// Whether period index `index` is in the set.
    pub fn contains(self, index: usize) -> bool {
        index < Self::CAPACITY && self.0 & (1 << index) != 0
    }

    /// Whether no period is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The indices in the set, ascending.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..Self::CAPACITY).filter(move |&i| self.contains(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_and_iterate() {
        let mut m = PeriodMask::EMPTY;
        assert!(m.is_empty());
        m.insert(0);
        m.insert(3);
        m.insert(63);
        m.insert(64); // out of range: ignored
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![0, 3, 63]);
        assert!(m.contains(3) && !m.contains(2) && !m.contains(64));
    }
}
