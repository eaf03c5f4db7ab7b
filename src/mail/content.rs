//! The body of a marketing mail around what the marketer wrote: the layout it sits in, the
//! unsubscribe footer when the content has no unsubscribe link, tracked links and the open
//! pixel. Pure text transformations, no I/O.

use super::template::unescape;

/// The mailing's HTML inside its layout (at `{{ content }}`), with the default footer added
/// when neither names `links.unsubscribe`.
pub fn assemble_html(html: &str, layout: Option<&str>) -> String {
    let body = match layout {
        Some(l) => l.replacen(LAYOUT_SLOT, html, 1),
        None => html.to_string(),
    };
    if body.contains("links.unsubscribe") {
        return body;
    }
    insert_before_body_end(&body, HTML_FOOTER)
}

/// The text part with the default footer when it has no unsubscribe link.
pub fn assemble_text(text: &str) -> String {
    if text.contains("links.unsubscribe") {
        text.to_string()
    } else {
        format!("{text}{TEXT_FOOTER}")
    }
}

/// Where a layout takes the mailing's content.
pub const LAYOUT_SLOT: &str = "{{ content }}";

const HTML_FOOTER: &str =
    "\n<p style=\"font-size:12px;color:#666666;margin-top:32px\">{{ footer.why }} \
<a href=\"{{ links.unsubscribe }}\">{{ footer.unsubscribe }}</a> · \
<a href=\"{{ links.preferences }}\">{{ footer.preferences }}</a> · \
<a href=\"{{ links.view_in_browser }}\">{{ footer.view }}</a></p>\n";

const TEXT_FOOTER: &str =
    "\n\n-- \n{{ footer.why }}\n{{ footer.unsubscribe }}: {{ links.unsubscribe }}\n{{ footer.preferences }}: {{ links.preferences }}\n";

/// Footer words in the recipient's language.
pub fn footer_words(lang: &str) -> [(&'static str, &'static str); 4] {
    let (why, unsubscribe, preferences, view) = match lang {
        "en" => (
            "You receive this mail because you subscribed to it.",
            "Unsubscribe",
            "Manage your preferences",
            "View in your browser",
        ),
        "de" => (
            "Sie erhalten diese E-Mail, weil Sie sie abonniert haben.",
            "Abmelden",
            "Einstellungen verwalten",
            "Im Browser ansehen",
        ),
        "fr" => (
            "Vous recevez ce message parce que vous vous y êtes abonné(e).",
            "Se désabonner",
            "Gérer vos préférences",
            "Voir dans le navigateur",
        ),
        _ => (
            "Je ontvangt deze mail omdat je je hiervoor hebt aangemeld.",
            "Afmelden",
            "Voorkeuren beheren",
            "Bekijk in je browser",
        ),
    };
    [
        ("why", why),
        ("unsubscribe", unsubscribe),
        ("preferences", preferences),
        ("view", view),
    ]
}

fn insert_before_body_end(html: &str, snippet: &str) -> String {
    match html.to_ascii_lowercase().rfind("</body>") {
        Some(i) => format!("{}{snippet}{}", &html[..i], &html[i..]),
        None => format!("{html}{snippet}"),
    }
}

/// Adds the open-tracking pixel.
pub fn add_pixel(html: &str, url: &str) -> String {
    insert_before_body_end(
        html,
        &format!(
            "<img src=\"{url}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0;width:1px;height:1px\">"
        ),
    )
}

/// Calls `f` with the (decoded) value of every `href` attribute; where it returns a new
/// URL, the attribute is replaced.
pub fn rewrite_hrefs(html: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut pos = 0;
    while let Some(i) = find_href(&html.as_bytes()[pos..]) {
        let at = pos + i + 5;
        let quote = html[at..].chars().next();
        let (Some(q @ ('"' | '\'')), true) = (quote, at < html.len()) else {
            out.push_str(&html[pos..at]);
            pos = at;
            continue;
        };
        let Some(len) = html[at + 1..].find(q) else {
            break;
        };
        let value = &html[at + 1..at + 1 + len];
        out.push_str(&html[pos..at + 1]);
        match f(&unescape(value)) {
            Some(new) if new.contains(['&', '"']) => {
                out.push_str(&new.replace('&', "&amp;").replace('"', "&quot;"))
            }
            Some(new) => out.push_str(&new),
            None => out.push_str(value),
        }
        pos = at + 1 + len;
    }
    out.push_str(&html[pos..]);
    out
}

/// Where `href=` (in any case) starts in `s`.
fn find_href(s: &[u8]) -> Option<usize> {
    memchr::memchr2_iter(b'h', b'H', s).find(|&i| {
        s.get(i + 1..i + 5)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"ref="))
    })
}

/// The links of a template that clicks are tracked for: absolute http(s) URLs written out in
/// full (a URL built by template code differs per recipient and is left as it is).
pub fn tracked_links(html_source: &str) -> Vec<String> {
    let mut links: Vec<String> = Vec::new();
    rewrite_hrefs(html_source, |v| {
        let v = v.trim();
        let lower = v.to_ascii_lowercase();
        if (lower.starts_with("http://") || lower.starts_with("https://"))
            && !v.contains("{{")
            && !v.contains("{%")
            && v.len() <= 2000
            && !links.iter().any(|l| l == v)
        {
            links.push(v.to_string());
        }
        None
    });
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_only_when_the_content_has_no_unsubscribe_link() {
        let with = "<p>Hi</p><a href=\"{{ links.unsubscribe }}\">weg</a>";
        assert_eq!(assemble_html(with, None), with);
        let without = assemble_html("<html><body><p>Hi</p></body></html>", None);
        assert!(without.contains("{{ links.unsubscribe }}"));
        assert!(without.ends_with("</p>\n</body></html>"));
        assert!(assemble_text("Hi").contains("{{ links.unsubscribe }}"));
        let laid_out = assemble_html("<p>Concert</p>", Some("<div>{{ content }}</div>"));
        assert!(laid_out.starts_with("<div><p>Concert</p></div>"));
    }

    #[test]
    fn links_are_found_and_rewritten() {
        let src = "<a href=\"https://venue.test/a?x=1&amp;y=2\">A</a> <a href='https://venue.test/b'>B</a> \
                   <a href=\"{{ links.unsubscribe }}\">U</a> <a href=\"https://venue.test/{{ contact.id }}\">P</a> \
                   <a href=\"mailto:x@venue.test\">M</a> <a href=\"https://venue.test/b\">B2</a>";
        assert_eq!(
            tracked_links(src),
            vec!["https://venue.test/a?x=1&y=2", "https://venue.test/b"]
        );
        let out = rewrite_hrefs(src, |v| {
            (v == "https://venue.test/a?x=1&y=2").then(|| "https://t.test/c/1?a=b&c".to_string())
        });
        assert!(out.starts_with("<a href=\"https://t.test/c/1?a=b&amp;c\">A</a>"));
        assert!(out.contains("href='https://venue.test/b'"));
        assert_eq!(rewrite_hrefs("no links", |_| None), "no links");
        assert_eq!(
            tracked_links("<A HREF=\"https://x.test/\">x</A>"),
            vec!["https://x.test/"]
        );
        assert_eq!(rewrite_hrefs("href=x href=\"", |_| None), "href=x href=\"");
    }

    #[test]
    fn pixel_goes_before_the_end_of_the_body() {
        let out = add_pixel("<body><p>x</p></BODY>", "https://t/o/1");
        assert!(out.ends_with("style=\"display:block;border:0;width:1px;height:1px\"></BODY>"));
    }
}
