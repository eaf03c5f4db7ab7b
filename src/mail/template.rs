//! Mail templates: MiniJinja with HTML auto-escaping for the HTML part, syntax checked when a
//! template is saved (errors name the part, line and column), compiled once and rendered per
//! recipient. Rendering is bounded ("fuel"), so no template can loop forever.

use minijinja::Environment;
use serde::Serialize;

/// Instructions one render may execute: far above any real mail, far below a runaway loop.
const FUEL: u64 = 2_000_000;

/// A syntax error, located for the person who wrote the template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{part}: line {line}, column {column}: {message}")]
pub struct TemplateError {
    /// `subject`, `html` or `text`.
    pub part: &'static str,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl TemplateError {
    /// "line L, column C: what is wrong" (the part is named by the field it belongs to).
    pub fn located(&self) -> String {
        format!(
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

fn file_name(part: &'static str) -> &'static str {
    match part {
        "html" => "body.html",
        "text" => "body.txt",
        _ => "subject.txt",
    }
}

fn locate(part: &'static str, src: &str, e: &minijinja::Error) -> TemplateError {
    let line = e.line().unwrap_or(1);
    let column = e
        .range()
        .map(|r| {
            let start = r.start.min(src.len());
            let line_start = src[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
            src[line_start..start].chars().count() + 1
        })
        .unwrap_or(1);
    TemplateError {
        part,
        line,
        column,
        message: e.detail().unwrap_or("syntax error").to_string(),
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    // A field the contact does not have prints as nothing, not as "None".
    env.set_formatter(|out, state, value| {
        if value.is_none() || value.is_undefined() {
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env
}

/// Checks the syntax of one part.
pub fn check(part: &'static str, src: &str) -> Result<(), TemplateError> {
    let env = environment();
    env.template_from_named_str(file_name(part), src)
        .map(|_| ())
        .map_err(|e| locate(part, src, &e))
}

/// Renders one plain-text template (no HTML escaping): SMS texts, request URLs and bodies.
pub fn render_text<S: Serialize>(src: &str, ctx: &S) -> Result<String, String> {
    environment()
        .render_named_str(file_name("text"), src, ctx)
        .map_err(|e| e.to_string())
}

/// The three parts of a mail, compiled.
pub struct Compiled {
    env: Environment<'static>,
}

/// One rendered mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

impl Compiled {
    /// Compiles the parts; without a text part, one is derived from the HTML template (tags
    /// dropped, links kept after their text) and rendered like the others.
    pub fn new(subject: &str, html: &str, text: Option<&str>) -> Result<Self, TemplateError> {
        let mut env = environment();
        let derived;
        let text = match text {
            Some(t) => t,
            None => {
                derived = html_to_text(html);
                &derived
            }
        };
        for (part, src) in [("subject", subject), ("html", html), ("text", text)] {
            env.add_template_owned(file_name(part), src.to_string())
                .map_err(|e| locate(part, src, &e))?;
        }
        Ok(Self { env })
    }

    /// Renders for one recipient.
    pub fn render<S: Serialize>(&self, ctx: &S) -> Result<Rendered, String> {
        // Converted once for the three parts (a Value passes into each render as it is).
        let ctx = minijinja::Value::from_serialize(ctx);
        let render = |name: &str| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(&ctx))
                .map_err(|e| e.to_string())
        };
        let subject = render("subject.txt")?;
        Ok(Rendered {
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            html: render("body.html")?,
            text: render("body.txt")?,
        })
    }
}

/// A plain-text version of HTML (or of an HTML template: `{{ … }}` and `{% … %}` pass
/// through untouched): tags dropped, entities decoded, link targets kept after their text,
/// white space tidied.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut tag = String::new();
    let mut pending_href: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("{{") || rest.starts_with("{%") {
            let close = if rest.starts_with("{{") { "}}" } else { "%}" };
            let end = rest.find(close).map(|i| i + 2).unwrap_or(rest.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        if c == '<' {
            let Some(end) = tag_end(rest) else {
                out.push_str(rest);
                break;
            };
            tag.clear();
            tag.push_str(&rest[1..end]);
            rest = &rest[end + 1..];
            let closing = tag.starts_with('/');
            let name = tag
                .trim_start_matches('/')
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if name == "a" && !closing {
                pending_href.push(attribute(&tag, "href").unwrap_or_default());
            } else if name == "a" && closing {
                if let Some(h) = pending_href
                    .pop()
                    .filter(|h| h.starts_with("http") || h.starts_with("{{"))
                {
                    out.push_str(&format!(" ( {h} )"));
                }
            }
            if matches!(
                name.as_str(),
                "p" | "br" | "div" | "li" | "h1" | "h2" | "h3" | "tr" | "ul" | "table"
            ) {
                out.push('\n');
            }
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    let decoded = unescape(&out);
    let mut text = String::with_capacity(decoded.len());
    let mut blank = 0;
    for line in decoded.lines().map(str::trim) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !text.is_empty() {
            text.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        text.push_str(line);
    }
    text
}

/// The index of the `>` that ends the tag at the start of `s`, skipping template
/// expressions inside it (`<a href="{{ url }}">`).
fn tag_end(s: &str) -> Option<usize> {
    let mut i = 1;
    while i < s.len() {
        let r = &s[i..];
        if r.starts_with("{{") || r.starts_with("{%") {
            let close = if r.starts_with("{{") { "}}" } else { "%}" };
            i += r.find(close)? + 2;
            continue;
        }
        let c = r.chars().next()?;
        if c == '>' {
            return Some(i);
        }
        i += c.len_utf8();
    }
    None
}

/// Decodes the entities MiniJinja's escaper writes (and `&nbsp;`); text without `&` is
/// returned as it is, uncopied.
pub fn unescape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('&') {
        return s.into();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .into()
}

/// The value of `name="…"` (or `'…'`) in the inside of a tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        let rest = tag[at + name.len()..].trim_start();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        if before_ok {
            if let Some(rest) = rest.strip_prefix('=') {
                let rest = rest.trim_start();
                let quote = rest.chars().next()?;
                if quote == '"' || quote == '\'' {
                    let end = rest[1..].find(quote)?;
                    return Some(unescape(&rest[1..1 + end]).into_owned());
                }
            }
        }
        from = at + name.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn syntax_errors_name_part_line_and_column() {
        let e = check("html", "<p>Hi</p>\n<p>{{ contact.first_name </p>").unwrap_err();
        assert_eq!(e.part, "html");
        assert_eq!(e.line, 2);
        assert!(e.column > 1, "{e:?}");
        assert!(check("subject", "Hello {{ contact.first_name }}").is_ok());
        assert!(check("text", "{% if x %}unclosed").is_err());
    }

    #[test]
    fn html_is_escaped_and_text_is_derived() {
        let t = Compiled::new(
            "Hi {{ name }}",
            "<p>Hi {{ name }}</p><p><a href=\"https://venue.test/x?a=1&amp;b=2\">Tickets</a></p>",
            None,
        )
        .unwrap();
        let r = t.render(&context!(name => "<b>Zoë</b>")).unwrap();
        assert_eq!(r.subject, "Hi <b>Zoë</b>");
        assert!(r.html.contains("&lt;b&gt;Zoë&lt;&#x2f;b&gt;"));
        assert_eq!(
            r.text,
            "Hi <b>Zoë</b>\n\nTickets ( https://venue.test/x?a=1&b=2 )"
        );
    }

    #[test]
    fn missing_fields_print_as_nothing() {
        let t = Compiled::new(
            "Hi {{ first_name }}",
            "<p>Dear {{ first_name }}{{ nope }}, {{ n }}</p>",
            None,
        )
        .unwrap();
        let r = t.render(&context!(first_name => (), n => 0)).unwrap();
        assert_eq!(r.subject, "Hi");
        assert_eq!(r.html, "<p>Dear , 0</p>");
        let r = t.render(&context!(first_name => "Anna", n => 2)).unwrap();
        assert_eq!(r.html, "<p>Dear Anna, 2</p>");
    }

    #[test]
    fn text_is_derived_from_the_template_itself() {
        let t = html_to_text(
            "<p>{% if n < 3 %}Hi {{ name }}{% endif %}</p><a href=\"{{ links.unsubscribe }}\">Stop</a><p>A &amp; B</p>",
        );
        assert_eq!(
            t,
            "{% if n < 3 %}Hi {{ name }}{% endif %}\nStop ( {{ links.unsubscribe }} )\nA & B"
        );
        let c = Compiled::new("s", "<p>{{ x }}</p>", None).unwrap();
        assert_eq!(
            c.render(&context!(x => "<&>")).unwrap().text,
            "<&>",
            "the text part is not HTML-escaped"
        );
    }

    #[test]
    fn runaway_templates_stop() {
        let t = Compiled::new(
            "x",
            "{% for a in range(10000) %}{% for b in range(10000) %}.{% endfor %}{% endfor %}",
            None,
        )
        .unwrap();
        assert!(t.render(&context!()).is_err());
    }
}
