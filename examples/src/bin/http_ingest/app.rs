//! The HTTP side: the router, its two handlers, and the error answers.
//!
//! ```text
//! POST /payloads  --> [HandleErrorLayer: RateLimited -> 429 + Retry-After]
//!                      [RateLimitLayer: one token per request]
//!                      [DefaultBodyLimit: 413]
//!                      handler: Json<Vec<Payload>> (400 / 415), one
//!                      distributor job per request via try_submit
//!                      (202, or 503 + Retry-After when the queue is full)
//!                      -> job: group commit + retry into SQLite (sink.rs)
//! GET  /stats     --> every primitive's stats as JSON (never rate limited)
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{BoxError, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sluicegate::distributor::{Distributor, Stats as PoolStats, SubmitError};
use sluicegate::token_bucket::tower::{RateLimitLayer, RateLimited};
use sluicegate::token_bucket::{Stats as BucketStats, TokenBucket};
use sluicegate_examples::db::Row;

use crate::Config;
use crate::sink::{IngestError, Sink, add, bump, get as read};

/// One item of the collection a client posts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Payload {
    /// Who sent it.
    client: u32,
    /// Anything, stored as text.
    payload: String,
}

/// The shared state of the handlers.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) config: Config,
    pub(crate) bucket: TokenBucket,
    pub(crate) pool: Distributor<(), IngestError>,
    pub(crate) sink: Arc<Sink>,
    /// Next row id; each request takes a block of ids.
    next_id: AtomicU64,
    /// Next job id (one per accepted request).
    next_job: AtomicU64,
}

impl App {
    pub(crate) fn new(
        config: Config,
        bucket: TokenBucket,
        pool: Distributor<(), IngestError>,
        sink: Arc<Sink>,
    ) -> Self {
        Self {
            config,
            bucket,
            pool,
            sink,
            next_id: AtomicU64::new(1),
            next_job: AtomicU64::new(1),
        }
    }
}

/// The service: POST /payloads behind the rate limit and the body limit,
/// GET /stats beside them.
pub(crate) fn router(app: Arc<App>) -> Router {
    let rate_limited = {
        let app = Arc::clone(&app);
        move |error: BoxError| {
            let app = Arc::clone(&app);
            async move { too_many_requests(&app, &error) }
        }
    };
    // A tuple of layers applies right to left: the rate limit wraps the
    // route, the error handler wraps the rate limit and turns its boxed
    // error back into a response (axum's routes must be infallible).
    let limits = (
        HandleErrorLayer::new(rate_limited),
        RateLimitLayer::new(app.bucket.clone()),
    );
    Router::new()
        .route(
            "/payloads",
            post(post_payloads)
                .layer(DefaultBodyLimit::max(app.config.body_limit))
                .route_layer(limits),
        )
        .route("/stats", get(get_stats))
        .with_state(app)
}

/// A JSON error answer: `{"error": "...", "status": 400}`.
fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({ "error": message.into(), "status": status.as_u16() });
    (status, Json(body)).into_response()
}

/// Whole seconds, rounded up, for a `Retry-After` header.
fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// 429 from the token bucket's layer, with `Retry-After`.
fn too_many_requests(app: &App, error: &BoxError) -> Response {
    bump(&app.sink.counters.requests);
    let Some(limited) = error.downcast_ref::<RateLimited>() else {
        bump(&app.sink.counters.status_other);
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, error.to_string());
    };
    bump(&app.sink.counters.status_429);
    let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, limited.to_string());
    if let Some(wait) = limited.retry_after() {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_secs(wait)),
        );
    }
    response
}

/// POST /payloads: parse, assign ids, queue one job, answer 202.
async fn post_payloads(
    State(app): State<Arc<App>>,
    body: Result<Json<Vec<Payload>>, JsonRejection>,
) -> Response {
    let counters = &app.sink.counters;
    bump(&counters.requests);
    let payloads = match body {
        Ok(Json(payloads)) => payloads,
        Err(rejection) => return rejected(&app, &rejection),
    };
    if payloads.is_empty() {
        bump(&counters.status_400);
        return error_response(StatusCode::BAD_REQUEST, "the collection is empty");
    }
    let items = payloads.len() as u64;
    let first_id = app.next_id.fetch_add(items, Ordering::Relaxed);
    let rows: Vec<Row> = payloads
        .into_iter()
        .zip(first_id..)
        .map(|(p, id)| Row {
            id,
            client: p.client,
            payload: p.payload,
        })
        .collect();
    let job = Arc::clone(&app.sink).write(rows);
    match app.pool.try_submit(job) {
        Ok(()) => {
            let job = app.next_job.fetch_add(1, Ordering::Relaxed);
            bump(&counters.accepted_requests);
            add(&counters.accepted_items, items);
            bump(&counters.status_202);
            let body = json!({ "job": job, "items": items, "first_id": first_id });
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        // The job comes back inside the error and is dropped unpolled: its
        // rows were never accepted, so nothing is lost. The ids stay unused.
        Err(error) => {
            bump(&counters.status_503);
            let message = match error {
                SubmitError::Full(_) => "the write queue is full; retry later",
                _ => "the service is shutting down",
            };
            let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, message);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

/// The answer to a body the JSON extractor refused: 413 over the body
/// limit, 400 for malformed JSON or the wrong shape (axum says 422 for the
/// latter; the service says 400: it is bad JSON for this endpoint), 415 when
/// the body is not labelled `application/json`.
fn rejected(app: &App, rejection: &JsonRejection) -> Response {
    let counters = &app.sink.counters;
    let status = match rejection {
        JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
            StatusCode::BAD_REQUEST
        }
        other => other.status(),
    };
    match status {
        StatusCode::BAD_REQUEST => bump(&counters.status_400),
        StatusCode::PAYLOAD_TOO_LARGE => bump(&counters.status_413),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => bump(&counters.status_415),
        _ => bump(&counters.status_other),
    }
    let mut response = error_response(status, rejection.body_text());
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body was not read, so hyper closes the connection
        // after this answer. Say so, or a keep-alive client sends its next
        // request on a connection about to close, and loses it.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// GET /stats: the token bucket, the distributor (and its queue), the
/// retries, the server's counters, and the rows in the database.
async fn get_stats(State(app): State<Arc<App>>) -> Response {
    let store = app.sink.store().clone();
    let rows = tokio::task::spawn_blocking(move || store.count()).await;
    let rows = match rows {
        Ok(Ok(rows)) => json!(rows),
        Ok(Err(error)) => json!({ "error": error.to_string() }),
        Err(error) => json!({ "error": error.to_string() }),
    };
    let mut stats = snapshot(&app);
    stats["db"] = json!({ "rows": rows, "path": app.sink.store().path() });
    Json(stats).into_response()
}

/// Everything but the database count, as JSON (also used for the summary).
pub(crate) fn snapshot(app: &App) -> Value {
    let c = &app.sink.counters;
    let policy = app.sink.policy();
    json!({
        "config": {
            "rate": app.config.rate.to_string(),
            "burst": app.bucket.quota().burst(),
            "workers": app.config.workers,
            "writers": app.sink.writers(),
            "queue_capacity": app.config.queue_capacity,
            "body_limit": app.config.body_limit,
            "failure_rate": app.config.failure_rate,
            "hold_until_shutdown": app.config.hold_until_shutdown,
        },
        "server": {
            "requests": read(&c.requests),
            "accepted_requests": read(&c.accepted_requests),
            "accepted_items": read(&c.accepted_items),
            "written_batches": read(&c.written_batches),
            "written_items": read(&c.written_items),
            "failed_batches": read(&c.failed_batches),
            "failed_items": read(&c.failed_items),
            "responses": {
                "202": read(&c.status_202),
                "400": read(&c.status_400),
                "413": read(&c.status_413),
                "415": read(&c.status_415),
                "429": read(&c.status_429),
                "503": read(&c.status_503),
                "other": read(&c.status_other),
            },
        },
        "token_bucket": bucket_json(&app.bucket.stats()),
        "distributor": pool_json(&app.pool.stats()),
        "commit": {
            "writers": app.sink.writers(),
            "transactions": read(&c.transactions),
            "largest_group": read(&c.largest_group),
        },
        "retry": {
            "max_attempts": policy.max_attempts(),
            "attempts": read(&c.attempts),
            "retries": read(&c.retries),
            "busy": read(&c.busy),
            "injected": read(&c.injected),
            "exhausted": read(&c.exhausted),
            "permanent": read(&c.permanent),
        },
    })
}

fn bucket_json(s: &BucketStats) -> Value {
    json!({
        "admitted": s.admitted,
        "rejected": s.rejected,
        "waited": s.waited,
        "refunded": s.refunded,
        "tokens": s.tokens,
        "burst": s.burst,
    })
}

pub(crate) fn pool_json(s: &PoolStats) -> Value {
    json!({
        "workers": s.workers,
        "running": s.running,
        "queued": s.queued,
        "capacity": s.capacity,
        "high_watermark": s.high_watermark,
        "full_events": s.full_events,
        "submitted": s.submitted,
        "completed": s.completed,
        "failed": s.failed,
        "panicked": s.panicked,
        "cancelled": s.cancelled,
        "handed_back": s.handed_back,
        "rejected": s.rejected,
        "balanced": s.is_balanced(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 0);
        assert_eq!(retry_after_secs(Duration::from_micros(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3600)), 3600);
    }
}
