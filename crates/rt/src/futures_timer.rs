//! A sleeper on [futures-timer](https://docs.rs/futures-timer) (feature
//! `futures-timer`): a timer thread that works with any executor.

use std::time::Duration;

use crate::Sleeper;
use crate::sleep::FAR_FUTURE;

/// Sleeps with `futures_timer::Delay`, which needs no runtime at all.
#[derive(Debug, Default, Clone, Copy)]
pub struct FuturesTimerSleeper;

impl Sleeper for FuturesTimerSleeper {
    type Sleep = futures_timer::Delay;

    fn sleep(&self, dur: Duration) -> futures_timer::Delay {
        // `Delay::new` computes `Instant::now() + dur`, which would overflow.
        futures_timer::Delay::new(dur.min(FAR_FUTURE))
    }
}
