//! Mail: MIME composition and transports (SMTP relay or local Maildir outbox).

mod compose;
pub mod content;
mod dkim;
pub mod inbound;
mod maildir;
mod qp;
pub mod reports;
mod smtp;
mod smtp_client;
pub mod template;
mod throttle;
mod transport;

pub use compose::{
    compose, ComposeError, ComposedMessage, ListUnsubscribe, Mailbox, OutgoingMessage,
};
pub use dkim::Dkim;
pub use maildir::{Maildir, OutboxEntry};
pub use smtp::{SmtpSettings, SmtpTls};
pub use throttle::Throttle;
pub use transport::{SendError, Transport};
