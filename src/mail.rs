//! Outgoing email: SMTP through lettre when `SMTP_URL` is set, otherwise written to the log (so a
//! developer can follow a reset link without a mail server). Messages come from Tera templates, in
//! plain text and HTML.

use std::sync::Arc;

use lettre::{
    AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};

use crate::templates::Templates;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("SMTP_URL is invalid")]
    Url(#[source] lettre::transport::smtp::Error),
    #[error("an address is invalid")]
    Address(#[source] lettre::address::AddressError),
    #[error("could not build the message")]
    Build(#[source] lettre::error::Error),
    #[error("the SMTP server refused or failed")]
    Send(#[source] lettre::transport::smtp::Error),
    #[error("could not render the email template")]
    Template(#[source] tera::Error),
}

/// A message ready to send.
#[derive(Clone, Debug)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Email {
    /// Renders `emails/<name>.txt` and `emails/<name>.html` with `context`.
    pub fn render(
        templates: &Templates,
        name: &str,
        to: &str,
        subject: &str,
        context: &tera::Context,
    ) -> Result<Self, MailError> {
        Ok(Self {
            to: to.to_owned(),
            subject: subject.to_owned(),
            text: templates.render(&format!("emails/{name}.txt"), context).map_err(MailError::Template)?,
            html: templates.render(&format!("emails/{name}.html"), context).map_err(MailError::Template)?,
        })
    }
}

/// Where email goes.
#[derive(Clone)]
pub enum Mailer {
    /// Development default: the message is written to the log.
    Log,
    Smtp {
        transport: Arc<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
}

impl Mailer {
    pub fn new(smtp_url: Option<&str>, from: &str) -> Result<Self, MailError> {
        let Some(url) = smtp_url else {
            return Ok(Self::Log);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(MailError::Url)?.build();
        let from = from.parse::<Mailbox>().map_err(MailError::Address)?;
        Ok(Self::Smtp { transport: Arc::new(transport), from })
    }

    pub async fn send(&self, email: Email) -> Result<(), MailError> {
        match self {
            Self::Log => {
                log::info!(
                    "email (SMTP_URL is not set, so it is logged instead of sent)\nTo: {}\nSubject: {}\n\n{}",
                    email.to,
                    email.subject,
                    email.text
                );
                Ok(())
            }
            Self::Smtp { transport, from } => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(email.to.parse::<Mailbox>().map_err(MailError::Address)?)
                    .subject(email.subject)
                    .multipart(MultiPart::alternative_plain_html(email.text, email.html))
                    .map_err(MailError::Build)?;
                transport.send(message).await.map_err(MailError::Send)?;
                Ok(())
            }
        }
    }

    /// Sends without making the request wait: the response time must not tell whether mail was sent.
    pub fn send_in_background(&self, email: Email) {
        let mailer = self.clone();
        actix_web::rt::spawn(async move {
            let to_domain = email.to.rsplit('@').next().unwrap_or_default().to_owned();
            if let Err(error) = mailer.send(email).await {
                log::error!(
                    "could not send an email to an address at {to_domain}: {}",
                    crate::telemetry::error_chain(&error)
                );
            }
        });
    }
}
