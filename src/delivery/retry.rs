//! What an attempt's result means for the delivery. Pure.

use std::time::Duration;

/// The delays before retries 1, 2 and 3; the first attempt is at once.
pub const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// How one attempt ended, as seen by the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Status(u16),
    Timeout,
    Network(String),
    /// Not sent: leadgate does not connect there (a link-local address). Never retried.
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// Give up: dead letter.
    Dead,
}

/// Retried: network errors, timeouts, 5xx, 408, 429. Not retried: other 4xx and 3xx.
pub fn is_retryable(result: &AttemptResult) -> bool {
    match result {
        AttemptResult::Timeout | AttemptResult::Network(_) => true,
        AttemptResult::Status(code) => *code >= 500 || *code == 408 || *code == 429,
        AttemptResult::Refused(_) => false,
    }
}

/// `attempts` counts this one (1 for the first attempt).
pub fn verdict(result: &AttemptResult, attempts: u32) -> Verdict {
    if let AttemptResult::Status(200..=299) = result {
        return Verdict::Delivered;
    }
    if !is_retryable(result) {
        return Verdict::Dead;
    }
    match attempts
        .checked_sub(1)
        .and_then(|i| RETRY_DELAYS.get(i as usize))
    {
        Some(delay) => Verdict::Retry(*delay),
        None => Verdict::Dead,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_one_two_four_then_dead() {
        let err = AttemptResult::Status(503);
        assert_eq!(verdict(&err, 1), Verdict::Retry(Duration::from_secs(1)));
        assert_eq!(verdict(&err, 2), Verdict::Retry(Duration::from_secs(2)));
        assert_eq!(verdict(&err, 3), Verdict::Retry(Duration::from_secs(4)));
        assert_eq!(verdict(&err, 4), Verdict::Dead);
        assert_eq!(
            verdict(&err, 0),
            Verdict::Dead,
            "no attempt number underflows"
        );
    }

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
            assert_eq!(verdict(&final_, 1), Verdict::Dead, "{final_:?}");
        }
        assert_eq!(verdict(&AttemptResult::Status(204), 1), Verdict::Delivered);
    }
}
