//! What an outbound call's result means: retried or not, and how it reads in the log (pure);
//! and reading a call's answer into one.

/// How one attempt ended, as seen by the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Status(u16),
    Timeout,
    Network(String),
    /// Not sent: leadgate does not connect there (a link-local address). Never retried.
    Refused(String),
}

impl AttemptResult {
    /// The other side's HTTP status, when it answered.
    pub fn status(&self) -> Option<i32> {
        match self {
            AttemptResult::Status(code) => Some(i32::from(*code)),
            _ => None,
        }
    }
}

/// Retried: network errors, timeouts, 5xx, 408, 429. Not retried: other 4xx and 3xx.
pub fn is_retryable(result: &AttemptResult) -> bool {
    match result {
        AttemptResult::Timeout | AttemptResult::Network(_) => true,
        AttemptResult::Status(code) => *code >= 500 || *code == 408 || *code == 429,
        AttemptResult::Refused(_) => false,
    }
}

/// How much of a receiver's answer a dead letter keeps.
pub const BODY_START_CHARS: usize = 300;

/// The start of a receiver's answer, on one line, for the attempt's error.
pub fn body_start(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .take(BODY_START_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The attempt's error as operators read it: `HTTP 503: <start of the body>`.
pub fn describe_with_body(result: &AttemptResult, body_start: &str) -> String {
    match result {
        AttemptResult::Status(_) if !body_start.is_empty() => {
            format!("{}: {body_start}", describe(result))
        }
        _ => describe(result),
    }
}

pub fn describe(result: &AttemptResult) -> String {
    match result {
        AttemptResult::Status(code) => format!("HTTP {code}"),
        AttemptResult::Timeout => "timed out".into(),
        AttemptResult::Network(e) => format!("network error: {e}"),
        AttemptResult::Refused(why) => format!("refused: {why}"),
    }
}

/// How a call ended, and the start of its answer (64 KiB at most; read so the connection can be
/// reused).
pub async fn read_answer<S>(
    sent: Result<awc::ClientResponse<S>, awc::error::SendRequestError>,
) -> (AttemptResult, bytes::Bytes)
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    match sent {
        Ok(mut response) => {
            let body = response.body().limit(64 * 1024).await.unwrap_or_default();
            (AttemptResult::Status(response.status().as_u16()), body)
        }
        Err(awc::error::SendRequestError::Timeout) => (AttemptResult::Timeout, Default::default()),
        Err(e) => (AttemptResult::Network(e.to_string()), Default::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_the_start_of_the_answer_on_one_line() {
        let body = format!("<html>\n<b>Bad\tGateway</b>{}", "x".repeat(1000));
        let start = body_start(body.as_bytes());
        assert!(start.starts_with("<html> <b>Bad Gateway</b>xx"));
        assert!(start.chars().count() <= BODY_START_CHARS);
        assert_eq!(
            describe_with_body(&AttemptResult::Status(502), "oops"),
            "HTTP 502: oops"
        );
        assert_eq!(
            describe_with_body(&AttemptResult::Status(502), ""),
            "HTTP 502"
        );
        assert_eq!(
            describe_with_body(&AttemptResult::Timeout, "x"),
            "timed out"
        );
    }

    #[test]
    fn what_is_retried() {
        for retried in [
            AttemptResult::Timeout,
            AttemptResult::Network("reset".into()),
            AttemptResult::Status(500),
            AttemptResult::Status(408),
            AttemptResult::Status(429),
        ] {
            assert!(is_retryable(&retried), "{retried:?}");
        }
        for final_ in [
            AttemptResult::Status(400),
            AttemptResult::Status(404),
            AttemptResult::Status(301),
            AttemptResult::Status(302),
        ] {
            assert!(!is_retryable(&final_), "{final_:?}");
        }
    }
}
