//! The [`Spawner`] trait: how a primitive starts tasks.

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable unit of work, as handed to closure spawners.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Starts a `Send + 'static` future on some executor and lets it run to
/// completion on its own (the task is detached).
///
/// Any `Fn(BoxFuture)` closure is a spawner, so `|f| { tokio::spawn(f); }`
/// works directly. Adapters behind this crate's features (`TokioSpawner`,
/// `SmolSpawner`, `ThreadSpawner`) spawn without the extra box.
///
/// ```
/// use sluicegate_rt::{BoxFuture, Spawner};
/// use std::sync::mpsc;
///
/// fn start(spawner: &impl Spawner, tx: mpsc::Sender<u32>) {
///     spawner.spawn(async move { tx.send(7).unwrap() });
/// }
///
/// // A spawner that runs each task to completion on a fresh thread.
/// let on_thread = |f: BoxFuture| {
///     std::thread::spawn(move || sluicegate_rt::block_on(f));
/// };
/// let (tx, rx) = mpsc::channel();
/// start(&on_thread, tx);
/// assert_eq!(rx.recv().unwrap(), 7);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Spawner`",
    note = "pass a spawner: a closure such as `|f| {{ tokio::spawn(f); }}`, or an adapter from one of sluicegate-rt's features (`tokio`, `smol`, `threads`)"
)]
pub trait Spawner {
    /// Start `fut` as an independent task.
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static;
}

impl<S> Spawner for S
where
    S: Fn(BoxFuture),
{
    #[inline]
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self(Box::pin(fut))
    }
}
