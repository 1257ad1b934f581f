//! The slot arithmetic: where each caller's slot lies on the schedule.
//!
//! Time is counted in nanoseconds since the bucket's origin (its clock's
//! reading when it was built), as `u128`, and saturates at [`NEVER`]
//! (`Duration::MAX`), so no input can overflow it.
//!
//! The schedule is exact, not a sum of rounded intervals: slot `k` after an
//! anchor lies at `anchor + ⌈k · period / count⌉`. Rounding never
//! accumulates, so `count` slots always span exactly `period`, however the
//! period divides (3 per second is 333 333 334, 333 333 333, 333 333 333 ns).

use std::num::NonZeroU32;
use std::time::Duration;

/// The end of time: `Duration::MAX` in nanoseconds. Every instant saturates
/// here.
pub(crate) const NEVER: u128 = Duration::MAX.as_nanos();

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// `ns` as a `Duration`; `ns <= NEVER` always fits.
pub(crate) fn duration(ns: u128) -> Duration {
    let secs = u64::try_from(ns / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // Below 10^9, so it fits.
    let nanos = u32::try_from(ns % NANOS_PER_SEC).unwrap_or(0);
    Duration::new(secs, nanos)
}

/// The validated rate: `count` slots per `period`, and how much idle time
/// may be banked (`slack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    /// The period in nanoseconds, at least `count` (so slots are at least
    /// 1 ns apart) and at most [`NEVER`].
    period: u128,
    count: NonZeroU32,
    slack: u128,
}

impl Rate {
    /// The caller has checked that `period` holds at least `count`
    /// nanoseconds.
    pub(crate) fn new(count: NonZeroU32, period: Duration, slack: Duration) -> Self {
        Self {
            period: period.as_nanos(),
            count,
            slack: slack.as_nanos(),
        }
    }

    /// `⌈k · period / count⌉` for `k <= count`: at most `u32::MAX · NEVER`,
    /// which fits in a `u128`.
    fn offset(&self, k: u32) -> u128 {
        let count = u64::from(self.count.get());
        let span = u128::from(k) * self.period;
        // A 64-bit division where it fits (every everyday rate): u128
        // division is a library call, several times slower.
        match u64::try_from(span) {
            Ok(span) => u128::from(span.div_ceil(count)),
            Err(_) => span.div_ceil(u128::from(count)),
        }
    }

    /// The spacing of slots, rounded up to whole nanoseconds.
    pub(crate) fn interval(&self) -> Duration {
        duration(self.offset(1))
    }

    pub(crate) fn count(&self) -> u32 {
        self.count.get()
    }

    pub(crate) fn period(&self) -> Duration {
        duration(self.period)
    }

    pub(crate) fn slack(&self) -> Duration {
        duration(self.slack)
    }
}

/// Where the next slot lies: `taken` slots after `anchor` (`taken < count`;
/// every `count` slots the anchor moves on by exactly one period).
///
/// `credit` is how late the last slot was released (the timer's or the
/// executor's lateness). The next caller may take its slot that much
/// earlier than its arrival, so a consumer that comes straight back after a
/// late wake-up stays on the schedule instead of restarting it from its
/// arrival (the drift of re-arming from "now"). Slots still never come
/// closer than one interval; a consumer that is merely slow gets no credit,
/// since its releases are not late for their slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    anchor: u128,
    taken: u32,
    credit: u128,
    /// `anchor + offset(taken)`, kept up to date by [`take`](Self::take)
    /// (the rate of a bucket never changes), so queries do no division.
    next: u128,
}

impl Schedule {
    /// A fresh schedule: the first slot is at the origin, and nothing is
    /// banked yet.
    pub(crate) const START: Self = Self {
        anchor: 0,
        taken: 0,
        credit: 0,
        next: 0,
    };

    fn compute_next(&self, rate: &Rate) -> u128 {
        self.anchor
            .saturating_add(rate.offset(self.taken))
            .min(NEVER)
    }

    /// The slot a caller who arrived at `arrival` gets next:
    /// `max(previous slot + interval, arrival - slack - credit)`. It depends
    /// on when the caller *arrived*, not on when it is computed, so a late
    /// wake-up never pushes the schedule back.
    pub(crate) fn slot_for(&self, rate: &Rate, arrival: u128) -> u128 {
        if self.earliest(rate, arrival) > self.next {
            // Idle beyond slack and credit: a restart, which the credit
            // never moves (it only continues a chain).
            arrival.saturating_sub(rate.slack)
        } else {
            self.next
        }
    }

    fn earliest(&self, rate: &Rate, arrival: u128) -> u128 {
        arrival
            .saturating_sub(rate.slack)
            .saturating_sub(self.credit)
    }

    /// A waiting caller's `slot` was released at `released`: that lateness
    /// was the timer's or the executor's, never the caller's, so it is
    /// credited to the next caller.
    pub(crate) fn released_late(&mut self, rate: &Rate, slot: u128, released: u128) {
        // At most one interval: enough for a timer tick; a stalled executor
        // cannot turn its stall into a burst for the next caller.
        self.credit = released.saturating_sub(slot).min(rate.offset(1));
    }

    /// A caller passed at once at `now` on `slot` (taken with the credit in
    /// force). It keeps only the part of the credit it did not use, so
    /// credit never grows without a late timer: a consumer that is slow by
    /// itself banks nothing.
    pub(crate) fn passed_at_once(&mut self, slot: u128, now: u128) {
        self.credit = now.saturating_sub(slot).min(self.credit);
    }

    /// Gives the next slot to a caller who arrived at `arrival` and returns
    /// it (the same value as [`slot_for`](Self::slot_for)). Callers then
    /// settle the credit with [`released_late`](Self::released_late) or
    /// [`passed_at_once`](Self::passed_at_once).
    pub(crate) fn take(&mut self, rate: &Rate, arrival: u128) -> u128 {
        let earliest = self.earliest(rate, arrival);
        if earliest > self.next {
            // Idle for longer than the slack (and the credit): the schedule
            // restarts at the arrival less the slack, and nothing is owed
            // any more.
            let restart = arrival.saturating_sub(rate.slack);
            self.anchor = restart;
            self.taken = 0;
            self.next = restart;
            self.credit = 0;
        }
        let slot = self.next;
        self.taken += 1;
        if self.taken == rate.count() {
            self.anchor = self.anchor.saturating_add(rate.period).min(NEVER);
            self.taken = 0;
        }
        self.next = self.compute_next(rate);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(count: u32, period_ns: u64, slack_ns: u64) -> Rate {
        Rate::new(
            NonZeroU32::new(count).unwrap(),
            Duration::from_nanos(period_ns),
            Duration::from_nanos(slack_ns),
        )
    }

    #[test]
    fn uneven_periods_do_not_accumulate_rounding() {
        let r = rate(3, 1_000_000_000, 0);
        let mut s = Schedule::START;
        let slots: Vec<u128> = (0..7).map(|_| s.take(&r, 0)).collect();
        assert_eq!(
            slots,
            [
                0,
                333_333_334,
                666_666_667,
                1_000_000_000,
                1_333_333_334,
                1_666_666_667,
                2_000_000_000
            ]
        );
        assert_eq!(r.interval(), Duration::from_nanos(333_333_334));
    }

    #[test]
    fn slack_banks_idle_time_and_restarts_the_schedule() {
        let r = rate(1, 10, 30);
        let mut s = Schedule::START;
        assert_eq!(s.take(&r, 0), 0);
        // Idle until 100: slots from 70 on, one interval apart.
        let slots: Vec<u128> = (0..6).map(|_| s.take(&r, 100)).collect();
        assert_eq!(slots, [70, 80, 90, 100, 110, 120]);
    }

    #[test]
    fn time_saturates_at_never() {
        let r = Rate::new(NonZeroU32::MIN, Duration::MAX, Duration::MAX);
        let mut s = Schedule::START;
        assert_eq!(s.take(&r, 0), 0);
        assert_eq!(s.take(&r, 0), NEVER);
        assert_eq!(s.take(&r, NEVER), NEVER);
        assert_eq!(duration(NEVER), Duration::MAX);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// A valid rate: at least 1 ns per slot.
        fn rates() -> impl Strategy<Value = Rate> {
            let count = prop_oneof![1u32..=16, 1u32..=u32::MAX, Just(u32::MAX)];
            let period = prop_oneof![
                (1u64..=1_000_000_000_000).prop_map(Duration::from_nanos),
                (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
                Just(Duration::MAX),
            ];
            let slack = prop_oneof![
                Just(Duration::ZERO),
                any::<u64>().prop_map(Duration::from_nanos),
                Just(Duration::MAX),
            ];
            (count, period, slack).prop_filter_map("below 1 ns per slot", |(c, p, s)| {
                NonZeroU32::new(c)
                    .filter(|_| p.as_nanos() >= u128::from(c))
                    .map(|c| Rate::new(c, p, s))
            })
        }

        proptest! {
            /// Under a permanent backlog (every caller arrived at the start),
            /// slot k is exactly ⌈k · period / count⌉: no drift, no rounding
            /// build-up, however many slots.
            #[test]
            fn a_backlog_follows_the_exact_grid(rate in rates()) {
                let mut s = Schedule::START;
                for k in 0..5_000u128 {
                    let slot = s.take(&rate, 0);
                    let exact = (k * rate.period).div_ceil(u128::from(rate.count.get()));
                    prop_assert_eq!(slot, exact.min(NEVER));
                }
            }

            /// With arrivals at any (non-decreasing) times: slots never
            /// decrease, never precede `arrival - slack`, are exactly
            /// `max(next, arrival - slack)`, and consecutive slots are at
            /// least ⌊period / count⌋ apart until time saturates.
            #[test]
            fn slots_are_ordered_spaced_and_tight(
                rate in rates(),
                gaps in prop::collection::vec(prop_oneof![
                    4 => 0u128..1_000_000_000,
                    1 => any::<u64>().prop_map(u128::from),
                    1 => Just(NEVER),
                ], 1..300),
            ) {
                let mut s = Schedule::START;
                let mut arrival = 0u128;
                let mut prev: Option<u128> = None;
                let floor = rate.period / u128::from(rate.count.get());
                for gap in gaps {
                    arrival = arrival.saturating_add(gap).min(NEVER);
                    let expected = s.next.max(arrival.saturating_sub(rate.slack));
                    prop_assert_eq!(s.slot_for(&rate, arrival), expected);
                    let slot = s.take(&rate, arrival);
                    prop_assert_eq!(slot, expected);
                    prop_assert!(slot >= arrival.saturating_sub(rate.slack));
                    if let Some(p) = prev {
                        prop_assert!(slot >= p);
                        prop_assert!(slot == NEVER || slot - p >= floor, "{} then {}", p, slot);
                    }
                    prev = Some(slot);
                }
            }
        }
    }
}
