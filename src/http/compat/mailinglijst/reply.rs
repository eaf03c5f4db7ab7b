//! The XML answer of every call: the seed's `api` document (url, referrer, member, member_id,
//! address_guid, responsecode, description, date), the `listcodes`/`listfields` blocks when
//! codes or fields were given, and the action's own data. Its schema is `api.xsd`.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// The result codes of the seed.
pub const OK: u16 = 200;
pub const VALIDATION: u16 = 401;
pub const NOT_FOUND: u16 = 404;
pub const UNACCEPTABLE: u16 = 406;
pub const CONFLICT: u16 = 409;
pub const ERROR: u16 = 500;

/// A failed call: its result code and an English description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub code: u16,
    pub description: String,
}

impl Fail {
    pub fn new(code: u16, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

pub type MlResult<T> = Result<T, Fail>;

/// An element with text, or with attributes and children.
#[derive(Debug, Clone)]
pub enum Node {
    Leaf(&'static str, String),
    Branch(&'static str, Vec<(&'static str, String)>, Vec<Node>),
}

impl Node {
    pub fn leaf(name: &'static str, text: impl ToString) -> Self {
        Node::Leaf(name, text.to_string())
    }

    pub fn branch(name: &'static str, children: Vec<Node>) -> Self {
        Node::Branch(name, Vec::new(), children)
    }
}

/// One code or field of the request and what became of it.
#[derive(Debug, Clone)]
pub struct BlockItem {
    pub id: Option<i64>,
    pub name: String,
    pub content: String,
    pub code: u16,
    pub description: String,
}

/// The `listcodes` or `listfields` block.
#[derive(Debug, Clone, Default)]
pub struct Block {
    pub owner: String,
    pub deleted: u64,
    pub items: Vec<BlockItem>,
}

/// Everything an answer says besides the call's own data.
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    pub description: String,
    pub guid: String,
    pub listcodes: Option<Block>,
    pub listfields: Option<Block>,
    pub data: Option<Node>,
}

impl Reply {
    pub fn ok(description: impl Into<String>) -> Self {
        Self {
            code: OK,
            description: description.into(),
            guid: String::new(),
            listcodes: None,
            listfields: None,
            data: None,
        }
    }

    pub fn with_guid(mut self, guid: &str) -> Self {
        self.guid = guid.to_string();
        self
    }

    pub fn with_data(mut self, data: Node) -> Self {
        self.data = Some(data);
        self
    }
}

impl From<Fail> for Reply {
    fn from(f: Fail) -> Self {
        Reply {
            code: f.code,
            ..Reply::ok(f.description)
        }
    }
}

/// The date format of the seed's example (`12-31-2010 23:59:59`), in UTC.
pub fn ml_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%m-%d-%Y %H:%M:%S")
        .to_string()
}

/// Who asked and about what, for the head of the document.
pub struct Head<'a> {
    pub url: &'a str,
    pub referrer: &'a str,
    pub member: &'a str,
    pub member_id: Option<i64>,
    pub now: i64,
}

fn write(w: &mut Writer<Vec<u8>>, node: &Node) {
    // Writing into a Vec cannot fail.
    match node {
        Node::Leaf(name, text) => {
            let _ = w.write_event(Event::Start(BytesStart::new(*name)));
            let _ = w.write_event(Event::Text(BytesText::new(text)));
            let _ = w.write_event(Event::End(BytesEnd::new(*name)));
        }
        Node::Branch(name, attrs, children) => {
            let mut start = BytesStart::new(*name);
            for (k, v) in attrs {
                start.push_attribute((*k, v.as_str()));
            }
            let _ = w.write_event(Event::Start(start));
            for c in children {
                write(w, c);
            }
            let _ = w.write_event(Event::End(BytesEnd::new(*name)));
        }
    }
}

fn block(name: &'static str, item: &'static str, b: &Block) -> Node {
    Node::Branch(
        name,
        vec![
            ("owner", b.owner.clone()),
            ("deleted", b.deleted.to_string()),
        ],
        b.items
            .iter()
            .map(|i| {
                Node::branch(
                    item,
                    vec![
                        Node::leaf(
                            "listcode_id",
                            i.id.map(|v| v.to_string()).unwrap_or_default(),
                        ),
                        Node::leaf("code_name", &i.name),
                        Node::leaf("content", &i.content),
                        Node::leaf("responsecode", i.code),
                        Node::leaf("description", &i.description),
                    ],
                )
            })
            .collect(),
    )
}

/// The whole document.
pub fn render(head: &Head<'_>, r: &Reply) -> Vec<u8> {
    let mut w = Writer::new_with_indent(Vec::with_capacity(1024), b' ', 2);
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)));
    let _ = w.write_event(Event::Comment(BytesText::new(
        " response from Handbill's MailingLijst-compatible API; schema: /api/api.xsd ",
    )));
    let mut children = vec![
        Node::leaf("url", head.url),
        Node::leaf("referrer", head.referrer),
        Node::leaf("member", head.member),
        Node::leaf(
            "member_id",
            head.member_id.map(|v| v.to_string()).unwrap_or_default(),
        ),
        Node::leaf("address_guid", &r.guid),
        Node::leaf("responsecode", r.code),
        Node::leaf("description", &r.description),
        Node::leaf("date", ml_date(head.now)),
    ];
    if let Some(b) = &r.listcodes {
        children.push(block("listcodes", "listcode", b));
    }
    if let Some(b) = &r.listfields {
        children.push(block("listfields", "listfield", b));
    }
    children.extend(r.data.clone());
    write(&mut w, &Node::branch("api", children));
    let mut out = w.into_inner();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_formats() {
        let head = Head {
            url: "https://h.example/api/?key=xxx&action=GET",
            referrer: "192.0.2.1",
            member: "Venue <&>",
            member_id: Some(7),
            now: 1_293_839_999_000,
        };
        let xml = String::from_utf8(render(&head, &Reply::ok("done"))).unwrap();
        assert!(xml.contains("<url>https://h.example/api/?key=xxx&amp;action=GET</url>"));
        assert!(xml.contains("<member>Venue &lt;&amp;&gt;</member>"));
        assert!(xml.contains("<date>12-31-2010 23:59:59</date>"));
        assert!(xml.contains("<responsecode>200</responsecode>"));
    }
}
