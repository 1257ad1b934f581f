//! The live terminal view (ratatui on crossterm): gauges for the queue's
//! depth and the producer's and consumer's progress, a sparkline of the
//! depth over time, the producer's phase, and the full-event count, high
//! watermark and time blocked. `q`, Esc or Ctrl-C stops the producer and
//! drains; a second press drains without the consumer's work.
//!
//! The terminal is restored when the view ends, returns an error, or
//! panics (ratatui's `try_init` installs a panic hook that restores it).

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::DefaultTerminal;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Gauge, Paragraph, Sparkline, Wrap};
use sluicegate::backpressure::{Receiver, Stats};

use crate::cli::{Ms, Plan, Secs};
use crate::state::{Phase, Shared};

/// Time between two frames.
const FRAME: Duration = Duration::from_millis(50);

/// Time covered by one bar of the sparkline.
const BAR: Duration = Duration::from_millis(200);

/// Bars kept for the sparkline (a narrower terminal shows the last ones).
const HISTORY: usize = 1024;

/// The queue's depth over time, for the sparkline: one bar per [`BAR`] of
/// time, as high as the deepest the queue was seen in it, so that a short
/// peak between two frames still shows.
#[derive(Debug)]
struct DepthHistory {
    bars: VecDeque<u64>,
    /// The deepest seen in the bar being filled.
    current: u64,
    bar_start: Instant,
}

impl DepthHistory {
    fn new(now: Instant) -> Self {
        Self {
            bars: VecDeque::with_capacity(HISTORY),
            current: 0,
            bar_start: now,
        }
    }

    /// Records the depth seen at `now`, closing the bars that ended before.
    fn observe(&mut self, depth: u64, now: Instant) {
        while now.saturating_duration_since(self.bar_start) >= BAR {
            if self.bars.len() == HISTORY {
                self.bars.pop_front();
            }
            self.bars.push_back(self.current);
            self.current = 0;
            self.bar_start += BAR;
        }
        self.current = self.current.max(depth);
    }

    /// The last `width` bars, the one being filled included.
    fn recent(&self, width: usize) -> Vec<u64> {
        let closed = width.saturating_sub(1);
        let mut bars: Vec<u64> = self
            .bars
            .iter()
            .skip(self.bars.len().saturating_sub(closed))
            .copied()
            .collect();
        if width > 0 {
            bars.push(self.current);
        }
        bars
    }
}

/// Sets up the terminal (raw mode, alternate screen, panic hook).
///
/// # Errors
///
/// When the terminal cannot be set up; `main` then falls back to plain
/// mode. `try_init` may fail after it turned raw mode on (entering the
/// alternate screen, or reading the size, failed), so the terminal is
/// restored first: plain lines in raw mode would be garbled, and the shell
/// left raw after the exit.
pub(crate) fn init() -> io::Result<DefaultTerminal> {
    ratatui::try_init().inspect_err(|_| ratatui::restore())
}

/// Restores the terminal when dropped.
#[derive(Debug)]
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Draws the run until it is done (the consumer drained the closed queue),
/// handling keys; restores the terminal before returning.
///
/// # Errors
///
/// When drawing or reading a key fails.
pub(crate) fn run(
    mut terminal: DefaultTerminal,
    plan: &Plan,
    shared: &Arc<Shared>,
    probe: &Receiver<u64>,
) -> io::Result<()> {
    let _restore = Restore;
    let start = Instant::now();
    let mut history = DepthHistory::new(start);
    loop {
        let stats = probe.stats();
        history.observe(stats.len as u64, Instant::now());
        let elapsed = start.elapsed();
        terminal.draw(|frame| draw(frame, plan, shared, &stats, &history, elapsed))?;
        if shared.done.is_set() {
            return Ok(());
        }
        if event::poll(FRAME)? {
            if let Event::Key(key) = event::read()? {
                if is_quit(key) {
                    shared.interrupt();
                }
            }
        }
    }
}

/// `q`, Esc, or Ctrl-C (which raw mode delivers as a key, not a signal).
fn is_quit(key: KeyEvent) -> bool {
    key.kind == KeyEventKind::Press
        && match key.code {
            KeyCode::Char('q') | KeyCode::Esc => true,
            KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
            _ => false,
        }
}

fn draw(
    frame: &mut Frame<'_>,
    plan: &Plan,
    shared: &Shared,
    stats: &Stats,
    history: &DepthHistory,
    elapsed: Duration,
) {
    let [header, depth, producer, consumer, spark, numbers, help] = Layout::vertical([
        Constraint::Length(6),
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Min(4),
        Constraint::Length(4),
        Constraint::Length(1),
    ])
    .areas(frame.area());

    let phase = shared.phase();
    let (phase_color, phase_text) = match phase {
        Phase::Bursting => (Color::Green, "bursting: an item every interval"),
        Phase::Pausing => (Color::Blue, "pausing"),
        Phase::Blocked => (Color::Red, "blocked: the queue is full"),
        Phase::Finished => (Color::DarkGray, "finished: every item made"),
        Phase::Stopped => (Color::Yellow, "stopped early"),
    };
    let title = Line::from(vec![
        Span::raw(" producer: "),
        Span::styled(phase_text, Style::new().fg(phase_color).bold()),
        Span::raw(" "),
    ]);
    let header_lines = vec![
        Line::raw(format!(
            "producer  an item every {}, a {} pause at probability {}; {} items, seed {}",
            Ms(plan.interval),
            Ms(plan.pause),
            plan.pause_probability,
            plan.items,
            plan.seed,
        )),
        Line::raw(format!(
            "consumer  {} per item        queue  {} slots, policy {}",
            Ms(plan.consume),
            plan.capacity,
            plan.policy,
        )),
        Line::raw(plan.describe_rates()).dark_gray(),
    ];
    frame.render_widget(
        Paragraph::new(header_lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" bursty ").title(title)),
        header,
    );

    let produced = Shared::get(&shared.produced);
    let consumed = Shared::get(&shared.consumed);
    let fill = ratio(stats.len as u64, stats.capacity as u64);
    let depth_color = if fill >= 0.9 {
        Color::Red
    } else if fill >= 0.5 {
        Color::Yellow
    } else {
        Color::Green
    };
    frame.render_widget(
        Gauge::default()
            .block(Block::bordered().title(" queue depth "))
            .gauge_style(Style::new().fg(depth_color))
            .ratio(fill)
            .label(format!("{}/{}", stats.len, stats.capacity)),
        depth,
    );
    frame.render_widget(
        Gauge::default()
            .block(Block::bordered().title(" producer "))
            .gauge_style(Style::new().fg(Color::Cyan))
            .ratio(ratio(produced, plan.items))
            .label(format!("{produced}/{} made", plan.items)),
        producer,
    );
    frame.render_widget(
        Gauge::default()
            .block(Block::bordered().title(" consumer "))
            .gauge_style(Style::new().fg(Color::Magenta))
            .ratio(ratio(consumed, plan.items))
            .label(format!("{consumed}/{} consumed", plan.items)),
        consumer,
    );

    // The most recent samples that fit inside the borders.
    let width = usize::from(spark.width.saturating_sub(2));
    let recent = history.recent(width);
    frame.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(format!(
                " queue depth over time (every {}, top = {}) ",
                Ms(BAR),
                stats.capacity
            )))
            .style(Style::new().fg(Color::Yellow))
            .max(stats.capacity as u64)
            .data(&recent),
        spark,
    );

    let full_style = if stats.full_events > 0 {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Green)
    };
    let lines = vec![
        Line::from(vec![
            Span::raw("full events "),
            Span::styled(stats.full_events.to_string(), full_style),
            Span::raw(format!(
                "   high watermark {}/{}   time blocked {}   elapsed {}",
                stats.high_watermark,
                stats.capacity,
                Secs(stats.blocked),
                Secs(elapsed),
            )),
        ]),
        Line::raw(format!(
            "dropped {}   rejected {}   pauses {}   longest burst {} items",
            stats.dropped,
            Shared::get(&shared.rejected),
            Shared::get(&shared.pauses),
            Shared::get(&shared.longest_burst),
        )),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" numbers ")),
        numbers,
    );

    let help_text = if shared.hurry.is_set() {
        format!("draining without the work: {} left", stats.len)
    } else if shared.stop.is_set() {
        format!(
            "stopping: draining {} queued items   press again: drain without the work",
            stats.len
        )
    } else {
        "q / Esc / Ctrl-C: stop producing and drain".to_owned()
    };
    frame.render_widget(Line::raw(help_text).dark_gray(), help);
}

/// `part / whole` in `0..=1` (0 for an empty whole).
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Args;
    use clap::Parser;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    #[test]
    fn ratios_stay_in_range() {
        assert_eq!(ratio(0, 0), 0.0);
        assert_eq!(ratio(5, 10), 0.5);
        assert_eq!(ratio(11, 10), 1.0);
    }

    #[test]
    fn the_history_keeps_the_peak_of_each_bar() {
        let t0 = Instant::now();
        let mut history = DepthHistory::new(t0);
        // Four frames per bar: a peak of 9 between two low samples shows.
        for (frame, depth) in [1, 9, 2, 3, 4, 4, 4, 4, 0].into_iter().enumerate() {
            history.observe(depth, t0 + FRAME * u32::try_from(frame).unwrap());
        }
        assert_eq!(history.recent(10), [9, 4, 0]);
        assert_eq!(history.recent(2), [4, 0]);
        assert!(history.recent(0).is_empty());
        // A stall closes the bars it skipped.
        history.observe(7, t0 + BAR * 5);
        assert_eq!(history.recent(10), [9, 4, 0, 0, 0, 7]);
    }

    #[test]
    fn quit_keys() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        assert!(is_quit(key(KeyCode::Char('q'), KeyModifiers::NONE)));
        assert!(is_quit(key(KeyCode::Esc, KeyModifiers::NONE)));
        assert!(is_quit(key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!is_quit(key(KeyCode::Char('c'), KeyModifiers::NONE)));
        assert!(!is_quit(key(KeyCode::Char('x'), KeyModifiers::NONE)));
    }

    /// Draws one frame into a test buffer and checks the numbers are on it.
    #[test]
    fn a_frame_shows_the_numbers() {
        let plan = Plan::new(&Args::parse_from(["bursty", "--seed", "4"]), 0);
        let shared = Shared::new(plan.items);
        shared
            .produced
            .store(120, std::sync::atomic::Ordering::Relaxed);
        shared
            .consumed
            .store(83, std::sync::atomic::Ordering::Relaxed);
        shared.set_phase(Phase::Blocked);
        let (tx, rx) = sluicegate::backpressure::bounded::<u64>(100).unwrap();
        for id in 0..37 {
            tx.try_send(id).unwrap();
        }
        let t0 = Instant::now();
        let mut history = DepthHistory::new(t0);
        for i in 0..200u32 {
            history.observe(u64::from(i % 40), t0 + FRAME * i);
        }
        let mut terminal = Terminal::new(TestBackend::new(110, 30)).unwrap();
        terminal
            .draw(|frame| {
                draw(
                    frame,
                    &plan,
                    &shared,
                    &rx.stats(),
                    &history,
                    Duration::from_secs(3),
                );
            })
            .unwrap();
        let screen: String = terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|cell| cell.symbol())
            .collect();
        for needle in [
            "blocked: the queue is full",
            "37/100",
            "120/500 made",
            "83/500 consumed",
            "full events 0",
            "high watermark 37/100",
            "seed 4",
        ] {
            assert!(screen.contains(needle), "{needle} missing");
        }
    }
}
