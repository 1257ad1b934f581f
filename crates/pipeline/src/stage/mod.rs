//! The stage types a [`Pipeline`](crate::Pipeline) is built from. You never
//! need to name them: they appear only as the type parameters of a
//! pipeline under construction.

mod batch;
pub(crate) mod ctx;
mod join;
mod parallel;
mod pull;
mod pump;
mod sink;
mod source;
mod steps;
mod sync_steps;

pub use batch::{BatchStage, Lend, Plain};
pub use ctx::Weighted;
pub use join::{Join, NoDrivers};
pub use parallel::{AlwaysOkOutput, Fallible, Infallible, Order, Parallel, TaskFn};
pub use pull::{Fold, Pull};
pub use pump::{Drain, Pump};
pub use sink::{SinkOutput, SinkStage};
pub use source::{Emit, Emitter, GenSource, Generate, Source};
pub use steps::{AsyncFn, AsyncStep, Filter, FilterAsync, Map, MapAsync, TryMap, TryMapAsync};
pub use sync_steps::{
    FilterFn, FilterSync, MapFn, MapSync, Step, SyncFn, SyncStep, TryMapFn, TryMapSync,
};
