//! Broadcast: every subscriber gets every item, each through its own
//! bounded buffer.

mod policy;
pub(crate) mod publisher;
mod shared;
mod stats;
mod subscriber;

pub use policy::SlowConsumer;
pub use publisher::{Publisher, broadcast};
pub use stats::{BroadcastStats, SubscriberStats};
pub use subscriber::Subscriber;
