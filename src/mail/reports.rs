//! Reading the mail that comes back: delivery status notifications (DSN, RFC 3464) and abuse
//! complaints (ARF, RFC 5965), parsed with `mail-parser`. Anything else (auto-replies,
//! plain-text notes) is not a report and changes nothing.

use mail_parser::{MessageParser, MimeHeaders};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// The address does not work and will not (unknown user, disabled mailbox, bad domain).
    Hard,
    /// Delivery failed for now or for another reason than the address (full mailbox, policy,
    /// size, delays).
    Soft,
    /// The recipient marked the mail as spam.
    Complaint,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub kind: ReportKind,
    /// Status code and diagnostic, for the delivery log.
    pub detail: String,
    /// The text of the returned original (or its headers), where the VERP address is found
    /// when the report did not come to it.
    pub original: String,
}

/// The kind of a failed delivery by its RFC 3463 status: permanent failures about the address
/// are hard; mailbox full (5.2.2), size (5.3.4) and policy (5.7.x) failures are soft.
pub fn status_kind(status: &str) -> Option<ReportKind> {
    let s = status.trim();
    if s.starts_with('4') {
        return Some(ReportKind::Soft);
    }
    if !s.starts_with('5') {
        return None;
    }
    let soft = s.starts_with("5.7.") || s == "5.2.2" || s == "5.3.4";
    Some(if soft {
        ReportKind::Soft
    } else {
        ReportKind::Hard
    })
}

/// Fields (`Name: value`, lower-cased names) of a delivery-status or feedback-report body.
fn fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

/// Classifies a returned message; None when it is not a DSN or ARF report.
pub fn classify(raw: &[u8]) -> Option<Report> {
    let msg = MessageParser::default().parse(raw)?;
    let ct = msg.content_type()?;
    if !(ct.ctype().eq_ignore_ascii_case("multipart")
        && ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report")))
    {
        return None;
    }
    let report_type = ct
        .attribute("report-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let part_text = |subtype: &str| {
        msg.parts.iter().find_map(|p| {
            let c = p.content_type()?;
            let st = c.subtype()?;
            (st.eq_ignore_ascii_case(subtype))
                .then(|| String::from_utf8_lossy(p.contents()).to_string())
        })
    };
    let original = part_text("rfc822")
        .or_else(|| part_text("rfc822-headers"))
        .unwrap_or_default();
    match report_type.as_str() {
        "feedback-report" => {
            let f = fields(&part_text("feedback-report").unwrap_or_default());
            let kind = f
                .iter()
                .find(|(k, _)| k == "feedback-type")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "abuse".into());
            Some(Report {
                kind: ReportKind::Complaint,
                detail: format!("complaint: {kind}"),
                original,
            })
        }
        "delivery-status" => {
            let f = fields(&part_text("delivery-status")?);
            let mut worst: Option<(ReportKind, String)> = None;
            let mut action = String::new();
            let mut diagnostic = String::new();
            for (k, v) in &f {
                match k.as_str() {
                    "action" => action = v.to_ascii_lowercase(),
                    "diagnostic-code" => diagnostic = v.clone(),
                    "status" if matches!(action.as_str(), "failed" | "delayed" | "") => {
                        if let Some(kind) = status_kind(v) {
                            if worst.as_ref().is_none_or(|(w, _)| *w == ReportKind::Soft) {
                                worst = Some((kind, v.clone()));
                            }
                        }
                    }
                    _ => {}
                }
            }
            let (kind, status) = worst?;
            Some(Report {
                kind,
                detail: format!("{status} {diagnostic}").trim().to_string(),
                original,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn dsn(status: &str, action: &str) -> String {
        format!(
            "From: MAILER-DAEMON@mx.example.nl\r\nTo: bounces+1-2-abc@mail.venue.test\r\nSubject: Undelivered Mail\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
             --B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
             --B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.nl\r\n\r\n\
             Final-Recipient: rfc822; gone@example.nl\r\nAction: {action}\r\nStatus: {status}\r\n\
             Diagnostic-Code: smtp; 550 {status} user unknown\r\n\r\n\
             --B\r\nContent-Type: text/rfc822-headers\r\n\r\nReturn-Path: <bounces+1-2-abc@mail.venue.test>\r\nSubject: Concerts\r\n\r\n--B--\r\n"
        )
    }

    #[test]
    fn delivery_status_notifications() {
        let r = classify(dsn("5.1.1", "failed").as_bytes()).unwrap();
        assert_eq!(r.kind, ReportKind::Hard);
        assert!(r.detail.starts_with("5.1.1 smtp; 550"), "{}", r.detail);
        assert!(r.original.contains("bounces+1-2-abc@"));
        assert_eq!(
            classify(dsn("5.2.2", "failed").as_bytes()).unwrap().kind,
            ReportKind::Soft
        );
        assert_eq!(
            classify(dsn("4.4.1", "delayed").as_bytes()).unwrap().kind,
            ReportKind::Soft
        );
        assert_eq!(classify(dsn("2.0.0", "delivered").as_bytes()), None);
    }

    #[test]
    fn complaints_and_other_mail() {
        let arf = "From: fbl@isp.example\r\nTo: fbl@mail.venue.test\r\nMIME-Version: 1.0\r\n\
                   Content-Type: multipart/report; report-type=feedback-report; boundary=\"B\"\r\n\r\n\
                   --B\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n\
                   --B\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n\
                   --B\r\nContent-Type: message/rfc822\r\n\r\nReturn-Path: <bounces+1-2-abc@mail.venue.test>\r\nSubject: x\r\n\r\nbody\r\n--B--\r\n";
        let r = classify(arf.as_bytes()).unwrap();
        assert_eq!(r.kind, ReportKind::Complaint);
        assert!(r.original.contains("bounces+1-2-abc@"), "{}", r.original);
        let reply = "From: a@b.nl\r\nSubject: Out of office\r\n\r\nI am away.\r\n";
        assert_eq!(classify(reply.as_bytes()), None);
    }
}
