//! Notification email over SMTP (lettre on tokio; TLS by rustls, or none
//! for a local relay or test sink).

use super::sender::{Outcome, Payload, PushSender, Target};
use crate::config::{EmailSettings, SmtpTls};
use futures_util::future::LocalBoxFuture;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Sends notification email.
#[derive(Clone)]
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSender")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl EmailSender {
    /// Reads `[email]`; `None` when `email.enabled` is false. Errors name the key.
    pub fn from_settings(s: &EmailSettings) -> Result<Option<EmailSender>, String> {
        if !s.enabled {
            return Ok(None);
        }
        let from: Mailbox = s.from.parse().map_err(|e| {
            format!(
                "config key `email.from`: `{}` is not a mailbox: {e}",
                s.from
            )
        })?;
        let host = s.smtp_host.trim();
        if host.is_empty() {
            return Err("config key `email.smtp_host`: required when email.enabled".into());
        }
        let builder = match s.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| format!("config key `email.smtp_host`: {e}"))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| format!("config key `email.smtp_host`: {e}"))?,
        };
        let mut builder = builder
            .port(s.smtp_port)
            .timeout(Some(Duration::from_secs(s.timeout_secs.max(1))));
        if !s.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                s.username.clone(),
                s.password.expose().to_owned(),
            ));
        }
        Ok(Some(EmailSender {
            transport: builder.build(),
            from,
        }))
    }

    /// The message for one address.
    pub fn message(&self, to: &str, payload: &Payload) -> Result<Message, String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("`{to}` is not an address: {e}"))?;
        let subject: String = payload
            .title
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(200)
            .collect();
        let mut text = payload.body.clone();
        if let Some(url) = &payload.url {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(url);
        }
        text.push('\n');
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| format!("build message: {e}"))
    }
}

impl PushSender for EmailSender {
    fn send<'a>(&'a self, target: &'a Target, payload: &'a Payload) -> LocalBoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Target::Email { address } = target else {
                return Outcome::Failed {
                    status: None,
                    reason: "not an email target".into(),
                };
            };
            let message = match self.message(address, payload) {
                Ok(m) => m,
                Err(reason) => {
                    return Outcome::Failed {
                        status: None,
                        reason,
                    }
                }
            };
            match self.transport.send(message).await {
                Ok(_) => Outcome::Delivered,
                Err(e) => {
                    let status = e.status().map(u16::from);
                    if e.is_permanent() {
                        Outcome::Failed {
                            status,
                            reason: format!("smtp: {e}"),
                        }
                    } else {
                        Outcome::Retry {
                            after: None,
                            status,
                            reason: format!("smtp: {e}"),
                        }
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::push::Priority;

    #[test]
    fn messages_carry_to_subject_and_link() {
        let settings = EmailSettings {
            enabled: true,
            tls: SmtpTls::None,
            ..EmailSettings::default()
        };
        let sender = EmailSender::from_settings(&settings).unwrap().unwrap();
        let payload = Payload {
            title: "Payment\r\nBcc: evil@example.com".into(),
            body: "You were paid".into(),
            url: Some("https://app.example/p/1".into()),
            notification_type: "payment_received".into(),
            notification_id: 1,
            priority: Priority::High,
        };
        let m = sender.message("ana@example.com", &payload).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("To: ana@example.com"), "{text}");
        assert!(!text.contains("\r\nBcc:"), "{text}");
        assert!(text.contains("https://app.example/p/1"), "{text}");
        assert!(sender.message("not an address", &payload).is_err());
    }

    #[test]
    fn disabled_or_misconfigured() {
        assert!(EmailSender::from_settings(&EmailSettings::default())
            .unwrap()
            .is_none());
        let err = EmailSender::from_settings(&EmailSettings {
            enabled: true,
            from: "nobody".into(),
            ..EmailSettings::default()
        })
        .unwrap_err();
        assert!(err.contains("email.from"), "{err}");
    }
}
