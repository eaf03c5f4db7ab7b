//! Builds RFC 5322 / MIME messages: multipart/alternative text + HTML, RFC 2047 encoded
//! UTF-8 subjects and names, Message-ID, Date and List-Unsubscribe (RFC 2369 / RFC 8058).
//! Any CR or LF in a header value is refused: there is no header injection.

use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;
use serde::{Deserialize, Serialize};

use crate::domain::EmailAddress;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub email: EmailAddress,
}

impl Mailbox {
    pub fn new(name: Option<&str>, email: EmailAddress) -> Self {
        Self {
            name: name.map(str::to_string).filter(|n| !n.trim().is_empty()),
            email,
        }
    }

    fn address(&self) -> Address<'_> {
        Address::new_address(self.name.as_deref(), self.email.as_str())
    }
}

/// Where a recipient can unsubscribe: an HTTPS URL (one-click POST per RFC 8058 when
/// `one_click`) and optionally a mailto address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListUnsubscribe {
    pub url: String,
    pub mailto: Option<String>,
    pub one_click: bool,
}

#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub from: Mailbox,
    pub to: Mailbox,
    pub reply_to: Option<Mailbox>,
    /// Envelope sender (bounce address); defaults to the From address.
    pub return_path: Option<EmailAddress>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub list_unsubscribe: Option<ListUnsubscribe>,
    /// Extra headers such as `X-Handbill-Mailing`; names are checked, values too.
    pub headers: Vec<(String, String)>,
}

/// A message ready for a transport: envelope plus the raw bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComposedMessage {
    pub message_id: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    #[serde(with = "raw_base64")]
    pub raw: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ComposeError {
    #[error("header {0} contains a line break or control character")]
    HeaderInjection(String),
    #[error("'{0}' is not an allowed custom header name")]
    BadHeaderName(String),
    #[error("the unsubscribe URL must be an absolute http(s) URL")]
    BadUnsubscribeUrl,
    #[error("could not write the message: {0}")]
    Io(String),
}

/// Headers the composer sets itself; custom headers may not replace them.
const RESERVED: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "return-path",
    "sender",
];

fn check_value(header: &str, value: &str) -> Result<(), ComposeError> {
    if value
        .chars()
        .any(|c| c == '\r' || c == '\n' || (c.is_control() && c != '\t'))
    {
        return Err(ComposeError::HeaderInjection(header.to_string()));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), ComposeError> {
    let ok = !name.is_empty()
        && name.len() <= 76
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !RESERVED.contains(&name.to_ascii_lowercase().as_str());
    if ok {
        Ok(())
    } else {
        Err(ComposeError::BadHeaderName(name.to_string()))
    }
}

/// Composes `msg`. `hostname` goes into the Message-ID; `now_ms` is the Date.
pub fn compose(
    msg: &OutgoingMessage,
    hostname: &str,
    now_ms: i64,
) -> Result<ComposedMessage, ComposeError> {
    check_value("Subject", &msg.subject)?;
    for (h, mb) in [
        ("From", Some(&msg.from)),
        ("To", Some(&msg.to)),
        ("Reply-To", msg.reply_to.as_ref()),
    ] {
        if let Some(name) = mb.and_then(|m| m.name.as_deref()) {
            check_value(h, name)?;
        }
    }
    for (name, value) in &msg.headers {
        check_name(name)?;
        check_value(name, value)?;
    }
    let message_id = format!("{}@{}", uuid::Uuid::new_v4().simple(), hostname);
    let mut b = MessageBuilder::new()
        .from(msg.from.address())
        .to(msg.to.address())
        .subject(msg.subject.as_str())
        .message_id(MessageId::new(message_id.clone()))
        .date(now_ms.div_euclid(1000));
    if let Some(r) = &msg.reply_to {
        b = b.reply_to(r.address());
    }
    if let Some(lu) = &msg.list_unsubscribe {
        let parsed = url::Url::parse(&lu.url).map_err(|_| ComposeError::BadUnsubscribeUrl)?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ComposeError::BadUnsubscribeUrl);
        }
        check_value("List-Unsubscribe", &lu.url)?;
        let mut value = format!("<{}>", parsed);
        if let Some(m) = &lu.mailto {
            check_value("List-Unsubscribe", m)?;
            value.push_str(&format!(", <mailto:{m}>"));
        }
        b = b.header("List-Unsubscribe", Raw::new(value));
        if lu.one_click {
            b = b.header(
                "List-Unsubscribe-Post",
                Raw::new("List-Unsubscribe=One-Click"),
            );
        }
    }
    for (name, value) in &msg.headers {
        b = b.header(name.as_str(), Raw::new(value.as_str()));
    }
    // Bodies are encoded here, in one pass (mail-builder's own encoder writes byte by byte).
    let part = |content_type: &'static str, body: &str| {
        MimePart::new(content_type, super::qp::encode(body)).transfer_encoding("quoted-printable")
    };
    let text = part("text/plain", &msg.text);
    b = match &msg.html {
        Some(html) => b.body(MimePart::new(
            "multipart/alternative",
            vec![text, part("text/html", html)],
        )),
        None => b.body(text),
    };
    let raw = b
        .write_to_vec()
        .map_err(|e| ComposeError::Io(e.to_string()))?;
    Ok(ComposedMessage {
        message_id,
        envelope_from: msg
            .return_path
            .as_ref()
            .unwrap_or(&msg.from.email)
            .to_string(),
        recipients: vec![msg.to.email.to_string()],
        raw,
    })
}

mod raw_base64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn sample() -> OutgoingMessage {
        OutgoingMessage {
            from: Mailbox::new(
                Some("Paradiso Amsterdam"),
                EmailAddress::parse("news@paradiso.nl").unwrap(),
            ),
            to: Mailbox::new(
                Some("Zoë Ünal"),
                EmailAddress::parse("zoe@example.nl").unwrap(),
            ),
            reply_to: None,
            return_path: Some(EmailAddress::parse("bounces@paradiso.nl").unwrap()),
            subject: "Nieuw: café-concert — €5 korting 🎶".into(),
            text: "Hallo Zoë,\nTot snel!".into(),
            html: Some("<p>Hallo Zoë,</p><p>Tot snel!</p>".into()),
            list_unsubscribe: Some(ListUnsubscribe {
                url: "https://mail.paradiso.nl/p/unsubscribe/abc".into(),
                mailto: Some("unsubscribe@paradiso.nl".into()),
                one_click: true,
            }),
            headers: vec![("X-Handbill-Mailing".into(), "42".into())],
        }
    }

    #[test]
    fn builds_a_parseable_multipart_alternative_message() {
        let m = compose(&sample(), "mail.paradiso.nl", 1_700_000_000_000).unwrap();
        assert_eq!(m.envelope_from, "bounces@paradiso.nl");
        assert_eq!(m.recipients, vec!["zoe@example.nl"]);
        let raw = String::from_utf8(m.raw.clone()).unwrap();
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains("List-Unsubscribe: <https://mail.paradiso.nl/p/unsubscribe/abc>, <mailto:unsubscribe@paradiso.nl>"));
        assert!(
            raw.contains("=?utf-8?"),
            "non-ASCII headers are RFC 2047 encoded"
        );
        assert!(
            raw.lines().all(|l| l.len() <= 998),
            "no line is longer than RFC 5322 allows"
        );
        assert!(raw.is_ascii(), "headers and bodies are 7-bit safe");
        let parsed = MessageParser::default().parse(&m.raw).unwrap();
        assert_eq!(
            parsed.subject(),
            Some("Nieuw: café-concert — €5 korting 🎶")
        );
        assert_eq!(
            parsed.from().unwrap().first().unwrap().name(),
            Some("Paradiso Amsterdam")
        );
        assert_eq!(
            parsed.to().unwrap().first().unwrap().name(),
            Some("Zoë Ünal")
        );
        assert_eq!(parsed.message_id(), Some(m.message_id.as_str()));
        assert!(m.message_id.ends_with("@mail.paradiso.nl"));
        assert_eq!(parsed.date().unwrap().to_timestamp(), 1_700_000_000);
        assert_eq!(
            parsed
                .body_text(0)
                .unwrap()
                .trim_end()
                .replace("\r\n", "\n"),
            "Hallo Zoë,\nTot snel!"
        );
        assert!(parsed.body_html(0).unwrap().contains("Hallo Zoë"));
        assert_eq!(
            parsed.header_raw("X-Handbill-Mailing").map(str::trim),
            Some("42")
        );
    }

    #[test]
    fn refuses_header_injection() {
        let mut m = sample();
        m.subject = "Hi\r\nBcc: victim@example.com".into();
        assert_eq!(
            compose(&m, "h", 0).unwrap_err(),
            ComposeError::HeaderInjection("Subject".into())
        );
        let mut m = sample();
        m.to.name = Some("Eve\nBcc: x@y.nl".into());
        assert_eq!(
            compose(&m, "h", 0).unwrap_err(),
            ComposeError::HeaderInjection("To".into())
        );
        let mut m = sample();
        m.headers = vec![("X-Ok".into(), "a\rb".into())];
        assert!(matches!(
            compose(&m, "h", 0),
            Err(ComposeError::HeaderInjection(_))
        ));
        let mut m = sample();
        m.headers = vec![("Bcc".into(), "x@y.nl".into())];
        assert!(matches!(
            compose(&m, "h", 0),
            Err(ComposeError::BadHeaderName(_))
        ));
        let mut m = sample();
        m.headers = vec![("X Bad".into(), "v".into())];
        assert!(matches!(
            compose(&m, "h", 0),
            Err(ComposeError::BadHeaderName(_))
        ));
        let mut m = sample();
        m.list_unsubscribe.as_mut().unwrap().url = "javascript:alert(1)".into();
        assert_eq!(
            compose(&m, "h", 0).unwrap_err(),
            ComposeError::BadUnsubscribeUrl
        );
        let mut m = sample();
        m.list_unsubscribe.as_mut().unwrap().mailto = Some("a@b.nl>\r\nX: y".into());
        assert!(matches!(
            compose(&m, "h", 0),
            Err(ComposeError::HeaderInjection(_))
        ));
    }

    #[test]
    fn text_only_message() {
        let mut m = sample();
        m.html = None;
        m.list_unsubscribe = None;
        let c = compose(&m, "h.example", 0).unwrap();
        let raw = String::from_utf8(c.raw).unwrap();
        assert!(!raw.contains("multipart/alternative"));
        assert!(!raw.contains("List-Unsubscribe"));
    }
}
