//! Loom models of the GCRA cell: every interleaving of concurrent decisions
//! and reconfigurations. Run with
//! `RUSTFLAGS="--cfg sluicegate_loom" cargo test -p sluicegate-token-bucket --lib --release`.
//!
//! The cfg is not plain `loom`: that would also switch tokio (a
//! dev-dependency) into its own loom mode, which does not build outside
//! tokio's workspace.

use loom::sync::Arc;
use loom::thread;

use crate::gcra::{Decision, Gcra};
use crate::quota::Quota;

/// Bucket time starts at `EPOCH`, never 0.
const NOW: u64 = crate::gcra::EPOCH;

fn quota(burst: u32) -> Quota {
    // 1 token per 100 ns.
    Quota::new(1, std::time::Duration::from_nanos(100))
        .unwrap()
        .with_burst(burst)
        .unwrap()
}

fn admitted(d: Decision) -> u64 {
    u64::from(matches!(d, Decision::Admit { .. }))
}

#[test]
fn two_deciders_never_share_the_last_token() {
    loom::model(|| {
        let cell = Arc::new(Gcra::new(quota(1)));
        let other = Arc::clone(&cell);
        let t = thread::spawn(move || admitted(other.try_admit(NOW, 1)));
        let here = admitted(cell.try_admit(NOW, 1));
        let there = t.join().unwrap();
        assert_eq!(here + there, 1, "exactly one of two gets the only token");
    });
}

#[test]
fn concurrent_admissions_all_land_in_the_tat() {
    loom::model(|| {
        let cell = Arc::new(Gcra::new(quota(3)));
        let other = Arc::clone(&cell);
        let t = thread::spawn(move || admitted(other.try_admit(NOW, 2)));
        let here = admitted(cell.try_admit(NOW, 1));
        let there = t.join().unwrap();
        let view = cell.view();
        // Both fit (1 + 2 <= 3): both admitted, both costs in the TAT.
        assert_eq!(here + there, 2);
        assert_eq!(view.tat, NOW + 300);
        assert_eq!(view.available(NOW), 0);
    });
}

#[test]
fn a_reconfiguration_racing_a_decision_grants_nothing_extra() {
    loom::model(|| {
        // Burst 2, full. One thread takes tokens while the other lowers the
        // burst to 1 (keeping the tokens available, capped).
        let cell = Arc::new(Gcra::new(quota(2)));
        let other = Arc::clone(&cell);
        let t = thread::spawn(move || {
            admitted(other.try_admit(NOW, 1)) + admitted(other.try_admit(NOW, 1))
        });
        cell.reconfigure(NOW, quota(1));
        let taken = t.join().unwrap();
        let left = cell.view().available(NOW);
        // Tokens used plus tokens left never exceed the 2 there were, and
        // what is left respects the new burst.
        assert!(taken + left <= 2, "taken {taken} + left {left}");
        assert!(left <= 1);
        assert!(taken >= 1, "the first token was always there");
        assert_eq!(cell.view().burst, 1);
    });
}

#[test]
fn a_refund_under_a_later_booking_is_refused() {
    loom::model(|| {
        let cell = Arc::new(Gcra::new(quota(1)));
        let (first, cost) = cell.reserve(NOW, 1, 0).unwrap();
        let other = Arc::clone(&cell);
        let t = thread::spawn(move || other.reserve(NOW, 1, 0).unwrap().0.tat);
        let refunded = cell.refund(first.tat, cost);
        let second_end = t.join().unwrap();
        let tat = cell.view().tat;
        if refunded {
            // The refund came first: the second booking took the freed slot.
            assert_eq!(second_end, NOW + 100);
            assert_eq!(tat, NOW + 100);
        } else {
            // The second booking came first; the first stays booked.
            assert_eq!(second_end, NOW + 200);
            assert_eq!(tat, NOW + 200);
        }
    });
}

#[test]
fn a_big_request_decided_on_the_old_quota_cannot_land_after_a_burst_cut() {
    loom::model(|| {
        // Burst 4 cut to 1 while another thread asks for 3 at once. Either
        // the 3 come first (then 1 token is left, capped) or the cut does
        // (then 3 exceeds the burst). A decision on the old quota applied
        // after the cut would leave the bucket owing more than its burst.
        let cell = Arc::new(Gcra::new(quota(4)));
        // Full again with its TAT exactly at now (4 tokens taken 4 intervals
        // ago): the state in which a careless reconfiguration would write
        // back the very TAT a racing decider read (ABA).
        assert_eq!(admitted(cell.try_admit(NOW - 400, 4)), 1);
        assert_eq!(cell.view().tat, NOW);
        let other = Arc::clone(&cell);
        let t = thread::spawn(move || admitted(other.try_admit(NOW, 3)));
        cell.reconfigure(NOW, quota(1));
        let taken = t.join().unwrap();
        let view = cell.view();
        assert!(
            view.tat.max(NOW) - NOW <= view.tolerance,
            "over-booked: {view:?}"
        );
        // Both orders leave exactly the one token the new burst allows.
        assert_eq!(view.available(NOW), 1, "taken {taken}");
    });
}
