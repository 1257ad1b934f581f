//! Model-based property test: any sequence of try_send / try_recv /
//! try_reserve / permit send / permit drop, under any policy and capacity,
//! matches a plain `VecDeque` model exactly: contents, drop log, counters,
//! and the accounting invariant after every step.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use sluicegate_backpressure::{DropReason, Overflow, Permit, SendError, TryReserveError};

#[derive(Debug, Clone)]
enum Op {
    TrySend,
    TryRecv,
    Reserve,
    PermitSend(usize),
    PermitDrop(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::TrySend),
        3 => Just(Op::TryRecv),
        1 => Just(Op::Reserve),
        1 => any::<usize>().prop_map(Op::PermitSend),
        1 => any::<usize>().prop_map(Op::PermitDrop),
    ]
}

fn policy() -> impl Strategy<Value = Overflow> {
    prop_oneof![
        Just(Overflow::Block),
        Just(Overflow::Reject),
        Just(Overflow::DropOldest),
        Just(Overflow::DropNewest),
    ]
}

#[derive(Default)]
struct Model {
    queue: VecDeque<u32>,
    reserved: usize,
    dropped: Vec<(u32, DropReason)>,
    sent: u64,
    received: u64,
    full_events: u64,
    rejected: u64,
    high_watermark: usize,
}

impl Model {
    fn taken(&self) -> usize {
        self.queue.len() + self.reserved
    }

    fn take_slot(&mut self, capacity: usize) -> bool {
        if self.taken() < capacity {
            self.high_watermark = self.high_watermark.max(self.taken() + 1);
            true
        } else {
            false
        }
    }
}

proptest! {
    #[test]
    fn the_queue_matches_a_model(
        capacity in 1usize..5,
        policy in policy(),
        ops in proptest::collection::vec(op(), 0..200),
    ) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        let (tx, rx) = sluicegate_backpressure::builder::<u32>(capacity)
            .policy(policy)
            .on_drop(move |item, reason| sink.lock().unwrap().push((item, reason)))
            .build()
            .unwrap();
        let mut m = Model::default();
        let mut permits: Vec<Permit<u32>> = Vec::new();
        let mut next = 0u32;

        for op in ops {
            match op {
                Op::TrySend => {
                    let item = next;
                    next += 1;
                    let got = tx.try_send(item);
                    let want = if m.take_slot(capacity) {
                        m.queue.push_back(item);
                        m.sent += 1;
                        Ok(())
                    } else {
                        m.full_events += 1;
                        match policy {
                            Overflow::DropNewest => {
                                m.dropped.push((item, DropReason::Newest));
                                m.sent += 1;
                                Ok(())
                            }
                            Overflow::DropOldest if !m.queue.is_empty() => {
                                let oldest = m.queue.pop_front().unwrap();
                                m.dropped.push((oldest, DropReason::Oldest));
                                m.queue.push_back(item);
                                m.sent += 1;
                                Ok(())
                            }
                            _ => {
                                m.rejected += 1;
                                Err(SendError::Full(item))
                            }
                        }
                    };
                    prop_assert_eq!(got, want);
                }
                Op::TryRecv => {
                    let got = rx.try_recv().ok();
                    let want = m.queue.pop_front();
                    if want.is_some() {
                        m.received += 1;
                    }
                    prop_assert_eq!(got, want);
                }
                Op::Reserve => {
                    let got = tx.try_reserve();
                    if m.take_slot(capacity) {
                        m.reserved += 1;
                        permits.push(got.unwrap());
                    } else {
                        m.full_events += 1;
                        prop_assert_eq!(got.unwrap_err(), TryReserveError::Full);
                    }
                }
                Op::PermitSend(i) if !permits.is_empty() => {
                    let permit = permits.swap_remove(i % permits.len());
                    permit.send(next);
                    m.reserved -= 1;
                    m.queue.push_back(next);
                    m.sent += 1;
                    next += 1;
                }
                Op::PermitDrop(i) if !permits.is_empty() => {
                    drop(permits.swap_remove(i % permits.len()));
                    m.reserved -= 1;
                }
                Op::PermitSend(_) | Op::PermitDrop(_) => {}
            }
            let s = tx.stats();
            prop_assert_eq!(s.len, m.queue.len());
            prop_assert_eq!(s.reserved, m.reserved);
            prop_assert_eq!(s.sent, m.sent);
            prop_assert_eq!(s.received, m.received);
            prop_assert_eq!(s.dropped, m.dropped.len() as u64);
            prop_assert_eq!(s.full_events, m.full_events);
            prop_assert_eq!(s.rejected, m.rejected);
            prop_assert_eq!(s.high_watermark, m.high_watermark);
            prop_assert_eq!(s.sent, s.received + s.len as u64 + s.dropped);
            prop_assert_eq!(&*log.lock().unwrap(), &m.dropped);
        }
        // Closing: the queued items go to the callback, counted.
        drop(permits);
        drop(rx);
        for item in m.queue.drain(..) {
            m.dropped.push((item, DropReason::Closed));
        }
        prop_assert_eq!(&*log.lock().unwrap(), &m.dropped);
        let s = tx.stats();
        prop_assert_eq!((s.len, s.reserved), (0, 0));
        prop_assert_eq!(s.sent, s.received + s.dropped);
    }
}
