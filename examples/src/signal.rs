//! SIGINT (Ctrl-C) and SIGTERM for the binaries that stop gracefully. The
//! handlers are installed when [`Interrupts`] is created, so a signal sent
//! once the binary has printed anything is never missed, and never kills
//! it: it is the binary's to handle (stop, drain, report).

use std::io;

use sluicegate::pipeline::CancelToken;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::JoinHandle;

/// The stop requests a run listens to: Ctrl-C, and optionally SIGTERM
/// (`kill`), from the moment this is created.
#[derive(Debug)]
pub struct Interrupts {
    interrupt: Signal,
    terminate: Option<Signal>,
}

impl Interrupts {
    /// Installs the handlers now: SIGINT, and SIGTERM too if `terminate`.
    /// From then on these signals no longer kill the process (tokio's
    /// handlers stay installed until it exits).
    ///
    /// # Errors
    ///
    /// When a handler cannot be installed.
    pub fn new(terminate: bool) -> io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: if terminate {
                Some(signal(SignalKind::terminate())?)
            } else {
                None
            },
        })
    }

    /// Waits for the next stop request: `Some("SIGINT")` or
    /// `Some("SIGTERM")`, or `None` once no more can come.
    pub async fn next(&mut self) -> Option<&'static str> {
        match &mut self.terminate {
            None => self.interrupt.recv().await.map(|()| "SIGINT"),
            Some(terminate) => tokio::select! {
                received = self.interrupt.recv() => received.map(|()| "SIGINT"),
                received = terminate.recv() => received.map(|()| "SIGTERM"),
            },
        }
    }
}

/// Spawns the Ctrl-C handling of a pipeline run on tokio: the first stop
/// request calls `on_cancel` and then cancels `token` (gracefully: the
/// source stops and the rest drains); a second calls `on_abort` and then
/// aborts it (what is in flight is dropped, counted). The hooks run first
/// so that what they record is there before the run can end. Without
/// `interrupts` (the handlers could not be installed) it does nothing.
pub fn cancel_on_ctrl_c(
    interrupts: Option<Interrupts>,
    token: CancelToken,
    on_cancel: impl FnOnce() + Send + 'static,
    on_abort: impl FnOnce() + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(mut interrupts) = interrupts else {
            return;
        };
        if interrupts.next().await.is_none() {
            return;
        }
        on_cancel();
        token.cancel();
        if interrupts.next().await.is_some() {
            on_abort();
            token.abort();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `signal` to this test process, which must be listening for it.
    fn raise(signal: &str) {
        let pid = std::process::id().to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    #[tokio::test]
    async fn each_signal_is_caught_and_named() {
        let mut interrupts = Interrupts::new(true).expect("handlers");
        raise("TERM");
        assert_eq!(interrupts.next().await, Some("SIGTERM"));
        raise("INT");
        assert_eq!(interrupts.next().await, Some("SIGINT"));
    }
}
