//! Every request body must arrive within `BODY_TIMEOUT_SECONDS`: a client that sends headers and
//! then trickles (or stops) cannot hold a connection and its file descriptor for long. The body
//! stream ends with a timeout error, which the form handler answers `408` and closes.

use super::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use futures_util::Stream;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.config.body_timeout);
    if let Some(limit) = limit {
        let body = DeadlineBody {
            inner: req.take_payload(),
            deadline: Box::pin(tokio::time::sleep(limit)),
            expired: false,
        };
        req.set_payload(Payload::from(
            Box::pin(body) as Pin<Box<dyn Stream<Item = Result<web::Bytes, PayloadError>>>>
        ));
    }
    next.call(req).await
}

/// Whether a body read failed because its time ran out.
pub fn is_timeout(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

struct DeadlineBody {
    inner: Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: bool,
}

impl Stream for DeadlineBody {
    type Item = Result<web::Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(chunk) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(chunk);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired = true;
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
