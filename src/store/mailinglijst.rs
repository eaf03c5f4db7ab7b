//! Storage of the MailingLijst-compatible API: member keys and their accounts, list codes and
//! list fields with their values per contact, the one-transaction address write of SUBSCRIBE
//! and EDIT, and the send and bounce history GET shows.

use serde::Serialize;

use super::consent::{append_ledger, upsert_subscription};
use super::contacts::{bind_fields, insert_contact, UPDATE_FIELDS};
use super::optins::status_of;
use super::{on_read, on_write, write_tx, Store, StoreError, StoreResult};
use crate::domain::ledger::{Evidence, LedgerEntry};
use crate::domain::{ConsentAction, ContactFields, EmailAddress};

/// A member key (only the SHA-256 of the key is stored).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MlKeyRow {
    pub id: i64,
    pub org_id: i64,
    #[serde(skip)]
    pub key_hash: String,
    pub display_prefix: String,
    pub actions: String,
    pub allowed_ips: String,
    pub any_ip: bool,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// An account a key may act on: the number callers pass as `a=`, and its organisation.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MlAccountRow {
    pub key_id: i64,
    pub account: i64,
    pub org_id: i64,
    pub org_slug: String,
}

/// A list code (`kind` code) or list field (`kind` field) of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ListCodeRow {
    pub org_id: i64,
    pub id: i64,
    pub list_id: i64,
    pub kind: String,
    pub name: String,
    pub owner: String,
    pub field_type: String,
    pub created_at: i64,
}

/// A code or field on a contact, with the list's number and the value (empty for codes).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContactCodeRow {
    pub list_number: i64,
    pub code_id: i64,
    pub kind: String,
    pub name: String,
    pub owner: String,
    pub value: String,
}

/// One message of the send history of a contact.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SendHistoryRow {
    pub mailing_id: i64,
    pub mailing_name: String,
    pub subject: String,
    pub at: Option<i64>,
    pub status: String,
}

/// One bounce or complaint of a contact.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BounceRow {
    pub mailing_id: Option<i64>,
    pub at: i64,
    pub kind: String,
    pub detail: Option<String>,
}

/// Everything SUBSCRIBE or EDIT writes for one address, in one transaction.
#[derive(Debug)]
pub struct AddressWrite<'a> {
    pub org_id: i64,
    /// The contact to change; None creates one with `guid` and `email`.
    pub contact_id: Option<i64>,
    pub guid: &'a str,
    /// The address of a new contact, or the new address of an existing one.
    pub email: Option<&'a EmailAddress>,
    pub fields: &'a ContactFields,
    /// Codes and fields to assign (code id, value).
    pub codes: &'a [(i64, String)],
    /// With an owner, that owner's codes and fields on the contact that are not assigned now
    /// are removed first.
    pub owner: Option<&'a str>,
    /// A consent change on a list with its evidence. `Assert` leaves a subscribed contact as it is.
    pub consent: Option<(i64, ConsentAction, &'a Evidence)>,
    pub now: i64,
}

/// What an address write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressWritten {
    pub contact_id: i64,
    pub created: bool,
    /// Codes and fields of the owner removed (codes, fields).
    pub deleted: (u64, u64),
    /// Whether the subscription changed.
    pub consent_changed: bool,
}

const KEY_COLUMNS: &str =
    "id, org_id, key_hash, display_prefix, actions, allowed_ips, any_ip, created_at, revoked_at";
const CODE_COLUMNS: &str = "org_id, id, list_id, kind, name, owner, field_type, created_at";

impl Store {
    /// Stores a key with its first account.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_ml_key(
        &self,
        org_id: i64,
        key_hash: &str,
        display_prefix: &str,
        actions: &str,
        allowed_ips: &str,
        any_ip: bool,
        account: i64,
        now: i64,
    ) -> StoreResult<MlKeyRow> {
        let row = write_tx!(self, |tx| {
            let row: MlKeyRow = sqlx::query_as(super::safe!(
                "INSERT INTO ml_keys (org_id, key_hash, display_prefix, actions, allowed_ips, any_ip, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {KEY_COLUMNS}"
            ))
            .bind(org_id)
            .bind(key_hash)
            .bind(display_prefix)
            .bind(actions)
            .bind(allowed_ips)
            .bind(any_ip)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO ml_key_accounts (key_id, account, org_id) VALUES ($1, $2, $3)",
            )
            .bind(row.id)
            .bind(account)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
            row
        });
        Ok(row)
    }

    /// Replaces a key in force by a new one with the same rights, allowlist and accounts, and
    /// revokes the old one, in one transaction. NotFound when the key is revoked already.
    pub async fn rotate_ml_key(
        &self,
        id: i64,
        key_hash: &str,
        display_prefix: &str,
        now: i64,
    ) -> StoreResult<MlKeyRow> {
        let row = write_tx!(self, |tx| {
            let revoked = sqlx::query(
                "UPDATE ml_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if revoked.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            let row: MlKeyRow = sqlx::query_as(super::safe!(
                "INSERT INTO ml_keys (org_id, key_hash, display_prefix, actions, allowed_ips, any_ip, created_at) \
                 SELECT org_id, $2, $3, actions, allowed_ips, any_ip, $4 FROM ml_keys WHERE id = $1 \
                 RETURNING {KEY_COLUMNS}"
            ))
            .bind(id)
            .bind(key_hash)
            .bind(display_prefix)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO ml_key_accounts (key_id, account, org_id) \
                 SELECT $2, account, org_id FROM ml_key_accounts WHERE key_id = $1",
            )
            .bind(id)
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
            row
        });
        Ok(row)
    }

    pub async fn ml_key_by_hash(&self, key_hash: &str) -> StoreResult<MlKeyRow> {
        on_read!(self, |p| Ok(sqlx::query_as(super::safe!(
            "SELECT {KEY_COLUMNS} FROM ml_keys WHERE key_hash = $1"
        ))
        .bind(key_hash)
        .fetch_one(p)
        .await?))
    }

    pub async fn ml_key(&self, id: i64) -> StoreResult<MlKeyRow> {
        on_read!(self, |p| Ok(sqlx::query_as(super::safe!(
            "SELECT {KEY_COLUMNS} FROM ml_keys WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    /// The keys of a member organisation, or of all members.
    pub async fn ml_keys(&self, org_id: Option<i64>) -> StoreResult<Vec<MlKeyRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(super::safe!(
            "SELECT {KEY_COLUMNS} FROM ml_keys WHERE $1 IS NULL OR org_id = $1 ORDER BY id"
        ))
        .bind(org_id)
        .fetch_all(p)
        .await?))
    }

    /// Sets a key's rights and allowlist.
    pub async fn update_ml_key(
        &self,
        id: i64,
        actions: &str,
        allowed_ips: &str,
        any_ip: bool,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            let r = sqlx::query(
                "UPDATE ml_keys SET actions = $2, allowed_ips = $3, any_ip = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(actions)
            .bind(allowed_ips)
            .bind(any_ip)
            .execute(p)
            .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        });
        Ok(())
    }

    pub async fn revoke_ml_key(&self, id: i64, now: i64) -> StoreResult<()> {
        on_write!(self, |p| {
            let r = sqlx::query(
                "UPDATE ml_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(p)
            .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        });
        Ok(())
    }

    /// Lets a key act on one more account (a conflict when the number or the organisation is
    /// already granted to it).
    pub async fn grant_ml_account(
        &self,
        key_id: i64,
        account: i64,
        org_id: i64,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "INSERT INTO ml_key_accounts (key_id, account, org_id) VALUES ($1, $2, $3)",
            )
            .bind(key_id)
            .bind(account)
            .bind(org_id)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    pub async fn ml_accounts(&self, key_id: i64) -> StoreResult<Vec<MlAccountRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(
            "SELECT a.key_id, a.account, a.org_id, o.slug AS org_slug FROM ml_key_accounts a \
             JOIN organizations o ON o.id = a.org_id WHERE a.key_id = $1 ORDER BY a.account"
        )
        .bind(key_id)
        .fetch_all(p)
        .await?))
    }

    /// Marks an organisation as a sandbox: its mail never leaves the machine.
    pub async fn set_org_sandbox(&self, org_id: i64) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query("UPDATE organizations SET sandbox = TRUE WHERE id = $1")
                .bind(org_id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_list_code(
        &self,
        org_id: i64,
        list_id: i64,
        kind: &str,
        name: &str,
        owner: &str,
        field_type: &str,
        now: i64,
    ) -> StoreResult<ListCodeRow> {
        on_write!(self, |p| Ok(sqlx::query_as(super::safe!(
            "INSERT INTO list_codes (org_id, list_id, kind, name, owner, field_type, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {CODE_COLUMNS}"
        ))
        .bind(org_id)
        .bind(list_id)
        .bind(kind)
        .bind(name)
        .bind(owner)
        .bind(field_type)
        .bind(now)
        .fetch_one(p)
        .await?))
    }

    /// The codes and fields of a list, or of every list of the organisation.
    pub async fn list_codes(
        &self,
        org_id: i64,
        list_id: Option<i64>,
    ) -> StoreResult<Vec<ListCodeRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(super::safe!(
            "SELECT {CODE_COLUMNS} FROM list_codes WHERE org_id = $1 AND ($2 IS NULL OR list_id = $2) ORDER BY id"
        ))
        .bind(org_id)
        .bind(list_id)
        .fetch_all(p)
        .await?)
        })
    }

    /// Removes a code or field and its values on every contact.
    pub async fn delete_list_code(&self, org_id: i64, list_id: i64, id: i64) -> StoreResult<()> {
        write_tx!(self, |tx| {
            sqlx::query("DELETE FROM contact_codes WHERE org_id = $1 AND code_id = $2")
                .bind(org_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let r = sqlx::query(
                "DELETE FROM list_codes WHERE org_id = $1 AND list_id = $2 AND id = $3",
            )
            .bind(org_id)
            .bind(list_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        });
        Ok(())
    }

    pub async fn contact_codes(
        &self,
        org_id: i64,
        contact_id: i64,
    ) -> StoreResult<Vec<ContactCodeRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(
            "SELECT l.number AS list_number, c.id AS code_id, c.kind, c.name, c.owner, cc.value \
             FROM contact_codes cc JOIN list_codes c ON c.org_id = cc.org_id AND c.id = cc.code_id \
             JOIN lists l ON l.org_id = c.org_id AND l.id = c.list_id \
             WHERE cc.org_id = $1 AND cc.contact_id = $2 ORDER BY l.number, c.id"
        )
        .bind(org_id)
        .bind(contact_id)
        .fetch_all(p)
        .await?))
    }

    /// The suppressions of an address with their dates (reason, created_at).
    pub async fn suppression_rows(
        &self,
        org_id: i64,
        email: &str,
    ) -> StoreResult<Vec<(String, i64)>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT reason, created_at FROM suppressions WHERE org_id = $1 AND email = $2 ORDER BY reason"
        )
        .bind(org_id)
        .bind(email)
        .fetch_all(p)
        .await?)
        })
    }

    /// How many contacts are subscribed to a list.
    pub async fn subscriber_count(&self, org_id: i64, list_id: i64) -> StoreResult<i64> {
        on_read!(self, |p| {
            Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM subscriptions WHERE org_id = $1 AND list_id = $2 AND status = 'subscribed'"
        )
        .bind(org_id)
        .bind(list_id)
        .fetch_one(p)
        .await?)
        })
    }

    /// The latest messages of mailings sent (or meant) to a contact, newest first.
    pub async fn send_history(
        &self,
        org_id: i64,
        contact_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<SendHistoryRow>> {
        on_read!(self, |p| Ok(sqlx::query_as(
            "SELECT d.mailing_id, m.name AS mailing_name, m.subject, d.sent_at AS at, d.status \
             FROM deliveries d JOIN mailings m ON m.org_id = d.org_id AND m.id = d.mailing_id \
             WHERE d.org_id = $1 AND d.contact_id = $2 ORDER BY d.id DESC LIMIT $3"
        )
        .bind(org_id)
        .bind(contact_id)
        .bind(limit)
        .fetch_all(p)
        .await?))
    }

    /// The latest bounces and complaints of a contact, newest first.
    pub async fn bounce_history(
        &self,
        org_id: i64,
        contact_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<BounceRow>> {
        on_read!(self, |p| {
            Ok(sqlx::query_as(
            "SELECT mailing_id, at, kind, detail FROM mail_events \
             WHERE org_id = $1 AND contact_id = $2 AND kind IN ('bounce_hard', 'bounce_soft', 'complaint') \
             ORDER BY id DESC LIMIT $3"
        )
        .bind(org_id)
        .bind(contact_id)
        .bind(limit)
        .fetch_all(p)
        .await?)
        })
    }

    /// Writes an address, its codes and fields and a consent change atomically. A new address
    /// that another contact has is a conflict on `email`.
    pub async fn write_address(&self, w: &AddressWrite<'_>) -> StoreResult<AddressWritten> {
        let org_id = w.org_id;
        let now = w.now;
        let written = write_tx!(self, |tx| {
            let (contact_id, created) = match w.contact_id {
                None => {
                    let email = w.email.ok_or(StoreError::NotFound)?;
                    let id: Option<i64> =
                        insert_contact!(tx, org_id, w.guid, email, w.fields, now, "");
                    (id.ok_or(StoreError::NotFound)?, true)
                }
                Some(id) => {
                    let q = sqlx::query(UPDATE_FIELDS).bind(org_id).bind(id);
                    if bind_fields!(q, w.fields)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 0
                    {
                        return Err(StoreError::NotFound);
                    }
                    if let Some(email) = w.email {
                        sqlx::query("UPDATE contacts SET email = $3 WHERE org_id = $1 AND id = $2")
                            .bind(org_id)
                            .bind(id)
                            .bind(email.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                    (id, false)
                }
            };
            let mut deleted = (0, 0);
            if let Some(owner) = w.owner {
                let keep: Vec<i64> = w.codes.iter().map(|(id, _)| *id).collect();
                for kind in ["code", "field"] {
                    let gone: Vec<i64> = sqlx::query_scalar(
                        "SELECT cc.code_id FROM contact_codes cc JOIN list_codes c ON c.org_id = cc.org_id AND c.id = cc.code_id \
                         WHERE cc.org_id = $1 AND cc.contact_id = $2 AND c.owner = $3 AND c.kind = $4",
                    )
                    .bind(org_id)
                    .bind(contact_id)
                    .bind(owner)
                    .bind(kind)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut n = 0;
                    for code in gone.into_iter().filter(|c| !keep.contains(c)) {
                        sqlx::query("DELETE FROM contact_codes WHERE org_id = $1 AND contact_id = $2 AND code_id = $3")
                            .bind(org_id)
                            .bind(contact_id)
                            .bind(code)
                            .execute(&mut *tx)
                            .await?;
                        n += 1;
                    }
                    if kind == "code" {
                        deleted.0 = n;
                    } else {
                        deleted.1 = n;
                    }
                }
            }
            for (code, value) in w.codes {
                sqlx::query(
                    "INSERT INTO contact_codes (org_id, contact_id, code_id, value) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (org_id, contact_id, code_id) DO UPDATE SET value = excluded.value",
                )
                .bind(org_id)
                .bind(contact_id)
                .bind(code)
                .bind(value)
                .execute(&mut *tx)
                .await?;
            }
            let mut consent_changed = false;
            if let Some((list_id, action, evidence)) = w.consent {
                let status = status_of!(tx, org_id, contact_id, list_id);
                let target = action.resulting_status().map(|s| s.as_str());
                let unchanged = status.as_deref() == target
                    || (action == ConsentAction::Unsubscribe && status.is_none());
                if !unchanged {
                    let email: String = sqlx::query_scalar(
                        "SELECT email FROM contacts WHERE org_id = $1 AND id = $2",
                    )
                    .bind(org_id)
                    .bind(contact_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    upsert_subscription!(tx, org_id, contact_id, list_id, action, now);
                    append_ledger!(
                        tx,
                        org_id,
                        Some(contact_id),
                        Some(list_id),
                        email.as_str(),
                        action,
                        evidence,
                        now
                    );
                    consent_changed = true;
                }
            }
            AddressWritten {
                contact_id,
                created,
                deleted,
                consent_changed,
            }
        });
        Ok(written)
    }
}
