//! What flows through the stages: the records the sources generate (stage
//! 1), the work a fan-out worker does on each (stage 2), and the errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::Stream;
use sluicegate::fanio::FanOutError;
use sluicegate_examples::db::Row;

/// A record as a source generates it: a line of text to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) id: u64,
    pub(crate) line: String,
}

/// A record parsed and checksummed by a worker.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parsed {
    pub(crate) id: u64,
    pub(crate) sensor: u32,
    pub(crate) value: i64,
    pub(crate) checksum: u64,
}

impl Parsed {
    pub(crate) fn into_row(self) -> Row {
        Row {
            id: self.id,
            client: self.sensor,
            payload: format!("value={} checksum={:016x}", self.value, self.checksum),
        }
    }
}

/// Why a record could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    /// The line does not have the record format.
    #[error("record {id}: cannot parse {line:?}: {why}")]
    Malformed {
        id: u64,
        line: String,
        why: &'static str,
    },
}

/// The pipeline's error type: what its stages report on the error stream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StageError {
    /// A worker could not process a record.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A worker panicked (reported by the fan-out; the record is lost to
    /// the panic and counted as failed).
    #[error("a fan-out worker panicked: {0}")]
    WorkerPanicked(String),
    /// Writing a batch to SQLite failed.
    #[error("writing a batch of {rows} rows failed: {error}")]
    Write { rows: usize, error: String },
}

impl StageError {
    /// A fan-out result as the pipeline's check stage sees it.
    pub(crate) fn check(
        result: Result<Result<Parsed, RecordError>, FanOutError<Record>>,
    ) -> Result<Parsed, Self> {
        match result {
            Ok(Ok(parsed)) => Ok(parsed),
            Ok(Err(error)) => Err(Self::Record(error)),
            Err(error) => Err(Self::WorkerPanicked(error.message().to_owned())),
        }
    }
}

/// Source `index` of `sources`: records `index`, `index + sources`, ...
/// below `items`, counted in `generated` as they are taken. The record
/// `fail_at` is corrupted. Lazy: a record the merge never pulls is never
/// generated.
pub(crate) fn source(
    index: u32,
    sources: u32,
    items: u64,
    fail_at: Option<u64>,
    generated: Arc<AtomicU64>,
) -> impl Stream<Item = Record> + Send + Unpin + 'static {
    let ids = (u64::from(index)..items).step_by(sources as usize);
    futures_util::stream::iter(ids.map(move |id| {
        generated.fetch_add(1, Ordering::Relaxed);
        let sensor = (id.wrapping_mul(0x9E37_79B9) >> 7) % 64;
        let value = (id.wrapping_mul(7919) % 2001) as i64 - 1000;
        let line = if Some(id) == fail_at {
            format!("reading {id} sensor ?? value <corrupt>")
        } else {
            format!("reading {id} sensor {sensor} value {value}")
        };
        Record { id, line }
    }))
}

/// A worker's job on one record: parse the line, check that it is the
/// record it claims to be, and checksum it `rounds` times (the CPU work).
pub(crate) fn process(record: Record, rounds: u32) -> Result<Parsed, RecordError> {
    let malformed = |why| RecordError::Malformed {
        id: record.id,
        line: record.line.clone(),
        why,
    };
    let mut words = record.line.split(' ');
    let (Some("reading"), Some(id), Some("sensor"), Some(sensor), Some("value"), Some(value), None) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) else {
        return Err(malformed("not `reading <id> sensor <n> value <v>`"));
    };
    let id: u64 = id
        .parse()
        .map_err(|_| malformed("the id is not a number"))?;
    if id != record.id {
        return Err(malformed("the id does not match the record"));
    }
    let sensor = sensor
        .parse()
        .map_err(|_| malformed("the sensor is not a number"))?;
    let value = value
        .parse()
        .map_err(|_| malformed("the value is not a number"))?;
    Ok(Parsed {
        id,
        sensor,
        value,
        checksum: checksum(record.line.as_bytes(), rounds),
    })
}

/// FNV-1a over `bytes`, `rounds` times, each round seeded with the last.
fn checksum(bytes: &[u8], rounds: u32) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for _ in 0..rounds {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn records(index: u32, sources: u32, items: u64, fail_at: Option<u64>) -> Vec<Record> {
        let generated = Arc::new(AtomicU64::new(0));
        let out = sluicegate::rt::block_on(
            source(index, sources, items, fail_at, Arc::clone(&generated)).collect::<Vec<_>>(),
        );
        assert_eq!(generated.load(Ordering::Relaxed), out.len() as u64);
        out
    }

    #[test]
    fn sources_split_the_ids_between_them() {
        let mut ids: Vec<u64> = (0..3)
            .flat_map(|i| records(i, 3, 10, None))
            .map(|r| r.id)
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn good_records_parse_and_the_corrupt_one_does_not() {
        for record in records(0, 1, 50, Some(17)) {
            let id = record.id;
            match process(record, 2) {
                Ok(parsed) => {
                    assert_ne!(id, 17);
                    assert_eq!(parsed.id, id);
                    assert!((-1000..=1000).contains(&parsed.value));
                }
                Err(RecordError::Malformed { id: bad, why, .. }) => {
                    assert_eq!((id, bad), (17, 17));
                    assert_eq!(why, "the sensor is not a number");
                }
            }
        }
    }

    #[test]
    fn a_line_claiming_another_id_is_rejected() {
        let record = Record {
            id: 1,
            line: "reading 2 sensor 3 value 4".into(),
        };
        assert!(process(record, 1).is_err());
    }

    #[test]
    fn the_checksum_depends_on_the_rounds() {
        assert_ne!(checksum(b"abc", 1), checksum(b"abc", 2));
        assert_eq!(checksum(b"abc", 3), checksum(b"abc", 3));
    }
}
