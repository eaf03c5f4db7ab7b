//! Pure types and rules: parsing and validation at the edge, no I/O.

pub mod automation;
pub mod automation_steps;
pub mod automation_trigger;
pub mod collection;
pub mod consent;
pub mod contact;
pub mod countries;
pub mod email;
pub mod export;
pub mod hook;
pub mod import;
pub mod ip;
pub mod language;
pub mod ledger;
pub mod link_param;
pub mod list_code;
pub mod list_key;
pub mod mailing;
pub mod oauth1;
pub mod org;
pub mod partner;
pub mod schedule;
pub mod segment;
pub mod token;
pub mod validation;

pub use consent::{ConsentAction, SubscriptionStatus, SuppressionReason};
pub use contact::{ContactFields, Gender, MailFormat};
pub use email::EmailAddress;
pub use ip::IpAllowlist;
pub use language::Language;
pub use list_key::ListKey;
pub use mailing::{DeliveryStatus, EventKind, MailingStatus};
pub use org::OrgSlug;
pub use partner::PartnerKind;
pub use token::{Scope, TokenSecret};
pub use validation::{FieldError, ValidationError};
