//! [`Times`]: one pair's flow start times, sorted ascending, in about 4 bytes per time.
//!
//! Layout (32 bytes inline): the smallest time (`base`), the count, the largest time's offset
//! from `base`, and a buffer with the other times:
//! - one time (the common case for background traffic): no allocation at all;
//! - two times, narrow: no allocation either, the second is the largest time's offset;
//! - narrow: one `u32` offset from `base` per further time, spans of up to 2³² ms ≈ 49.7
//!   days (`base` follows the smallest time, so offsets never creep upwards);
//! - wide (longer spans, e.g. a batch run over months of data): two words per further time,
//!   the high and low halves of the `i64`.
//!
//! The smallest and largest times and the count are inline, so that an evaluation can pass
//! over an unchanged pair without touching its buffer. Buffers are sized to fill the
//! allocator's chunks exactly (16k − 8 bytes), grow by one chunk step while small and by an
//! eighth when large, and shrink when half is unused. Times are kept sorted on insert (flows
//! arrive nearly in order, so an insert is almost always an append), which makes trimming a
//! prefix and taking a window `[.., limit)` cheap.

use crate::budget::heap_cost;

const WIDE: u32 = 1 << 31;
const LEN_MASK: u32 = !WIDE;
/// Most times one pair can hold.
pub(crate) const MAX_TIMES: usize = LEN_MASK as usize;
/// Smallest buffer, in words (a 24-byte request, a 32-byte chunk).
const MIN_WORDS: usize = 6;
/// Up to this many times a buffer grows by one chunk step (16 bytes) at a time; beyond, by
/// an eighth, so that copying stays amortised O(1) per insert.
const STEP_GROWTH_UNTIL: usize = 64;

/// Offsets in a short run scanned one by one rather than searched: one cache line.
const SCAN: usize = 16;

/// How many of the ascending `offsets` are below `off`. The limits an engine asks for are
/// near either end (the flows after a tick are the newest few, the times leaving the horizon
/// the oldest few), so the run at that end is scanned before a binary search is tried: one
/// cache line touched instead of one per halving of a long buffer.
fn count_below(offsets: &[u32], off: u64) -> usize {
    let n = offsets.len();
    let below = |o: &u32| u64::from(*o) < off;
    if n > SCAN {
        if below(&offsets[n - SCAN]) {
            return n - SCAN + offsets[n - SCAN..].iter().take_while(|o| below(o)).count();
        }
        if !below(&offsets[SCAN - 1]) {
            return offsets[..SCAN].iter().take_while(|o| below(o)).count();
        }
    }
    offsets.partition_point(below)
}

/// Sorted start times of one pair, duplicates kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Times {
    /// The smallest time.
    base: i64,
    /// Times 1.. (the first is `base`): offsets from `base`, or two words each when wide.
    /// Empty for one time, and for two narrow ones (the second is `last_off`).
    buf: Box<[u32]>,
    /// Number of times; bit 31: wide.
    len: u32,
    /// Offset of the largest time from `base` (narrow only).
    last_off: u32,
}

impl Times {
    /// A single time.
    pub(crate) fn one(t: i64) -> Self {
        Self {
            base: t,
            buf: Box::default(),
            len: 1,
            last_off: 0,
        }
    }

    /// From times sorted ascending; `None` when `sorted` is empty or longer than
    /// [`MAX_TIMES`].
    pub(crate) fn from_sorted(sorted: &[i64]) -> Option<Self> {
        let (&first, &last) = (sorted.first()?, sorted.last()?);
        if sorted.len() > MAX_TIMES {
            return None;
        }
        let n = sorted.len();
        if n == 1 {
            return Some(Self::one(first));
        }
        let wide = !fits_narrow(first, last);
        if n == 2 && !wide {
            return Some(Self::two(first, last));
        }
        let mut t = Self {
            base: first,
            buf: vec![0u32; words_for(n, wide)].into_boxed_slice(),
            len: header(n, wide),
            last_off: if wide { 0 } else { (last - first) as u32 },
        };
        for (i, &x) in sorted.iter().enumerate().skip(1) {
            t.put(i, x);
        }
        Some(t)
    }

    /// Two times `a <= b` that fit the narrow format, without a buffer.
    fn two(a: i64, b: i64) -> Self {
        Self {
            base: a,
            buf: Box::default(),
            len: 2,
            last_off: (b - a) as u32,
        }
    }

    /// Number of times (0 only transiently, after [`Times::drop_front`] removed all).
    pub(crate) fn len(&self) -> usize {
        (self.len & LEN_MASK) as usize
    }

    fn is_wide(&self) -> bool {
        self.len & WIDE != 0
    }

    fn capacity(&self) -> usize {
        if self.is_wide() {
            1 + self.buf.len() / 2
        } else if self.buf.is_empty() {
            2
        } else {
            1 + self.buf.len()
        }
    }

    /// The `i`-th smallest time; `i < len()`.
    pub(crate) fn get(&self, i: usize) -> i64 {
        if i == 0 {
            return self.base;
        }
        if self.is_wide() {
            join(self.buf[2 * (i - 1)], self.buf[2 * (i - 1) + 1])
        } else if self.buf.is_empty() {
            // Two times: the second is the largest.
            self.base + i64::from(self.last_off)
        } else {
            self.base + i64::from(self.buf[i - 1])
        }
    }

    /// Stores time `t` at index `i >= 1` of the buffer's format.
    fn put(&mut self, i: usize, t: i64) {
        if self.is_wide() {
            let (hi, lo) = split(t);
            self.buf[2 * (i - 1)] = hi;
            self.buf[2 * (i - 1) + 1] = lo;
        } else {
            self.buf[i - 1] = (t - self.base) as u32;
        }
    }

    /// The smallest time (no memory access beyond the struct).
    pub(crate) fn first(&self) -> i64 {
        self.base
    }

    /// The largest time (no memory access beyond the struct, unless wide).
    pub(crate) fn last(&self) -> i64 {
        if self.is_wide() {
            self.get(self.len().saturating_sub(1))
        } else {
            self.base + i64::from(self.last_off)
        }
    }

    /// All times, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// How many times are before `limit` (the window `[.., limit)`).
    pub(crate) fn count_before(&self, limit: i64) -> usize {
        let n = self.len();
        if n == 0 || self.base >= limit {
            return 0;
        }
        if self.last() < limit {
            return n;
        }
        if !self.is_wide() {
            if self.buf.is_empty() {
                // Two times, the first before the limit and the second not.
                return 1;
            }
            // limit - base is in (0, last_off] here.
            let off = (limit - self.base) as u64;
            return 1 + count_below(&self.buf[..n - 1], off);
        }
        self.partition(|t| t < limit)
    }

    /// Appends the times before `limit` to `out`, ascending; returns how many.
    pub(crate) fn copy_before(&self, limit: i64, out: &mut Vec<i64>) -> usize {
        let k = self.count_before(limit);
        if k == 0 {
            return 0;
        }
        out.push(self.base);
        if self.is_wide() || self.buf.is_empty() {
            out.extend((1..k).map(|i| self.get(i)));
        } else {
            let base = self.base;
            out.extend(self.buf[..k - 1].iter().map(|&o| base + i64::from(o)));
        }
        k
    }

    /// First index whose time fails `pred` (times satisfying it come first).
    fn partition(&self, pred: impl Fn(i64) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(self.get(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Inserts `t` after any equal times; returns its index. The caller keeps the length
    /// below [`MAX_TIMES`].
    pub(crate) fn insert(&mut self, t: i64) -> usize {
        let n = self.len();
        if n == 0 {
            *self = Self::one(t);
            return 0;
        }
        let last = self.last();
        let wide = self.is_wide() || !fits_narrow(self.base.min(t), last.max(t));
        if n == 1 && !wide {
            // A second time: still no buffer.
            let first = self.base;
            *self = Self::two(first.min(t), first.max(t));
            return usize::from(t >= first);
        }
        let pos = if t >= last {
            n
        } else {
            self.partition(|x| x <= t)
        };
        if self.capacity() < n + 1 || wide != self.is_wide() {
            let need = if n < STEP_GROWTH_UNTIL {
                n + 1
            } else {
                n + n / 8
            };
            self.regrow(need, wide);
        }
        let per = if wide { 2 } else { 1 };
        // Times 1..n live at buf elements 0..n-1; open the slot of index max(pos, 1).
        let slot = pos.max(1);
        self.buf
            .copy_within(per * (slot - 1)..per * (n - 1), per * slot);
        self.len = header(n + 1, wide);
        if pos == 0 {
            // New smallest time: the old base moves into the buffer.
            let old = self.base;
            if !wide {
                let shift = (old - t) as u32; // fits: the whole span was checked
                self.buf[1..n].iter_mut().for_each(|o| *o += shift);
                self.last_off += shift;
            }
            self.base = t;
            self.put(1, old);
        } else {
            self.put(pos, t);
            if pos == n && !wide {
                self.last_off = (t - self.base) as u32;
            }
        }
        pos
    }

    /// Removes the `k` smallest times (all of them when `k >= len()`).
    pub(crate) fn drop_front(&mut self, k: usize) {
        let n = self.len();
        if k == 0 || n == 0 {
            return;
        }
        if k >= n {
            *self = Self::one(0);
            self.len = 0;
            return;
        }
        let rest = n - k;
        if rest == 1 {
            *self = Self::one(self.last());
            return;
        }
        if rest == 2 && !self.is_wide() {
            *self = Self::two(self.get(k), self.last());
            return;
        }
        let new_base = self.get(k);
        let per = if self.is_wide() { 2 } else { 1 };
        // Times k+1..n (buf elements k..n-1) move to buf elements 0..rest-1.
        self.buf.copy_within(per * k..per * (n - 1), 0);
        if !self.is_wide() {
            let d = (new_base - self.base) as u32;
            self.buf[..rest - 1].iter_mut().for_each(|o| *o -= d);
            self.last_off -= d;
        }
        self.base = new_base;
        self.len = header(rest, self.is_wide());
        if self.capacity() >= 2 * rest + 8 && self.buf.len() > MIN_WORDS {
            self.regrow(rest, self.is_wide());
        }
    }

    /// Reallocates for `need` times in the given format, keeping the current times.
    fn regrow(&mut self, need: usize, wide: bool) {
        let n = self.len();
        let mut next = Self {
            base: self.base,
            buf: vec![0u32; words_for(need, wide)].into_boxed_slice(),
            len: header(n, wide),
            last_off: 0,
        };
        for i in 1..n {
            next.put(i, self.get(i));
        }
        if !wide {
            next.last_off = (self.last() - self.base) as u32;
        }
        *self = next;
    }

    /// Heap bytes held, as the allocator charges them.
    pub(crate) fn heap_bytes(&self) -> usize {
        heap_cost(self.buf.len() * 4)
    }
}

fn fits_narrow(lo: i64, hi: i64) -> bool {
    (i128::from(hi) - i128::from(lo)) <= i128::from(u32::MAX)
}

fn header(n: usize, wide: bool) -> u32 {
    (n as u32 & LEN_MASK) | if wide { WIDE } else { 0 }
}

/// Words of a buffer for `n` times (the first is inline), rounded up so that the request
/// (16k − 8 bytes) plus the allocator's 8-byte header fills a chunk exactly.
fn words_for(n: usize, wide: bool) -> usize {
    let rest = n.saturating_sub(1);
    let words = if wide { 2 * rest } else { rest }.max(MIN_WORDS);
    (words + 2).next_multiple_of(4) - 2
}

fn split(t: i64) -> (u32, u32) {
    let u = t as u64;
    ((u >> 32) as u32, u as u32)
}

fn join(hi: u32, lo: u32) -> i64 {
    ((u64::from(hi) << 32) | u64::from(lo)) as i64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(t: &Times, model: &[i64]) {
        assert_eq!(t.len(), model.len());
        assert_eq!(t.iter().collect::<Vec<_>>(), model);
    }

    #[test]
    fn single_times_do_not_allocate() {
        let t = Times::one(42);
        assert_eq!(
            (t.len(), t.first(), t.last(), t.heap_bytes()),
            (1, 42, 42, 0)
        );
        let mut t = Times::one(42);
        t.insert(40);
        check(&t, &[40, 42]);
        assert_eq!(t.heap_bytes(), 0);
        t.insert(45);
        check(&t, &[40, 42, 45]);
        assert_eq!(t.heap_bytes(), 32); // 24 bytes requested: a 32-byte chunk
        for k in 0..7 {
            t.insert(50 + k);
        }
        assert_eq!(t.buf.len(), 10);
        assert_eq!(t.heap_bytes(), 48); // 10 times, 9 in 40 bytes: a 48-byte chunk, no waste
        t.drop_front(9);
        check(&t, &[56]);
        assert_eq!(t.heap_bytes(), 0);
    }

    #[test]
    fn spans_beyond_u32_switch_to_wide() {
        let mut t = Times::one(0);
        t.insert(5_000_000_000);
        t.insert(-7);
        t.insert(i64::MAX);
        t.insert(i64::MIN);
        check(&t, &[i64::MIN, -7, 0, 5_000_000_000, i64::MAX]);
        assert_eq!(t.count_before(0), 2);
        t.drop_front(1);
        check(&t, &[-7, 0, 5_000_000_000, i64::MAX]);
        let w = Times::from_sorted(&[1, 2, 10_000_000_000]).unwrap();
        check(&w, &[1, 2, 10_000_000_000]);
    }

    #[test]
    fn windows_and_trims() {
        let mut t = Times::from_sorted(&[10, 20, 20, 30, 40]).unwrap();
        assert_eq!(t.count_before(20), 1);
        assert_eq!(t.count_before(21), 3);
        assert_eq!(t.count_before(1000), 5);
        assert_eq!(t.count_before(10), 0);
        let mut out = vec![];
        assert_eq!(t.copy_before(31, &mut out), 4);
        assert_eq!(out, vec![10, 20, 20, 30]);
        t.drop_front(3);
        check(&t, &[30, 40]);
        t.drop_front(5);
        assert_eq!(t.len(), 0);
        t.insert(7);
        check(&t, &[7]);
        assert!(Times::from_sorted(&[]).is_none());
    }

    #[test]
    fn counting_below_scans_the_ends_and_searches_the_middle_alike() {
        for n in 0..80u32 {
            let offsets: Vec<u32> = (0..n).map(|i| i * 10).collect();
            for off in 0..=u64::from(n) * 10 + 1 {
                assert_eq!(
                    count_below(&offsets, off),
                    offsets.partition_point(|&o| u64::from(o) < off),
                    "n {n}, off {off}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_sorted_vec(
            start in any::<i64>(),
            ops in prop::collection::vec((0u8..8, -10_000_000i64..10_000_000, 0usize..6), 1..200),
            spread in prop::sample::select(vec![1i64, 1000, 1 << 40]),
        ) {
            let mut t = Times::one(start);
            let mut model = vec![start];
            for (op, delta, k) in ops {
                if op < 6 || model.is_empty() {
                    let x = start.saturating_add(delta.saturating_mul(spread));
                    let pos = t.insert(x);
                    let mpos = model.partition_point(|&y| y <= x);
                    model.insert(mpos, x);
                    prop_assert_eq!(pos, mpos);
                } else if op == 6 {
                    t.drop_front(k);
                    model.drain(..k.min(model.len()));
                    if model.is_empty() {
                        prop_assert_eq!(t.len(), 0);
                        t = Times::one(start);
                        model.push(start);
                    }
                } else {
                    let limit = start.saturating_add(delta.saturating_mul(spread));
                    let mut out = vec![];
                    let k = t.copy_before(limit, &mut out);
                    let expect: Vec<i64> = model.iter().copied().filter(|&y| y < limit).collect();
                    prop_assert_eq!(k, expect.len());
                    prop_assert_eq!(out, expect);
                }
                prop_assert_eq!(t.iter().collect::<Vec<_>>(), model.clone());
                prop_assert!(t.capacity() >= t.len());
                if let (Some(&f), Some(&l)) = (model.first(), model.last()) {
                    prop_assert_eq!((t.first(), t.last()), (f, l));
                }
            }
            let rebuilt = Times::from_sorted(&model).unwrap();
            prop_assert_eq!(rebuilt.iter().collect::<Vec<_>>(), model);
        }
    }
}
