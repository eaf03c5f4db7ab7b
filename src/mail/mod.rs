//! Mail: MIME composition and transports (SMTP relay or local Maildir outbox).

mod compose;
mod maildir;
mod smtp;
mod transport;

pub use compose::{
    compose, ComposeError, ComposedMessage, ListUnsubscribe, Mailbox, OutgoingMessage,
};
pub use maildir::{Maildir, OutboxEntry};
pub use smtp::{SmtpSettings, SmtpTls};
pub use transport::{SendError, Transport};
