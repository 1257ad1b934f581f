//! Batching by size or time: the settings ([`Batch`], [`TimerMode`]), the
//! standalone stream adapters ([`batch`], [`batch_hand_back`]) and the
//! lent batch of hand-back mode ([`Loan`]).

mod config;
pub(crate) mod core;
mod stream;

pub use config::{Batch, TimerMode};
pub use stream::{Batched, HandBackBatched, Loan, batch, batch_hand_back};
