//! Member keys of the MailingLijst-compatible API: a GUID per key (only its hash is stored),
//! the IP addresses and ranges it may be used from, the actions it may perform, and the
//! accounts (organisations) it may act on, each under the number callers pass as `a=`.

use serde::Serialize;

use super::{orgs, OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::token::hash_token;
use crate::domain::{IpAllowlist, ValidationError};
use crate::store::{MlAccountRow, MlKeyRow, Org};

/// Every action of the API, in the seed's order.
pub const ACTIONS: [&str; 9] = [
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "EDIT",
    "GET",
    "BLACKLISTADD",
    "BLACKLISTDELETE",
    "LISTGET",
    "LISTCODEGROUP",
    "BODYPOST",
];

/// Largest account number (`a=` is a 32-bit number in the seed).
pub const MAX_ACCOUNT: i64 = 2_147_483_647;

/// A key as the CLI and the JSON API show it (never the key itself).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: i64,
    /// The member organisation.
    pub member: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub actions: Vec<String>,
    pub allowed_ips: Vec<String>,
    /// A sandbox key: usable from any address.
    pub any_ip: bool,
    pub accounts: Vec<AccountView>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    pub account: i64,
    pub org: String,
}

/// What a valid key may do.
#[derive(Debug, Clone)]
pub struct Member {
    pub key: MlKeyRow,
    pub org: Org,
    pub allowlist: IpAllowlist,
    pub accounts: Vec<MlAccountRow>,
}

impl Member {
    pub fn may(&self, action: &str) -> bool {
        self.key.actions.split_whitespace().any(|a| a == action)
    }

    pub fn allows_ip(&self, ip: std::net::IpAddr) -> bool {
        self.key.any_ip || (!self.allowlist.is_empty() && self.allowlist.allows(ip))
    }
}

/// `SUBSCRIBE,GET` or `all` (case-insensitive) to the stored form.
pub fn parse_actions(input: &str) -> Result<String, ValidationError> {
    let wanted: Vec<String> = input
        .split([',', ' '])
        .map(|a| a.trim().to_uppercase())
        .filter(|a| !a.is_empty())
        .collect();
    if wanted.iter().any(|a| a == "ALL") {
        return Ok(ACTIONS.join(" "));
    }
    if wanted.is_empty() {
        return Err(ValidationError::single(
            "actions",
            "required",
            "name at least one action, or all",
        ));
    }
    let mut out = Vec::new();
    for a in &wanted {
        let Some(known) = ACTIONS.iter().find(|k| *k == a) else {
            return Err(ValidationError::single(
                "actions",
                "unknown_action",
                format!(
                    "unknown action '{a}'; the actions are {}",
                    ACTIONS.join(", ")
                ),
            ));
        };
        if !out.contains(known) {
            out.push(*known);
        }
    }
    Ok(ACTIONS
        .iter()
        .filter(|a| out.contains(a))
        .copied()
        .collect::<Vec<_>>()
        .join(" "))
}

fn check_account(account: i64) -> Result<i64, ValidationError> {
    if (1..=MAX_ACCOUNT).contains(&account) {
        Ok(account)
    } else {
        Err(ValidationError::single(
            "account",
            "invalid_account",
            format!("an account number from 1 to {MAX_ACCOUNT}"),
        ))
    }
}

pub async fn view(app: &App, key: &MlKeyRow) -> ServiceResult<KeyView> {
    let member = app.store.org_by_id(key.org_id).await?;
    let accounts = app.store.ml_accounts(key.id).await?;
    Ok(KeyView {
        id: key.id,
        member: member.slug,
        prefix: key.display_prefix.clone(),
        actions: key.actions.split_whitespace().map(str::to_string).collect(),
        allowed_ips: key
            .allowed_ips
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        any_ip: key.any_ip,
        accounts: accounts
            .into_iter()
            .map(|a| AccountView {
                account: a.account,
                org: a.org_slug,
            })
            .collect(),
        created_at: rfc3339(key.created_at),
        revoked_at: key.revoked_at.map(rfc3339),
    })
}

/// Creates a key for the member `org_id`, acting on that organisation as account `account`
/// (default: the organisation's id). Returns the key (shown once) and its view.
pub async fn create(
    app: &App,
    org_id: i64,
    account: Option<i64>,
    allow_ips: &[String],
    actions: &str,
    any_ip: bool,
) -> ServiceResult<(String, KeyView)> {
    let allowlist = IpAllowlist::parse(allow_ips)?;
    let actions = parse_actions(actions)?;
    let account = check_account(account.unwrap_or(org_id))?;
    let key = uuid::Uuid::new_v4().hyphenated().to_string();
    let row = app
        .store
        .insert_ml_key(
            org_id,
            &hash_token(&key),
            &key[..8],
            &actions,
            &allowlist.to_stored(),
            any_ip,
            account,
            app.now(),
        )
        .await?;
    Ok((key, view(app, &row).await?))
}

/// Replaces a key by a new one with the same rights, allowlist and accounts; the old key
/// stops working at once. Returns the new key (shown once) and its view.
pub async fn rotate(app: &App, org_id: Option<i64>, id: i64) -> ServiceResult<(String, KeyView)> {
    get(app, org_id, id).await?;
    let key = uuid::Uuid::new_v4().hyphenated().to_string();
    let row = app
        .store
        .rotate_ml_key(id, &hash_token(&key), &key[..8], app.now())
        .await
        .or_not_found("key")?;
    tracing::info!(old = id, new = row.id, "MailingLijst key rotated");
    Ok((key, view(app, &row).await?))
}

/// A key of the member `org_id` (None: any member, for the server's CLI).
pub async fn get(app: &App, org_id: Option<i64>, id: i64) -> ServiceResult<MlKeyRow> {
    let key = app.store.ml_key(id).await.or_not_found("key")?;
    if org_id.is_some_and(|o| o != key.org_id) {
        return Err(ServiceError::NotFound("key"));
    }
    Ok(key)
}

pub async fn list(app: &App, org_id: Option<i64>) -> ServiceResult<Vec<KeyView>> {
    let mut out = Vec::new();
    for k in app.store.ml_keys(org_id).await? {
        out.push(view(app, &k).await?);
    }
    Ok(out)
}

/// Changes a key's allowlist (`ips`: the entries, and whether they replace the list or are
/// added to it) and/or its rights. Both are checked before the one write.
pub async fn update(
    app: &App,
    org_id: Option<i64>,
    id: i64,
    ips: Option<(&[String], bool)>,
    actions: Option<&str>,
) -> ServiceResult<KeyView> {
    let key = get(app, org_id, id).await?;
    let actions = match actions {
        Some(a) => parse_actions(a)?,
        None => key.actions.clone(),
    };
    let allowed = match ips {
        Some((ips, replace)) => {
            let mut all: Vec<String> = if replace {
                Vec::new()
            } else {
                key.allowed_ips
                    .split_whitespace()
                    .map(str::to_string)
                    .collect()
            };
            all.extend(ips.iter().cloned());
            IpAllowlist::parse(&all)?.to_stored()
        }
        None => key.allowed_ips.clone(),
    };
    app.store
        .update_ml_key(id, &actions, &allowed, key.any_ip)
        .await?;
    view(app, &app.store.ml_key(id).await?).await
}

/// Adds addresses or ranges to a key's allowlist; with `replace`, sets it to exactly these.
pub async fn allow_ips(
    app: &App,
    org_id: Option<i64>,
    id: i64,
    ips: &[String],
    replace: bool,
) -> ServiceResult<KeyView> {
    update(app, org_id, id, Some((ips, replace)), None).await
}

/// Sets the actions a key may perform.
pub async fn set_actions(
    app: &App,
    org_id: Option<i64>,
    id: i64,
    actions: &str,
) -> ServiceResult<KeyView> {
    update(app, org_id, id, None, Some(actions)).await
}

/// Lets a key act on the organisation `org_slug` as account `account`.
pub async fn grant(
    app: &App,
    org_id: Option<i64>,
    id: i64,
    org_slug: &str,
    account: i64,
) -> ServiceResult<KeyView> {
    let key = get(app, org_id, id).await?;
    let org = orgs::org_by_slug(app, org_slug).await?;
    if org_id.is_some_and(|o| o != org.id) {
        return Err(ServiceError::Forbidden("admin of that organisation"));
    }
    let account = check_account(account)?;
    match app.store.grant_ml_account(key.id, account, org.id).await {
        Ok(()) => view(app, &key).await,
        Err(crate::store::StoreError::Conflict(_)) => Err(ServiceError::Conflict {
            field: "account",
            message: "the key has this account number or this organisation already".into(),
        }),
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke(app: &App, org_id: Option<i64>, id: i64) -> ServiceResult<()> {
    get(app, org_id, id).await?;
    app.store
        .revoke_ml_key(id, app.now())
        .await
        .or_not_found("key")
}

/// The member of a presented key, when the key is a GUID of a key in force.
pub async fn authenticate(app: &App, key: &str) -> ServiceResult<Option<Member>> {
    if uuid::Uuid::try_parse(key).is_err() {
        return Ok(None);
    }
    let canonical = key.to_ascii_lowercase();
    let Some(row) = super::found(app.store.ml_key_by_hash(&hash_token(&canonical)).await)? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() {
        return Ok(None);
    }
    Ok(Some(Member {
        org: app.store.org_by_id(row.org_id).await?,
        allowlist: IpAllowlist::from_stored(&row.allowed_ips)?,
        accounts: app.store.ml_accounts(row.id).await?,
        key: row,
    }))
}

/// `handbill sandbox create`: an organisation whose mail always goes to the outbox, a single
/// opt-in list to test with, and a key for every action usable from any address.
pub async fn create_sandbox(
    app: &App,
    slug: &str,
    account: Option<i64>,
) -> ServiceResult<(String, KeyView, i64)> {
    let org = match super::found(app.store.org_by_slug(slug).await)? {
        Some(o) => o,
        None => orgs::create_org(app, slug, "Sandbox", Some("nl")).await?,
    };
    app.store.set_org_sandbox(org.id).await?;
    let list = match super::found(app.store.list_by_key(org.id, "sandbox").await)? {
        Some(l) => l,
        None => {
            let req = super::lists::CreateList {
                key: "sandbox".into(),
                name: [("nl".to_string(), "Sandbox".to_string())].into(),
                double_opt_in: Some(false),
                ..Default::default()
            };
            let v = super::lists::create(app, org.id, &req).await?;
            app.store.list_by_key(org.id, &v.key).await?
        }
    };
    let (key, view) = create(app, org.id, account, &[], "all", true).await?;
    Ok((key, view, list.number))
}
