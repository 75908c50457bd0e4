//! Email over SMTP (`SMTP_URL`) with lettre: `smtp://host:port` in the clear (a relay on this
//! machine), `smtp://host:587?tls=required` for STARTTLS, `smtps://host:465` for TLS from the
//! start; `user:password@` authenticates. Certificates are checked against the system's roots or
//! `SSL_CERT_FILE`.
//!
//! Failure policy: a 5xx reply (a mailbox that does not exist, a sender refused) or an address
//! that does not parse is final; anything else (the server down, a 4xx, a timeout, TLS) is retried.

use super::{EmailMessage, Failure};
use crate::app::redact;
use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// The SMTP server the Notifier sends through, and the `From` of mail whose campaign names none.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    pub default_from: String,
}

impl Mailer {
    /// From `SMTP_URL` (its password never in an error) and `SMTP_FROM`. Inside the runtime: the
    /// connection pool starts here.
    pub fn new(url: &str, default_from: &str, timeout: Duration) -> Result<Mailer, String> {
        let transport = Mailer::check(url, default_from)
            .map_err(|(_, problem)| problem)?
            .timeout(Some(timeout))
            .build();
        if sends_password_in_clear(url) {
            log::warn!(
                "notify.smtp_cleartext {}: the password goes unencrypted to a server that is not \
                 this machine (use ?tls=required or smtps://)",
                redact(url)
            );
        }
        Ok(Mailer {
            transport,
            default_from: default_from.to_string(),
        })
    }

    /// Whether the settings can make a mailer, without starting one; `Err((setting, problem))`.
    pub fn check(
        url: &str,
        default_from: &str,
    ) -> Result<lettre::transport::smtp::AsyncSmtpTransportBuilder, (&'static str, String)> {
        default_from.parse::<Mailbox>().map_err(|e| {
            let problem = format!("{default_from:?} is not an email address: {e}");
            ("SMTP_FROM", problem)
        })?;
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| {
            let problem = format!("{} is not an SMTP URL lettre can use: {e}", redact(url));
            ("SMTP_URL", problem)
        })
    }

    pub async fn send(&self, message: &EmailMessage) -> Result<(), Failure> {
        let mail = compose(message).map_err(|error| Failure {
            retryable: false,
            status: None,
            error,
        })?;
        match self.transport.send(mail).await {
            Ok(_) => Ok(()),
            Err(e) => Err(Failure {
                retryable: !e.is_permanent(),
                status: e.status().map(|code| i32::from(u16::from(code))),
                error: format!("SMTP: {e}"),
            }),
        }
    }
}

/// The mail of a message: `From`, `To`, `Reply-To`, `Subject`, a text or HTML body.
pub fn compose(message: &EmailMessage) -> Result<lettre::Message, String> {
    let address = |field: &str, text: &str| {
        text.parse::<Mailbox>()
            .map_err(|e| format!("the {field} address {text:?} does not parse: {e}"))
    };
    let mut builder = lettre::Message::builder()
        .from(address("from", &message.from)?)
        .to(address("to", &message.to)?)
        .subject(message.subject.clone());
    if let Some(reply_to) = &message.reply_to {
        builder = builder.reply_to(address("reply_to", reply_to)?);
    }
    if let Some(sender) = &message.sender {
        builder = builder.sender(address("sender", sender)?);
    }
    let content_type = match message.html {
        true => ContentType::TEXT_HTML,
        false => ContentType::TEXT_PLAIN,
    };
    builder
        .header(content_type)
        .body(message.body.clone())
        .map_err(|e| format!("the mail could not be written: {e}"))
}

/// A password in an `smtp://` URL without `tls=required`, for a host other than this machine:
/// lettre would log in over the clear if the server offers it.
pub fn sends_password_in_clear(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("smtp://") else {
        return false;
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return false;
    };
    let host = host.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let local = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    credentials.contains(':') && !url.contains("tls=required") && !local
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> EmailMessage {
        EmailMessage {
            lead_id: 1,
            to: "rep@example.com".into(),
            from: "Leads <leads@example.com>".into(),
            reply_to: Some("team@example.com".into()),
            sender: Some("relay@example.com".into()),
            subject: "New lead for Alpha: Ana".into(),
            body: "<p>Ana &lt;b&gt;</p>".into(),
            html: true,
        }
    }

    #[test]
    fn a_mail_has_its_headers_and_html_body() {
        let written = String::from_utf8(compose(&message()).unwrap().formatted()).unwrap();
        assert!(
            written.contains("From: Leads <leads@example.com>"),
            "{written}"
        );
        assert!(written.contains("To: rep@example.com"), "{written}");
        assert!(written.contains("Reply-To: team@example.com"), "{written}");
        assert!(
            written.contains("Subject: New lead for Alpha: Ana"),
            "{written}"
        );
        assert!(written.contains("Content-Type: text/html"), "{written}");
        assert!(written.contains("Sender: relay@example.com"), "{written}");
        let envelope = compose(&message()).unwrap().envelope().clone();
        let from = envelope.from().map(|a| a.to_string());
        assert_eq!(
            from.as_deref(),
            Some("relay@example.com"),
            "SMTP_FROM sends"
        );
    }

    #[test]
    fn a_bad_address_is_a_final_failure_naming_it() {
        let bad = EmailMessage {
            to: "not an address".into(),
            ..message()
        };
        let error = compose(&bad).unwrap_err();
        assert!(error.contains("to address"), "{error}");
    }

    #[test]
    fn a_subject_cannot_inject_headers() {
        let hostile = EmailMessage {
            subject: "hi\r\nBcc: victim@example.com".into(),
            ..message()
        };
        let written = String::from_utf8(compose(&hostile).unwrap().formatted()).unwrap();
        assert!(!written.contains("\r\nBcc:"), "{written}");
    }

    #[test]
    fn a_password_in_the_clear_to_another_host_is_noticed() {
        assert!(sends_password_in_clear("smtp://u:p@mail.example.com:587"));
        assert!(!sends_password_in_clear(
            "smtp://u:p@mail.example.com:587?tls=required"
        ));
        assert!(!sends_password_in_clear("smtps://u:p@mail.example.com"));
        assert!(!sends_password_in_clear("smtp://u:p@127.0.0.1:25"));
        assert!(!sends_password_in_clear("smtp://mail.example.com:25"));
    }

    #[test]
    fn passwords_stay_out_of_errors() {
        for url in [
            "smtps://u:hunter2@",
            "smtp://u:hun@ter2@:25",
            "ftp://u:hunter2@mail.example.com",
        ] {
            let (setting, error) = Mailer::check(url, "a@b.c").err().unwrap();
            assert_eq!(setting, "SMTP_URL");
            assert!(
                !error.contains("hunter2") && !error.contains("ter2"),
                "{error}"
            );
        }
        let (setting, _) = Mailer::check("smtp://127.0.0.1:25", "nobody")
            .err()
            .unwrap();
        assert_eq!(setting, "SMTP_FROM");
    }
}
