//! Time limits on reading a request body: actix-web reads bodies as slowly as the client sends
//! them, so a client that announces 100 bytes and sends 10 would hold a worker's attention and
//! its buffers for ever.
//!
//! This middleware wraps the body stream: once a handler starts reading, each piece must come
//! within `server.body_idle_timeout_ms` of the previous one and the whole body within
//! `server.body_timeout_ms`. When either passes, the handler's read fails, the response is
//! replaced by a 408 `request-timeout` problem and the connection is closed after it (through
//! the [`ConnectionHandle`] on the main listener; elsewhere actix closes a connection whose
//! body was left unread).
//!
//! It also tells the connection when a request starts and ends, for the time limit on the
//! next request head ([`crate::http::connection`]).

use crate::error::{ApiError, ProblemKind};
use crate::http::connection::ConnectionHandle;
use crate::http::problems::Audience;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::{InternalError, PayloadError};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, ResponseError};
use futures_util::Stream;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The two limits, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeouts {
    /// Longest pause between two pieces of a body.
    pub idle: Duration,
    /// Longest time from the first read of a body to its end.
    pub total: Duration,
}

impl BodyTimeouts {
    pub fn from_config(server: &crate::config::ServerConfig) -> Self {
        Self {
            idle: Duration::from_millis(server.body_idle_timeout_ms.max(1)),
            total: Duration::from_millis(server.body_timeout_ms.max(1)),
        }
    }
}

pub async fn middleware(
    limits: BodyTimeouts,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let connection = req.conn_data::<ConnectionHandle>().cloned();
    if let Some(c) = &connection {
        c.request_started();
    }
    let timed_out = Rc::new(Cell::new(false));
    let payload = req.take_payload();
    let watched: actix_http::BoxedPayloadStream = Box::pin(Deadline {
        inner: payload,
        limits,
        timer: None,
        ends_by: None,
        timed_out: Rc::clone(&timed_out),
        done: false,
    });
    req.set_payload(Payload::from(watched));
    // Read before the call: the request must not be shared while the router works on it.
    let audience = Audience::of(req.request());
    let result = next.call(req).await;
    if let Some(c) = &connection {
        c.request_finished();
    }
    if !timed_out.get() {
        return result.map(ServiceResponse::map_into_boxed_body);
    }
    if let Some(c) = &connection {
        c.close_after_response();
    }
    let idle_ms = limits.idle.as_millis();
    let total_ms = limits.total.as_millis();
    let problem = ApiError::new(
        ProblemKind::RequestTimeout,
        audience.pick(
            format!(
                "I dati della richiesta non sono arrivati in tempo (pause oltre {idle_ms} ms o \
                 più di {total_ms} ms in tutto): la connessione viene chiusa, riprova."
            ),
            format!(
                "The request body did not arrive in time (a pause over {idle_ms} ms or over \
                 {total_ms} ms in all); the connection is closed."
            ),
        ),
    );
    tracing::info!(
        idle_ms,
        total_ms,
        "request body timed out; closing the connection"
    );
    let mut res = problem.error_response();
    res.head_mut().set_connection_type(ConnectionType::Close);
    match result {
        Ok(handled) => Ok(ServiceResponse::new(handled.into_parts().0, res)),
        Err(_) => Err(InternalError::from_response(problem, res).into()),
    }
}

/// The body stream with its deadlines, armed at the first read.
struct Deadline {
    inner: Payload,
    limits: BodyTimeouts,
    timer: Option<Pin<Box<Sleep>>>,
    ends_by: Option<Instant>,
    timed_out: Rc<Cell<bool>>,
    done: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let now = Instant::now();
        let ends_by = *this.ends_by.get_or_insert(now + this.limits.total);
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                // The next piece has `idle` from now (but never past the end of the whole).
                let next_by = (now + this.limits.idle).min(ends_by);
                match &mut this.timer {
                    Some(t) => t.as_mut().reset(next_by),
                    None => this.timer = Some(Box::pin(tokio::time::sleep_until(next_by))),
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(other) => {
                this.done = true;
                Poll::Ready(other)
            }
            Poll::Pending => {
                let timer = this.timer.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(
                        (now + this.limits.idle).min(ends_by),
                    ))
                });
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.done = true;
                this.timed_out.set(true);
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "request body not received in time",
                )))))
            }
        }
    }
}
