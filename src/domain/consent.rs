//! Subscription states, consent ledger actions and suppression reasons.

use std::fmt;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use string_enum;

string_enum! {
    /// State of one contact on one list (opt-in).
    SubscriptionStatus {
        Pending => "pending",
        Subscribed => "subscribed",
        Unsubscribed => "unsubscribed",
        Refused => "refused",
    }
}

string_enum! {
    /// What a consent ledger entry records.
    ConsentAction {
        /// Asked to subscribe; pending until confirmed (double opt-in).
        Subscribe => "subscribe",
        /// Confirmed a pending subscription by the link in the verification mail.
        Confirm => "confirm",
        /// Subscribed at once on the assertion of an authorised caller (single opt-in).
        Assert => "assert",
        Unsubscribe => "unsubscribe",
        /// Explicitly said no (an unticked box on a submitted form).
        Refuse => "refuse",
        BlacklistAdd => "blacklist_add",
        BlacklistRemove => "blacklist_remove",
    }
}

impl ConsentAction {
    /// The subscription status an action leads to, for the actions that concern one list.
    pub fn resulting_status(self) -> Option<SubscriptionStatus> {
        match self {
            ConsentAction::Subscribe => Some(SubscriptionStatus::Pending),
            ConsentAction::Confirm | ConsentAction::Assert => Some(SubscriptionStatus::Subscribed),
            ConsentAction::Unsubscribe => Some(SubscriptionStatus::Unsubscribed),
            ConsentAction::Refuse => Some(SubscriptionStatus::Refused),
            ConsentAction::BlacklistAdd | ConsentAction::BlacklistRemove => None,
        }
    }
}

string_enum! {
    /// Why an address must not be mailed.
    SuppressionReason {
        Blacklist => "blacklist",
        HardBounce => "hard_bounce",
        Complaint => "complaint",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in SubscriptionStatus::ALL {
            assert_eq!(SubscriptionStatus::parse(s.as_str()), Some(*s));
        }
        for a in ConsentAction::ALL {
            assert_eq!(ConsentAction::parse(a.as_str()), Some(*a));
        }
        for r in SuppressionReason::ALL {
            assert_eq!(SuppressionReason::parse(r.as_str()), Some(*r));
        }
        assert_eq!(SubscriptionStatus::parse("Subscribed"), None);
        assert_eq!(
            ConsentAction::Confirm.resulting_status(),
            Some(SubscriptionStatus::Subscribed)
        );
    }
}
