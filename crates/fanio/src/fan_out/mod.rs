//! Fan-out: one stream to N workers, results fanned back in.

mod builder;
mod distribution;
mod feeder;
mod output;
mod queue;
mod shared;
mod stats;
mod worker;

pub use builder::{
    DEFAULT_CAPACITY, FanOutBuilder, MAX_CAPACITY, MAX_WORKERS, fan_out, fan_out_keyed,
};
pub use distribution::{Distribution, KeyFn};
pub use output::{Cancelled, FanOut, StatsHandle};
pub use stats::{FanOutStats, WorkerStats};
