//! The nine actions of the seed, each translated to Handbill's services.

use super::params::{language_name, AddressRef, Params};
use super::reply::{
    Block, BlockItem, Fail, MlResult, Node, Reply, CONFLICT, ERROR, NOT_FOUND, UNACCEPTABLE,
    VALIDATION,
};
use crate::app::App;
use crate::domain::contact::ContactInput;
use crate::domain::ledger::Evidence;
use crate::domain::list_code::{split_codes, split_fields, validate_owner, CodeKind, FieldType};
use crate::domain::{countries, ConsentAction, ContactFields, EmailAddress, Language, Scope};
use crate::services::mailings::{self, MailingInput};
use crate::services::optins::{self, ConsentMode, RegisterRequest};
use crate::services::tokens::Principal;
use crate::services::{consent, contacts, found, lists, optin_mail, ServiceError};
use crate::store::{
    AddressWrite, AddressWritten, ContactRow, ListCodeRow, ListRow, Org, StoreError,
};

/// Newest entries of the send and bounce history GET shows.
const HISTORY: i64 = 100;

/// One call: the account it acts on, the key's member, its parameters and body.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub org: Org,
    pub evidence: Evidence,
    pub p: &'a Params,
    pub body: Option<String>,
}

impl From<ServiceError> for Fail {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Validation(v) => Fail::new(
                UNACCEPTABLE,
                v.0.first()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .unwrap_or_else(|| "invalid data".into()),
            ),
            ServiceError::NotFound(what) => Fail::new(NOT_FOUND, format!("{what} not found")),
            ServiceError::Conflict { message, .. } => Fail::new(CONFLICT, message),
            ServiceError::Unauthorized | ServiceError::Forbidden(_) => {
                Fail::new(VALIDATION, "action is not allowed")
            }
            other => {
                tracing::error!(error = %other, "MailingLijst action failed");
                Fail::new(ERROR, "an error occurred while processing the action")
            }
        }
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

pub async fn run(action: &str, ctx: &Ctx<'_>) -> MlResult<Reply> {
    match action {
        "SUBSCRIBE" => subscribe(ctx).await,
        "UNSUBSCRIBE" => unsubscribe(ctx).await,
        "EDIT" => edit(ctx).await,
        "GET" => get(ctx).await,
        "BLACKLISTADD" => blacklist(ctx, true).await,
        "BLACKLISTDELETE" => blacklist(ctx, false).await,
        "LISTGET" => list_get(ctx).await,
        "LISTCODEGROUP" => code_group(ctx),
        "BODYPOST" => body_post(ctx).await,
        _ => Err(Fail::new(NOT_FOUND, "action unknown")),
    }
}

fn address_missing() -> Fail {
    Fail::new(NOT_FOUND, "parameter e, guid or id missing")
}

async fn find(ctx: &Ctx<'_>, a: &AddressRef) -> MlResult<Option<ContactRow>> {
    let s = &ctx.app.store;
    let org = ctx.org.id;
    Ok(found(match a {
        AddressRef::Guid(g) => s.contact_by_guid(org, g).await,
        AddressRef::Id(id) => s.contact_by_id(org, *id).await,
        AddressRef::Email(e) => s.contact_by_email(org, e).await,
    })?)
}

/// The address the call names, which must exist.
async fn existing(ctx: &Ctx<'_>) -> MlResult<ContactRow> {
    let a = ctx.p.address()?.ok_or_else(address_missing)?;
    find(ctx, &a)
        .await?
        .ok_or_else(|| Fail::new(NOT_FOUND, "address not found"))
}

async fn list_by_number(ctx: &Ctx<'_>, number: i64) -> MlResult<ListRow> {
    ctx.app
        .store
        .lists(ctx.org.id)
        .await?
        .into_iter()
        .find(|l| l.number == number && l.archived_at.is_none())
        .ok_or_else(|| Fail::new(NOT_FOUND, format!("list {number} not found")))
}

async fn required_list(ctx: &Ctx<'_>) -> MlResult<ListRow> {
    let n = ctx.p.required_number("l", "list number")?;
    list_by_number(ctx, n).await
}

async fn fields_of(ctx: &Ctx<'_>, c: &ContactRow) -> MlResult<ContactFields> {
    Ok(c.fields(ctx.app.store.contact_tags(c.org_id, c.id).await?))
}

fn owner(p: &Params) -> MlResult<Option<String>> {
    match p.raw("owner") {
        None => Ok(None),
        Some(o) => validate_owner(o).map(Some).map_err(|_| {
            Fail::new(
                UNACCEPTABLE,
                "parameter owner is not valid (at most 20 letters, digits, _ or -)",
            )
        }),
    }
}

/// The codes (`lc`) and fields (`xf`) of the call, looked up in the list (or in every list of
/// the account when the call names none) and checked.
struct Codes {
    assign: Vec<(i64, String)>,
    listcodes: Option<Block>,
    listfields: Option<Block>,
    failure: Option<Fail>,
}

impl Codes {
    /// The answer with the blocks; `deleted` counts the owner's codes and fields removed.
    fn reply(self, mut r: Reply, deleted: (u64, u64)) -> Reply {
        r.listcodes = self.listcodes.map(|b| Block {
            deleted: deleted.0,
            ..b
        });
        r.listfields = self.listfields.map(|b| Block {
            deleted: deleted.1,
            ..b
        });
        r
    }
}

async fn resolve_codes(
    ctx: &Ctx<'_>,
    list: Option<&ListRow>,
    owner: &Option<String>,
) -> MlResult<Codes> {
    let lc = ctx.p.get("lc").map(split_codes).unwrap_or_default();
    let xf = match ctx.p.get("xf") {
        Some(x) => {
            split_fields(x).map_err(|e| Fail::new(UNACCEPTABLE, format!("parameter xf: {e}")))?
        }
        None => Vec::new(),
    };
    let mut codes = Codes {
        assign: Vec::new(),
        listcodes: None,
        listfields: None,
        failure: None,
    };
    if lc.is_empty() && xf.is_empty() && owner.is_none() {
        return Ok(codes);
    }
    let defined = ctx
        .app
        .store
        .list_codes(ctx.org.id, list.map(|l| l.id))
        .await?;
    let lookup = |kind: CodeKind, name: &str| -> Result<&ListCodeRow, (u16, String)> {
        let hits: Vec<&ListCodeRow> = defined
            .iter()
            .filter(|c| c.kind == kind.as_str())
            .filter(|c| c.id.to_string() == name || c.name.eq_ignore_ascii_case(name))
            .collect();
        match hits.as_slice() {
            [one] => Ok(one),
            [] => Err((NOT_FOUND, format!("list{kind} not found"))),
            _ => Err((
                CONFLICT,
                format!("{kind} name is used by several lists: give l or the id"),
            )),
        }
    };
    let owner_name = owner.clone().unwrap_or_default();
    let mut items_codes = Vec::new();
    for name in &lc {
        let item = match lookup(CodeKind::Code, name) {
            Ok(c) => {
                codes.assign.push((c.id, String::new()));
                BlockItem {
                    id: Some(c.id),
                    name: c.name.clone(),
                    content: String::new(),
                    code: 200,
                    description: "listcode assigned".into(),
                }
            }
            Err((code, d)) => BlockItem {
                id: None,
                name: name.clone(),
                content: String::new(),
                code,
                description: d,
            },
        };
        items_codes.push(item);
    }
    let mut items_fields = Vec::new();
    for (name, value) in &xf {
        let item = match lookup(CodeKind::Field, name) {
            Ok(c) => {
                let ty = FieldType::parse(&c.field_type).unwrap_or(FieldType::Text);
                match ty.normalize(value) {
                    Ok(v) => {
                        codes.assign.push((c.id, v.clone()));
                        BlockItem {
                            id: Some(c.id),
                            name: c.name.clone(),
                            content: v,
                            code: 200,
                            description: "listfield assigned".into(),
                        }
                    }
                    Err(e) => BlockItem {
                        id: Some(c.id),
                        name: c.name.clone(),
                        content: value.clone(),
                        code: UNACCEPTABLE,
                        description: e,
                    },
                }
            }
            Err((code, d)) => BlockItem {
                id: None,
                name: name.clone(),
                content: value.clone(),
                code,
                description: d,
            },
        };
        items_fields.push(item);
    }
    let first_bad = items_codes
        .iter()
        .map(|i| ("listcode", i))
        .chain(items_fields.iter().map(|i| ("listfield", i)))
        .find(|(_, i)| i.code != 200)
        .map(|(label, i)| Fail::new(i.code, format!("{label} '{}': {}", i.name, i.description)));
    if first_bad.is_some() {
        // Nothing is written: the good ones are reported as not assigned.
        for i in items_codes.iter_mut().chain(items_fields.iter_mut()) {
            if i.code == 200 {
                i.code = CONFLICT;
                i.description =
                    "not assigned: another code or field of the call was rejected".into();
            }
        }
        codes.assign.clear();
    }
    codes.failure = first_bad;
    if !lc.is_empty() || owner.is_some() {
        codes.listcodes = Some(Block {
            owner: owner_name.clone(),
            deleted: 0,
            items: items_codes,
        });
    }
    if !xf.is_empty() || owner.is_some() {
        codes.listfields = Some(Block {
            owner: owner_name,
            deleted: 0,
            items: items_fields,
        });
    }
    Ok(codes)
}

fn conflict_on_email(e: StoreError) -> Fail {
    if e.is_conflict_on("email") {
        Fail::new(CONFLICT, "emailaddress already exists")
    } else {
        e.into()
    }
}

async fn subscribe(ctx: &Ctx<'_>) -> MlResult<Reply> {
    let p = ctx.p;
    let number = p.required_number("l", "list number")?;
    let aref = p.address()?.ok_or_else(address_missing)?;
    let optin = p.yes_no("optin", true)?;
    let welcome = p.yes_no("welcome", false)?;
    let owner = owner(p)?;
    let list = list_by_number(ctx, number).await?;
    let (contact, new_email) = match (find(ctx, &aref).await?, &aref) {
        (Some(c), AddressRef::Email(_)) => (Some(c), None),
        (Some(c), _) => {
            if p.email()?.is_some_and(|e| e.as_str() != c.email) {
                return Err(Fail::new(
                    CONFLICT,
                    "parameter e is not the address of this guid or id: use EDIT to change it",
                ));
            }
            (Some(c), None)
        }
        (None, AddressRef::Email(e)) => (None, Some(e.clone())),
        (None, _) => return Err(Fail::new(NOT_FOUND, "address not found")),
    };
    let mut fields = match &contact {
        Some(c) => fields_of(ctx, c).await?,
        None => ContactFields::default(),
    };
    p.apply_address(&mut fields, new_email.as_ref().map(EmailAddress::as_str))?;
    if optin && list.double_optin {
        return Err(Fail::new(
            VALIDATION,
            format!("list {number} needs the address's own confirmation: subscribe with optin=0"),
        ));
    }
    let mut codes = resolve_codes(ctx, Some(&list), &owner).await?;
    if let Some(f) = codes.failure.take() {
        return Ok(codes.reply(f.into(), (0, 0)));
    }
    let guid = contacts::new_guid();
    let written = match (
        &new_email,
        optin && codes.assign.is_empty() && owner.is_none(),
    ) {
        // A new address with nothing but its fields: the opt-in service's write path, which
        // groups concurrent registrations into one transaction.
        (Some(email), true) => {
            let who = Principal::internal(ctx.org.id, Scope::ConsentAssert);
            let req = RegisterRequest {
                email: email.to_string(),
                optins: vec![list.key.clone()],
                fields: ContactInput::from(&fields),
                consent: ConsentMode::Asserted,
                guid: Some(guid.clone()),
                ..Default::default()
            };
            let out = optins::register(ctx.app, &who, &req, ctx.evidence.clone()).await?;
            AddressWritten {
                contact_id: out.contact_id,
                created: out.created,
                deleted: (0, 0),
                consent_changed: !out.changed.is_empty(),
            }
        }
        _ => ctx
            .app
            .store
            .write_address(&AddressWrite {
                org_id: ctx.org.id,
                contact_id: contact.as_ref().map(|c| c.id),
                guid: &guid,
                email: new_email.as_ref(),
                fields: &fields,
                codes: &codes.assign,
                owner: owner.as_deref(),
                consent: optin.then_some((list.id, ConsentAction::Assert, &ctx.evidence)),
                now: ctx.app.now(),
            })
            .await
            .map_err(conflict_on_email)?,
    };
    let (id, email, guid) = match (contact, written.created) {
        (Some(c), _) => (c.id, c.email, c.guid),
        (None, true) => (
            written.contact_id,
            new_email.map(|e| e.to_string()).unwrap_or_default(),
            guid,
        ),
        // Created by a concurrent call in between.
        (None, false) => {
            let c = ctx
                .app
                .store
                .contact_by_id(ctx.org.id, written.contact_id)
                .await?;
            (c.id, c.email, c.guid)
        }
    };
    let description = if optin {
        if written.consent_changed {
            if welcome {
                let job = optin_mail::WelcomeJob {
                    contact_id: id,
                    list_id: list.id,
                };
                let now = ctx.app.now();
                ctx.app
                    .store
                    .enqueue_job(
                        Some(ctx.org.id),
                        optin_mail::WELCOME,
                        &serde_json::to_string(&job).unwrap_or_default(),
                        now,
                        crate::services::mail::MAIL_MAX_ATTEMPTS,
                        now,
                    )
                    .await?;
            }
            "address subscribed"
        } else {
            "address already subscribed"
        }
    } else {
        let who = Principal::internal(ctx.org.id, Scope::OptinRegister);
        let req = RegisterRequest {
            email,
            optins: vec![list.key.clone()],
            consent: ConsentMode::Confirm,
            ..Default::default()
        };
        optins::register(ctx.app, &who, &req, ctx.evidence.clone()).await?;
        match ctx.app.store.subscription(ctx.org.id, id, list.id).await {
            Ok(s) if s.status == "subscribed" => "address already subscribed",
            _ => "address pending: opt-in mail sent",
        }
    };
    Ok(codes.reply(Reply::ok(description).with_guid(&guid), written.deleted))
}

async fn unsubscribe(ctx: &Ctx<'_>) -> MlResult<Reply> {
    let list = required_list(ctx).await?;
    let c = existing(ctx).await?;
    let owner = owner(ctx.p)?;
    let mut codes = resolve_codes(ctx, Some(&list), &owner).await?;
    if let Some(f) = codes.failure.take() {
        return Ok(codes.reply(Reply::from(f).with_guid(&c.guid), (0, 0)));
    }
    let fields = fields_of(ctx, &c).await?;
    let written = ctx
        .app
        .store
        .write_address(&AddressWrite {
            org_id: ctx.org.id,
            contact_id: Some(c.id),
            guid: &c.guid,
            email: None,
            fields: &fields,
            codes: &codes.assign,
            owner: owner.as_deref(),
            consent: Some((list.id, ConsentAction::Unsubscribe, &ctx.evidence)),
            now: ctx.app.now(),
        })
        .await?;
    let d = if written.consent_changed {
        "address unsubscribed"
    } else {
        "address was not subscribed"
    };
    Ok(codes.reply(Reply::ok(d).with_guid(&c.guid), written.deleted))
}

async fn edit(ctx: &Ctx<'_>) -> MlResult<Reply> {
    let p = ctx.p;
    let aref = p.address()?.ok_or_else(address_missing)?;
    let c = find(ctx, &aref)
        .await?
        .ok_or_else(|| Fail::new(NOT_FOUND, "address not found"))?;
    // Named by guid or id, `e` is the new address.
    let new_email = match (&aref, p.email()?) {
        (AddressRef::Email(_), _) | (_, None) => None,
        (_, Some(e)) if e.as_str() == c.email => None,
        (_, Some(e)) => {
            if found(ctx.app.store.contact_by_email(ctx.org.id, &e).await)?.is_some() {
                return Err(Fail::new(CONFLICT, "emailaddress already exists"));
            }
            Some(e)
        }
    };
    let list = match p.number("l")? {
        Some(n) => Some(list_by_number(ctx, n).await?),
        None => None,
    };
    let mut fields = fields_of(ctx, &c).await?;
    p.apply_address(&mut fields, None)?;
    let owner = owner(p)?;
    let mut codes = resolve_codes(ctx, list.as_ref(), &owner).await?;
    if let Some(f) = codes.failure.take() {
        return Ok(codes.reply(Reply::from(f).with_guid(&c.guid), (0, 0)));
    }
    let written = ctx
        .app
        .store
        .write_address(&AddressWrite {
            org_id: ctx.org.id,
            contact_id: Some(c.id),
            guid: &c.guid,
            email: new_email.as_ref(),
            fields: &fields,
            codes: &codes.assign,
            owner: owner.as_deref(),
            consent: None,
            now: ctx.app.now(),
        })
        .await
        .map_err(conflict_on_email)?;
    Ok(codes.reply(
        Reply::ok("address updated").with_guid(&c.guid),
        written.deleted,
    ))
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn date_or_empty(ms: Option<i64>) -> String {
    ms.map(super::reply::ml_date).unwrap_or_default()
}

async fn get(ctx: &Ctx<'_>) -> MlResult<Reply> {
    let c = existing(ctx).await?;
    let s = &ctx.app.store;
    let org = ctx.org.id;
    let lists = s.lists(org).await?;
    let number = |id: i64| {
        lists
            .iter()
            .find(|l| l.id == id)
            .map(|l| l.number)
            .unwrap_or_default()
    };
    let suppressions = s.suppression_rows(org, &c.email).await?;
    let mut subscriptions = Vec::new();
    for sub in s.contact_subscriptions(org, c.id).await? {
        let texts = s.list_texts(org, sub.list_id).await?;
        let name = lists::pick(&texts, &ctx.org.default_language, &ctx.org.default_language)
            .map(|t| t.name.clone())
            .unwrap_or_default();
        subscriptions.push(Node::branch(
            "subscription",
            vec![
                Node::leaf("list_id", number(sub.list_id)),
                Node::leaf("list_name", name),
                Node::leaf("status", &sub.status),
                Node::leaf("subscribed", date_or_empty(sub.confirmed_at)),
                Node::leaf("unsubscribed", date_or_empty(sub.unsubscribed_at)),
            ],
        ));
    }
    let codes = s.contact_codes(org, c.id).await?;
    let code_nodes = |kind: &str, item: &'static str, with_content: bool| -> Vec<Node> {
        codes
            .iter()
            .filter(|k| k.kind == kind)
            .map(|k| {
                let mut children = vec![
                    Node::leaf("list_id", k.list_number),
                    Node::leaf("listcode_id", k.code_id),
                    Node::leaf("code_name", &k.name),
                    Node::leaf("owner", &k.owner),
                ];
                if with_content {
                    children.push(Node::leaf("content", &k.value));
                }
                Node::branch(item, children)
            })
            .collect()
    };
    let sends = s
        .send_history(org, c.id, HISTORY)
        .await?
        .into_iter()
        .map(|h| {
            Node::branch(
                "send",
                vec![
                    Node::leaf("mailing_id", h.mailing_id),
                    Node::leaf("mailing_name", h.mailing_name),
                    Node::leaf("subject", h.subject),
                    Node::leaf("date", date_or_empty(h.at)),
                    Node::leaf("status", h.status),
                ],
            )
        })
        .collect();
    let bounces = s
        .bounce_history(org, c.id, HISTORY)
        .await?
        .into_iter()
        .map(|b| {
            let kind = match b.kind.as_str() {
                "bounce_hard" => "hard",
                "bounce_soft" => "soft",
                _ => "complaint",
            };
            Node::branch(
                "bounce",
                vec![
                    Node::leaf(
                        "mailing_id",
                        b.mailing_id.map(|m| m.to_string()).unwrap_or_default(),
                    ),
                    Node::leaf("date", super::reply::ml_date(b.at)),
                    Node::leaf("type", kind),
                    Node::leaf("description", opt(&b.detail)),
                ],
            )
        })
        .collect();
    let lang = c.language.as_deref().and_then(|l| Language::parse(l).ok());
    let address = Node::branch(
        "address",
        vec![
            Node::leaf("address_id", c.id),
            Node::leaf("address_guid", &c.guid),
            Node::leaf("email", &c.email),
            Node::leaf("first_name", opt(&c.first_name)),
            Node::leaf("name_prefix", opt(&c.name_prefix)),
            Node::leaf("name", opt(&c.last_name)),
            Node::leaf("organisation", opt(&c.organisation)),
            Node::leaf("gender", c.gender),
            Node::leaf("street", opt(&c.street)),
            Node::leaf("number", opt(&c.house_number)),
            Node::leaf("zipcode", opt(&c.zipcode)),
            Node::leaf("city", opt(&c.city)),
            Node::leaf("country", opt(&c.country)),
            Node::leaf("mobile", opt(&c.mobile)),
            Node::leaf("phone", opt(&c.phone)),
            Node::leaf("text_html", if c.mail_format == "text" { "T" } else { "H" }),
            Node::leaf("active", if c.active { "1" } else { "0" }),
            Node::leaf("language", lang.map(language_name).unwrap_or_default()),
            Node::leaf("source", opt(&c.source)),
            Node::leaf("importcode", opt(&c.import_code)),
            Node::leaf("sync_id", opt(&c.sync_id)),
            Node::leaf("created", super::reply::ml_date(c.created_at)),
            Node::leaf("modified", super::reply::ml_date(c.updated_at)),
            Node::leaf(
                "blacklisted",
                if suppressions.iter().any(|(r, _)| r == "blacklist") {
                    "1"
                } else {
                    "0"
                },
            ),
            Node::branch(
                "suppressions",
                suppressions
                    .iter()
                    .map(|(reason, at)| {
                        Node::branch(
                            "suppression",
                            vec![
                                Node::leaf("reason", reason),
                                Node::leaf("date", super::reply::ml_date(*at)),
                            ],
                        )
                    })
                    .collect(),
            ),
            Node::branch("subscriptions", subscriptions),
            Node::branch("listcodes", code_nodes("code", "listcode", false)),
            Node::branch("listfields", code_nodes("field", "listfield", true)),
            Node::branch("sendhistory", sends),
            Node::branch("bouncehistory", bounces),
        ],
    );
    Ok(Reply::ok("address found")
        .with_guid(&c.guid)
        .with_data(address))
}

async fn blacklist(ctx: &Ctx<'_>, add: bool) -> MlResult<Reply> {
    let aref = ctx.p.address()?.ok_or_else(address_missing)?;
    let contact = find(ctx, &aref).await?;
    let email = match (&aref, &contact) {
        (AddressRef::Email(e), _) => e.clone(),
        (_, Some(c)) => EmailAddress::parse(&c.email)
            .map_err(|_| Fail::new(ERROR, "stored address is not valid"))?,
        (_, None) => return Err(Fail::new(NOT_FOUND, "address not found")),
    };
    let guid = contact.map(|c| c.guid).unwrap_or_default();
    let reply = if add {
        if consent::blacklist_add(ctx.app, ctx.org.id, &email, &ctx.evidence).await? {
            Reply::ok("address added to the blacklist")
        } else {
            Reply::ok("address is on the blacklist already")
        }
    } else if consent::blacklist_remove(ctx.app, ctx.org.id, &email, &ctx.evidence).await? {
        Reply::ok("address removed from the blacklist")
    } else {
        Fail::new(NOT_FOUND, "address is not on the blacklist").into()
    };
    Ok(reply.with_guid(&guid))
}

async fn list_get(ctx: &Ctx<'_>) -> MlResult<Reply> {
    let list = required_list(ctx).await?;
    let s = &ctx.app.store;
    let texts = s.list_texts(ctx.org.id, list.id).await?;
    let text = lists::pick(&texts, &ctx.org.default_language, &ctx.org.default_language)
        .cloned()
        .unwrap_or_default();
    let codes = s.list_codes(ctx.org.id, Some(list.id)).await?;
    let of_kind = |kind: CodeKind, item: &'static str| -> Vec<Node> {
        codes
            .iter()
            .filter(|c| c.kind == kind.as_str())
            .map(|c| {
                let mut children = vec![
                    Node::leaf("listcode_id", c.id),
                    Node::leaf("code_name", &c.name),
                    Node::leaf("owner", &c.owner),
                ];
                if kind == CodeKind::Field {
                    children.push(Node::leaf("type", &c.field_type));
                }
                Node::branch(item, children)
            })
            .collect()
    };
    let node = Node::branch(
        "list",
        vec![
            Node::leaf("list_id", list.number),
            Node::leaf("key", &list.key),
            Node::leaf("name", text.name),
            Node::leaf("description", text.description),
            Node::leaf("double_optin", if list.double_optin { "1" } else { "0" }),
            Node::leaf(
                "subscribers",
                s.subscriber_count(ctx.org.id, list.id).await?,
            ),
            Node::branch("listcodes", of_kind(CodeKind::Code, "listcode")),
            Node::branch("listfields", of_kind(CodeKind::Field, "listfield")),
        ],
    );
    Ok(Reply::ok("list found").with_data(node))
}

fn code_group(ctx: &Ctx<'_>) -> MlResult<Reply> {
    let group = ctx
        .p
        .get("group")
        .ok_or_else(|| Fail::new(NOT_FOUND, "parameter group missing"))?
        .to_ascii_uppercase();
    let code = |id: i64, name: &str, iso: &str| {
        Node::branch(
            "code",
            vec![
                Node::leaf("code_id", id),
                Node::leaf("code_name", name),
                Node::leaf("iso", iso),
            ],
        )
    };
    let codes: Vec<Node> = match group.as_str() {
        "LANGUAGES" => Language::ALL
            .iter()
            .zip(1..)
            .map(|(l, i)| code(i, language_name(*l), l.code()))
            .collect(),
        "COUNTRIES" => countries::COUNTRIES
            .iter()
            .map(|c| code(i64::from(c.numeric), c.name_nl, c.alpha2))
            .collect(),
        "GENDER" => [
            (101, "Organisatie"),
            (102, "Man"),
            (103, "Vrouw"),
            (105, "Onbekend"),
        ]
        .iter()
        .map(|(id, name)| code(*id, name, ""))
        .collect(),
        _ => {
            return Err(Fail::new(
                NOT_FOUND,
                "group unknown: LANGUAGES, COUNTRIES or GENDER",
            ))
        }
    };
    Ok(Reply::ok("code group found").with_data(Node::Branch(
        "codegroup",
        vec![("group", group)],
        codes,
    )))
}

async fn body_post(ctx: &Ctx<'_>) -> MlResult<Reply> {
    let p = ctx.p;
    let html = ctx
        .body
        .clone()
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| Fail::new(NOT_FOUND, "no HTML body posted"))?;
    let name = p.text("n", 150)?;
    let subject = p.text("s", 150)?;
    let description = p.text("d", 500)?;
    let owner = p.text("o", 20)?;
    let stats_links = p.yes_no("stats_links", false)?;
    let update = p.number("m")?;
    let current = match update {
        Some(id) => Some(
            found(ctx.app.store.mailing(ctx.org.id, id).await)?
                .ok_or_else(|| Fail::new(NOT_FOUND, format!("mailing {id} not found")))?,
        ),
        None => None,
    };
    let mut input = match &current {
        Some(m) => {
            let v = mailings::view(ctx.app, m).await?;
            MailingInput {
                name: v.name,
                subject: v.subject,
                from_name: v.from_name,
                from_email: Some(v.from_email),
                reply_to: v.reply_to,
                html: v.html,
                text: v.text,
                lists: v.lists,
                segment: v.segment,
                layout: v.layout,
                track_opens: Some(v.track_opens),
                track_clicks: Some(v.track_clicks),
                description: v.description,
                owner: v.owner,
            }
        }
        None => MailingInput {
            name: name
                .clone()
                .ok_or_else(|| Fail::new(NOT_FOUND, "parameter n (name) missing"))?,
            subject: subject.clone().or_else(|| name.clone()).unwrap_or_default(),
            ..Default::default()
        },
    };
    input.html = html;
    if let Some(n) = name {
        input.name = n;
    }
    if let Some(s) = subject {
        input.subject = s;
    }
    if description.is_some() {
        input.description = description;
    }
    if owner.is_some() {
        input.owner = owner;
    }
    if current.is_none() || p.raw("stats_links").is_some() {
        input.track_clicks = Some(stats_links);
    }
    let view = match current {
        Some(m) => mailings::update(ctx.app, ctx.org.id, m.id, &input).await?,
        None => mailings::create(ctx.app, ctx.org.id, &input, "mailinglijst").await?,
    };
    let node = Node::branch(
        "mailing",
        vec![
            Node::leaf("mailing_id", view.id),
            Node::leaf("name", &view.name),
            Node::leaf("subject", &view.subject),
            Node::leaf("description", opt(&view.description)),
            Node::leaf("owner", opt(&view.owner)),
            Node::leaf("status", &view.status),
            Node::leaf("stats_links", if view.track_clicks { "1" } else { "0" }),
        ],
    );
    let d = if update.is_some() {
        "mailing updated"
    } else {
        "mailing created"
    };
    Ok(Reply::ok(d).with_data(node))
}
