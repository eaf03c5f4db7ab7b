use serde::Serialize;

use super::{on_read, on_write, safe, write_tx, Store, StoreError, StoreResult};
use crate::domain::{ContactFields, EmailAddress, Gender, Language, MailFormat};

/// A stored contact as it is in the database.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ContactRow {
    pub org_id: i64,
    pub id: i64,
    pub guid: String,
    pub email: String,
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub name_prefix: Option<String>,
    pub last_name: Option<String>,
    pub organisation: Option<String>,
    pub gender: i64,
    pub street: Option<String>,
    pub house_number: Option<String>,
    pub zipcode: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub mobile: Option<String>,
    pub phone: Option<String>,
    pub mail_format: String,
    pub active: bool,
    pub language: Option<String>,
    pub source: Option<String>,
    pub import_code: Option<String>,
    pub sync_id: Option<String>,
    pub attributes: String,
    pub score: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ContactRow {
    /// A field by its name (as exports and the API name them); Null for an unknown name.
    pub fn field_value(&self, name: &str) -> serde_json::Value {
        use serde_json::Value;
        let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        match name {
            "id" => self.id.into(),
            "guid" => self.guid.clone().into(),
            "email" => self.email.clone().into(),
            "external_id" => text(&self.external_id),
            "first_name" => text(&self.first_name),
            "name_prefix" => text(&self.name_prefix),
            "last_name" => text(&self.last_name),
            "organisation" => text(&self.organisation),
            "gender" => serde_json::to_value(Gender::from_code(self.gender)).unwrap_or(Value::Null),
            "street" => text(&self.street),
            "house_number" => text(&self.house_number),
            "zipcode" => text(&self.zipcode),
            "city" => text(&self.city),
            "country" => text(&self.country),
            "mobile" => text(&self.mobile),
            "phone" => text(&self.phone),
            "mail_format" => self.mail_format.clone().into(),
            "language" => text(&self.language),
            "source" => text(&self.source),
            "import_code" => text(&self.import_code),
            "sync_id" => text(&self.sync_id),
            "score" => self.score.into(),
            "created_at" => crate::clock::rfc3339(self.created_at).into(),
            "updated_at" => crate::clock::rfc3339(self.updated_at).into(),
            _ => Value::Null,
        }
    }

    /// The contact's fields as domain values (tags are loaded separately).
    pub fn fields(&self, tags: Vec<String>) -> ContactFields {
        ContactFields {
            external_id: self.external_id.clone(),
            first_name: self.first_name.clone(),
            name_prefix: self.name_prefix.clone(),
            last_name: self.last_name.clone(),
            organisation: self.organisation.clone(),
            gender: Gender::from_code(self.gender),
            street: self.street.clone(),
            house_number: self.house_number.clone(),
            zipcode: self.zipcode.clone(),
            city: self.city.clone(),
            country: self.country.clone(),
            mobile: self.mobile.clone(),
            phone: self.phone.clone(),
            mail_format: MailFormat::parse(&self.mail_format).unwrap_or_default(),
            active: self.active,
            language: self
                .language
                .as_deref()
                .and_then(|l| Language::parse(l).ok()),
            source: self.source.clone(),
            import_code: self.import_code.clone(),
            sync_id: self.sync_id.clone(),
            attributes: serde_json::from_str(&self.attributes).unwrap_or_default(),
            tags,
            score: self.score,
        }
    }
}

pub(super) const COLUMNS: &str = "org_id, id, guid, email, external_id, first_name, name_prefix, last_name, organisation, gender, \
     street, house_number, zipcode, city, country, mobile, phone, mail_format, active, language, source, import_code, \
     sync_id, attributes, score, created_at, updated_at";

/// Sets every field of contact ($1, $2): bind the fields with [`bind_fields!`], then `updated_at`.
pub(super) const UPDATE_FIELDS: &str =
    "UPDATE contacts SET external_id = $3, first_name = $4, name_prefix = $5, last_name = $6, organisation = $7, \
     gender = $8, street = $9, house_number = $10, zipcode = $11, city = $12, country = $13, mobile = $14, \
     phone = $15, mail_format = $16, active = $17, language = $18, source = $19, import_code = $20, sync_id = $21, \
     attributes = $22, score = $23, updated_at = $24 WHERE org_id = $1 AND id = $2";

/// Binds the fields of [`ContactFields`] in the order of `FIELD_COLUMNS`.
macro_rules! bind_fields {
    ($q:expr, $f:expr) => {
        $q.bind(&$f.external_id)
            .bind(&$f.first_name)
            .bind(&$f.name_prefix)
            .bind(&$f.last_name)
            .bind(&$f.organisation)
            .bind($f.gender.code())
            .bind(&$f.street)
            .bind(&$f.house_number)
            .bind(&$f.zipcode)
            .bind(&$f.city)
            .bind(&$f.country)
            .bind(&$f.mobile)
            .bind(&$f.phone)
            .bind($f.mail_format.as_str())
            .bind($f.active)
            .bind($f.language.map(|l| l.code()))
            .bind(&$f.source)
            .bind(&$f.import_code)
            .bind(&$f.sync_id)
            .bind(serde_json::Value::Object($f.attributes.clone()).to_string())
            .bind($f.score)
    };
}

/// Inserts a contact and its tags inside the transaction `$tx`; `$on_conflict` is appended to
/// the INSERT (e.g. `ON CONFLICT (org_id, email) DO NOTHING`). Yields the new id, or None when
/// the conflict clause skipped the row.
macro_rules! insert_contact {
    ($tx:ident, $org:expr, $guid:expr, $email:expr, $f:expr, $now:expr, $on_conflict:expr) => {{
        let q = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "INSERT INTO contacts (org_id, guid, email, external_id, first_name, name_prefix, last_name, organisation, gender, \
             street, house_number, zipcode, city, country, mobile, phone, mail_format, active, language, source, import_code, \
             sync_id, attributes, score, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26) {} RETURNING id",
            $on_conflict
        )))
        .bind($org)
        .bind($guid)
        .bind($email.as_str());
        let id: Option<i64> = $crate::store::contacts::bind_fields!(q, $f).bind($now).bind($now).fetch_optional(&mut *$tx).await?;
        if let Some(id) = id {
            for tag in &$f.tags {
                sqlx::query("INSERT INTO contact_tags (org_id, contact_id, tag) VALUES ($1, $2, $3)")
                    .bind($org)
                    .bind(id)
                    .bind(tag)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
        id
    }};
}
pub(super) use {bind_fields, insert_contact};

impl Store {
    /// Inserts a contact with its tags. A second contact with the same normalised address or
    /// external id in the organisation is a conflict.
    pub async fn insert_contact(
        &self,
        org_id: i64,
        guid: &str,
        email: &EmailAddress,
        f: &ContactFields,
        now: i64,
    ) -> StoreResult<i64> {
        let id = write_tx!(self, |tx| {
            let id: Option<i64> = insert_contact!(tx, org_id, guid, email, f, now, "");
            id.ok_or(StoreError::NotFound)?
        });
        Ok(id)
    }

    /// Replaces all fields and the tags of a contact.
    pub async fn update_contact(
        &self,
        org_id: i64,
        id: i64,
        f: &ContactFields,
        now: i64,
    ) -> StoreResult<()> {
        write_tx!(self, |tx| {
            let q = sqlx::query(UPDATE_FIELDS).bind(org_id).bind(id);
            let r = bind_fields!(q, f).bind(now).execute(&mut *tx).await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            // Only the difference is written: a tag the contact keeps is not added again
            // (adding a tag may start an automation).
            let had: Vec<String> = sqlx::query_scalar(
                "SELECT tag FROM contact_tags WHERE org_id = $1 AND contact_id = $2",
            )
            .bind(org_id)
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            for tag in had.iter().filter(|t| !f.tags.contains(t)) {
                sqlx::query(
                    "DELETE FROM contact_tags WHERE org_id = $1 AND contact_id = $2 AND tag = $3",
                )
                .bind(org_id)
                .bind(id)
                .bind(tag)
                .execute(&mut *tx)
                .await?;
            }
            for tag in f.tags.iter().filter(|t| !had.contains(t)) {
                sqlx::query(
                    "INSERT INTO contact_tags (org_id, contact_id, tag) VALUES ($1, $2, $3)",
                )
                .bind(org_id)
                .bind(id)
                .bind(tag)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    pub async fn contact_by_email(
        &self,
        org_id: i64,
        email: &EmailAddress,
    ) -> StoreResult<ContactRow> {
        self.contact_where("email", org_id, email.as_str()).await
    }

    pub async fn contact_by_guid(&self, org_id: i64, guid: &str) -> StoreResult<ContactRow> {
        self.contact_where("guid", org_id, guid).await
    }

    pub async fn contact_by_external_id(
        &self,
        org_id: i64,
        external_id: &str,
    ) -> StoreResult<ContactRow> {
        self.contact_where("external_id", org_id, external_id).await
    }

    pub async fn contact_by_id(&self, org_id: i64, id: i64) -> StoreResult<ContactRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM contacts WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_one(p)
        .await?))
    }

    /// The contacts with these ids (erased ones are simply absent).
    pub async fn contacts_by_ids(&self, org_id: i64, ids: &[i64]) -> StoreResult<Vec<ContactRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(super::fetch_in!(
            self,
            query_as,
            format!("SELECT {COLUMNS} FROM contacts WHERE org_id = $1 AND id {{ids}}"),
            [org_id],
            2,
            ids
        ))
    }

    async fn contact_where(
        &self,
        column: &'static str,
        org_id: i64,
        value: &str,
    ) -> StoreResult<ContactRow> {
        on_read!(self, |p| Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM contacts WHERE org_id = $1 AND {column} = $2"
        ))
        .bind(org_id)
        .bind(value)
        .fetch_one(p)
        .await?))
    }

    /// Contacts of the organisation whose address or name contains `q` (case-insensitive), by
    /// id, after the id `after` (keyset paging). A `q` with `@` in it matches the addresses
    /// that start with it: on SQLite that is a range of the address index, not a scan.
    pub async fn search_contacts(
        &self,
        org_id: i64,
        q: Option<&str>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<ContactRow>> {
        let escape = |q: &str| {
            q.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        };
        if let Some(prefix) = q.filter(|q| q.contains('@')).map(str::to_lowercase) {
            let pattern = format!("{}%", escape(&prefix));
            let upper = format!("{prefix}\u{10FFFF}");
            return match self {
                Store::Sqlite(s) => Ok(sqlx::query_as(safe!(
                    "SELECT {COLUMNS} FROM contacts WHERE org_id = $1 AND email >= $2 AND email < $3 \
                     AND email LIKE $4 ESCAPE '\\' AND id > $5 ORDER BY id LIMIT $6"
                ))
                .bind(org_id)
                .bind(&prefix)
                .bind(&upper)
                .bind(&pattern)
                .bind(after)
                .bind(limit)
                .fetch_all(&s.read)
                .await?),
                // PostgreSQL's collation need not sort by code point: no range, the pattern alone.
                Store::Postgres(pg) => Ok(sqlx::query_as(safe!(
                    "SELECT {COLUMNS} FROM contacts WHERE org_id = $1 AND email LIKE $2 ESCAPE '\\' \
                     AND id > $3 ORDER BY id LIMIT $4"
                ))
                .bind(org_id)
                .bind(&pattern)
                .bind(after)
                .bind(limit)
                .fetch_all(pg)
                .await?),
            };
        }
        let pattern = q.map(|q| format!("%{}%", escape(q)));
        on_read!(self, |p| {
            Ok(sqlx::query_as(safe!(
            "SELECT {COLUMNS} FROM contacts WHERE org_id = $1 AND id > $2 AND ($3 IS NULL OR LOWER(email) LIKE $3 ESCAPE '\\' \
             OR LOWER(COALESCE(first_name, '')) LIKE $3 ESCAPE '\\' OR LOWER(COALESCE(last_name, '')) LIKE $3 ESCAPE '\\') \
             ORDER BY id LIMIT $4"
        ))
        .bind(org_id)
        .bind(after)
        .bind(pattern)
        .bind(limit)
        .fetch_all(p)
        .await?)
        })
    }

    /// Changes a contact's address; a clash with another contact is a conflict.
    pub async fn update_contact_email(
        &self,
        org_id: i64,
        id: i64,
        email: &EmailAddress,
        now: i64,
    ) -> StoreResult<()> {
        on_write!(self, |p| {
            sqlx::query(
                "UPDATE contacts SET email = $3, updated_at = $4 WHERE org_id = $1 AND id = $2",
            )
            .bind(org_id)
            .bind(id)
            .bind(email.as_str())
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    pub async fn contact_tags(&self, org_id: i64, contact_id: i64) -> StoreResult<Vec<String>> {
        on_read!(self, |p| Ok(sqlx::query_scalar(
            "SELECT tag FROM contact_tags WHERE org_id = $1 AND contact_id = $2 ORDER BY tag"
        )
        .bind(org_id)
        .bind(contact_id)
        .fetch_all(p)
        .await?))
    }
}
