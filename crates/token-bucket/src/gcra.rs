//! The GCRA decision on one atomic word: the theoretical arrival time (TAT).
//!
//! Time is nanoseconds since the limiter's origin. A request for `n` tokens
//! costs `n · T` (`T` the emission interval); it conforms when
//! `max(tat, now) + n·T - now <= τ` with `τ = burst · T`, and then the TAT
//! becomes `max(tat, now) + n·T`. "Tokens available" is
//! `(τ - (max(tat, now) - now)) / T`.
//!
//! The quota (`T`, `τ`, burst) lives beside the TAT and changes only while a
//! reconfiguration holds the TAT at [`RECONFIGURING`]. Deciders read the
//! quota *after* loading the TAT, and a reconfiguration never writes back the
//! TAT it found, so a successful CAS proves the quota it used was current.

use crate::quota::Quota;
use crate::sync::{AtomicU64, Ordering, spin};

/// Where a bucket's time starts (ns): decisions never happen at 0, so a
/// reconfiguration can always find a "full bucket" TAT below now that
/// differs from the one it replaced.
pub(crate) const EPOCH: u64 = 1 << 32;

/// The latest bucket time (ns): clocks saturate here. With intervals and
/// tolerances capped at [`MAX_SPAN`], every TAT a decision can store stays
/// below `HORIZON + 2·MAX_SPAN < RECONFIGURING`: arithmetic never
/// saturates, so every `Retry-After` is exact.
pub(crate) const HORIZON: u64 = u64::MAX / 2;

/// The longest emission interval or burst tolerance (ns): about 146 years.
pub(crate) const MAX_SPAN: u64 = u64::MAX / 4;

/// The TAT value that marks a reconfiguration in progress.
pub(crate) const RECONFIGURING: u64 = u64::MAX;

/// The outcome of one decision, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Admitted; the TAT is now this.
    Admit { tat: u64 },
    /// Denied; it would conform after this many nanoseconds.
    Wait { ns: u64 },
    /// More than the burst: never conforms.
    Never { burst: u32 },
}

/// A consistent view of the cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct View {
    pub(crate) tat: u64,
    pub(crate) interval: u64,
    pub(crate) tolerance: u64,
    pub(crate) burst: u32,
}

impl View {
    /// Tokens available at `now`.
    pub(crate) fn available(&self, now: u64) -> u64 {
        let debt = self.tat.max(now) - now;
        self.tolerance.saturating_sub(debt) / self.interval
    }

    /// The decision for `n` tokens at `now` on this state, taking nothing.
    pub(crate) fn judge(&self, now: u64, n: u32) -> Decision {
        let Some(cost) = cost_of(n, self.interval, self.tolerance) else {
            return Decision::Never { burst: self.burst };
        };
        let tat = self.tat.max(now).saturating_add(cost);
        match (tat - now).checked_sub(self.tolerance) {
            Some(ns) if ns > 0 => Decision::Wait { ns },
            _ => Decision::Admit { tat },
        }
    }

    /// Nanoseconds from `now` until the bucket is full again.
    pub(crate) fn until_full(&self, now: u64) -> u64 {
        self.tat.max(now) - now
    }
}

/// The TAT cell and its quota.
#[derive(Debug)]
pub(crate) struct Gcra {
    tat: AtomicU64,
    interval: AtomicU64,
    tolerance: AtomicU64,
    burst: AtomicU64,
}

impl Gcra {
    pub(crate) fn new(quota: Quota) -> Self {
        Self {
            tat: AtomicU64::new(0),
            interval: AtomicU64::new(quota.interval_ns),
            tolerance: AtomicU64::new(quota.tolerance_ns()),
            burst: AtomicU64::new(u64::from(quota.burst())),
        }
    }

    /// The current TAT, waiting out a reconfiguration.
    #[inline]
    fn load_tat(&self) -> u64 {
        loop {
            let tat = self.tat.load(Ordering::Acquire);
            if tat != RECONFIGURING {
                return tat;
            }
            spin();
        }
    }

    #[inline]
    fn quota(&self) -> (u64, u64) {
        (
            self.interval.load(Ordering::Relaxed),
            self.tolerance.load(Ordering::Relaxed),
        )
    }

    fn burst(&self) -> u32 {
        u32::try_from(self.burst.load(Ordering::Relaxed)).unwrap_or(u32::MAX)
    }

    /// A consistent snapshot (TAT and quota from the same configuration).
    pub(crate) fn view(&self) -> View {
        loop {
            let tat = self.load_tat();
            let (interval, tolerance) = self.quota();
            let burst = self.burst();
            if self.tat.load(Ordering::Acquire) == tat {
                return View {
                    tat,
                    interval,
                    tolerance,
                    burst,
                };
            }
        }
    }

    /// Admits `n` tokens at `now` if they conform: one CAS on success.
    #[inline]
    pub(crate) fn try_admit(&self, now: u64, n: u32) -> Decision {
        let mut tat = self.load_tat();
        loop {
            let (interval, tolerance) = self.quota();
            let Some(cost) = cost_of(n, interval, tolerance) else {
                return Decision::Never {
                    burst: self.burst(),
                };
            };
            let new = tat.max(now).saturating_add(cost);
            let ahead = new - now;
            if ahead > tolerance || new == RECONFIGURING {
                return Decision::Wait {
                    ns: ahead.saturating_sub(tolerance).max(1),
                };
            }
            match self
                .tat
                .compare_exchange_weak(tat, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Decision::Admit { tat: new },
                Err(RECONFIGURING) => tat = self.load_tat(),
                Err(current) => tat = current,
            }
        }
    }

    /// Books `n` tokens at `now` whether or not they conform yet (a
    /// reservation). Returns the new TAT and the cost booked, or the burst if
    /// `n` exceeds it. The tokens become usable at `tat - tolerance`.
    ///
    /// `credit` (ns, capped at one interval) is how late the previous
    /// waiter in a queue was released: if the TAT is no older than that,
    /// the booking continues the chain from the TAT instead of restarting
    /// from now, so a late timer tick does not cost the queue its rate.
    /// Ready instants stay one cost apart; 0 is a plain booking.
    pub(crate) fn reserve(&self, now: u64, n: u32, credit: u64) -> Result<(View, u64), u32> {
        let mut tat = self.load_tat();
        loop {
            let (interval, tolerance) = self.quota();
            let Some(cost) = cost_of(n, interval, tolerance) else {
                return Err(self.burst());
            };
            // At most one interval: enough for a timer tick, and a stalled
            // executor cannot turn lateness into a burst.
            let credit = credit.min(interval);
            let base = if tat >= now.saturating_sub(credit) {
                tat
            } else {
                now
            };
            let new = base.saturating_add(cost).min(RECONFIGURING - 1);
            match self
                .tat
                .compare_exchange_weak(tat, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    let view = View {
                        tat: new,
                        interval,
                        tolerance,
                        burst: self.burst(),
                    };
                    return Ok((view, cost));
                }
                Err(RECONFIGURING) => tat = self.load_tat(),
                Err(current) => tat = current,
            }
        }
    }

    /// Gives back a booking that left the TAT at `end`, if nothing was booked
    /// or reconfigured after it (later bookings were timed behind it: a
    /// refund would let two callers use the same capacity). Returns whether
    /// it refunded.
    pub(crate) fn refund(&self, end: u64, cost: u64) -> bool {
        self.tat
            .compare_exchange(
                end,
                end - cost.min(end),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Replaces the quota at `now`, keeping the tokens available now (capped
    /// at the new burst), so a change never grants extra tokens. Callers
    /// serialise reconfigurations (they hold a mutex).
    pub(crate) fn reconfigure(&self, now: u64, quota: Quota) {
        // Lock: from here until `unlock`, deciders spin and CASes fail.
        let old_tat = loop {
            let tat = self.load_tat();
            if self
                .tat
                .compare_exchange_weak(tat, RECONFIGURING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                break tat;
            }
        };
        let (old_interval, old_tolerance) = self.quota();
        let (new_interval, new_tolerance) = (quota.interval_ns, quota.tolerance_ns());
        let debt = old_tat.max(now) - now;
        let new_debt = rescale_debt(
            debt,
            old_interval,
            old_tolerance,
            new_interval,
            new_tolerance,
        );
        let mut new_tat = now.saturating_add(new_debt).min(RECONFIGURING - 1);
        // Never write back the TAT a decider may hold (ABA): its CAS would
        // succeed with the old quota. A full bucket has many equivalent
        // TATs (any value <= now); otherwise one nanosecond of extra debt is
        // the conservative way out.
        if new_tat == old_tat {
            new_tat = if new_debt == 0 && now > 0 {
                now - 1
            } else if new_tat < RECONFIGURING - 1 {
                new_tat + 1
            } else {
                new_tat - 1
            };
        }
        self.interval.store(new_interval, Ordering::Relaxed);
        self.tolerance.store(new_tolerance, Ordering::Relaxed);
        self.burst
            .store(u64::from(quota.burst()), Ordering::Relaxed);
        self.tat.store(new_tat, Ordering::Release);
    }
}

/// The cost of `n` tokens in nanoseconds, or `None` if it exceeds the
/// tolerance (more than the burst: never admitted).
#[inline]
pub(crate) fn cost_of(n: u32, interval: u64, tolerance: u64) -> Option<u64> {
    interval
        .checked_mul(u64::from(n))
        .filter(|&cost| cost <= tolerance)
}

/// The debt (ns ahead of now) under the new quota that leaves the same
/// number of tokens available as `debt` under the old one, capped at the new
/// burst. Rounds towards more debt.
pub(crate) fn rescale_debt(
    debt: u64,
    old_interval: u64,
    old_tolerance: u64,
    new_interval: u64,
    new_tolerance: u64,
) -> u64 {
    // Available now, in old nanoseconds; negative if over-booked.
    let avail_old = i128::from(old_tolerance) - i128::from(debt);
    let scaled = avail_old
        .checked_mul(i128::from(new_interval))
        .map(|x| {
            let d = i128::from(old_interval);
            // Floor division: fewer tokens available, never more.
            x.div_euclid(d)
        })
        .unwrap_or_else(|| {
            (avail_old as f64 * new_interval as f64 / old_interval as f64).floor() as i128
        });
    let avail_new = scaled.min(i128::from(new_tolerance));
    let new_debt = i128::from(new_tolerance) - avail_new;
    u64::try_from(new_debt.max(0)).unwrap_or(u64::MAX)
}
