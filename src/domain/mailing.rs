//! Mailing lifecycle, delivery states and the events recorded about sent mail.

use std::fmt;

use super::consent::string_enum;

string_enum! {
    /// Where a mailing is in its life: draft → scheduled → sending ⇄ paused → sent, or cancelled.
    MailingStatus {
        Draft => "draft",
        Scheduled => "scheduled",
        Sending => "sending",
        Paused => "paused",
        Sent => "sent",
        Cancelled => "cancelled",
    }
}

impl MailingStatus {
    /// Whether the mailing's content and audience may still be edited.
    pub fn editable(self) -> bool {
        matches!(self, MailingStatus::Draft | MailingStatus::Scheduled)
    }
}

string_enum! {
    /// The state of one recipient's message.
    DeliveryStatus {
        /// Waiting to be sent (again, after a temporary failure).
        Queued => "queued",
        /// Claimed by a worker and being handed to the relay.
        Sending => "sending",
        /// Accepted by the relay.
        Sent => "sent",
        /// Refused for good without a bounce (e.g. the message could not be built).
        Failed => "failed",
        /// Refused by the relay with a permanent error, or retries exhausted.
        Bounced => "bounced",
        /// Not sent: the contact unsubscribed, was suppressed or erased before its turn.
        Skipped => "skipped",
        /// Was in flight when its node died: it may or may not have left. Never resent.
        Uncertain => "uncertain",
        /// The mailing was cancelled before this message was sent.
        Cancelled => "cancelled",
    }
}

string_enum! {
    /// Something that happened to a sent message.
    EventKind {
        BounceHard => "bounce_hard",
        BounceSoft => "bounce_soft",
        Complaint => "complaint",
        Open => "open",
        Click => "click",
        Unsubscribe => "unsubscribe",
    }
}
