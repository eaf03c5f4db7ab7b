//! The hot part of a contact import on SQLite: finding the rows' contacts, inserting the new
//! ones and adding tags, row by row with one prepared statement each, bound straight into
//! SQLite on the handle of the writer connection (inside the chunk's transaction, which sqlx
//! opened). Through sqlx every bound value is copied and every statement goes to and from
//! its worker thread; here a row costs SQLite's own work. PostgreSQL keeps the multi-row
//! statements of `imports.rs`.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};

use super::imports::{attributes_json, cell, Chunk};
use super::{StoreError, StoreResult};
use crate::domain::import::MatchOn;

/// The ids of the contacts the keys name (the match key of the chunk).
pub fn existing(db: &Connection, c: &Chunk<'_>) -> StoreResult<HashMap<String, i64>> {
    let sql = match c.match_on {
        MatchOn::Email => "SELECT id FROM contacts WHERE org_id = ?1 AND email = ?2",
        MatchOn::ExternalId => "SELECT id FROM contacts WHERE org_id = ?1 AND external_id = ?2",
    };
    let mut find = db.prepare(sql)?;
    let mut out = HashMap::new();
    for k in c.rows.iter().filter_map(|r| r.key(c.match_on)) {
        if let Some(id) = find
            .query_row((c.org_id, k), |r| r.get::<_, i64>(0))
            .optional()?
        {
            out.insert(k.to_string(), id);
        }
    }
    Ok(out)
}

/// (row, contact id) of the inserted rows; (row, conflict) of those that clashed.
pub type Inserted = (Vec<(usize, i64)>, Vec<(usize, StoreError)>);

/// Inserts the new contacts (`rows`: indexes into the chunk's rows); returns (row, id) of
/// each inserted one, and (row, error) of each that clashed with another contact. A failed
/// statement undoes only itself: the transaction goes on.
pub fn insert_new(db: &Connection, c: &Chunk<'_>, rows: &[usize]) -> StoreResult<Inserted> {
    let names: String = c
        .columns
        .iter()
        .map(|(col, _)| format!(", {col}"))
        .collect();
    let params: String = (0..c.columns.len()).map(|_| ", ?").collect();
    let mut insert = db.prepare(&format!(
        "INSERT INTO contacts (org_id, guid, email, external_id{names}, attributes, created_at, updated_at) \
         VALUES (?, ?, ?, ?{params}, ?, ?, ?)"
    ))?;
    let mut inserted = Vec::with_capacity(rows.len());
    let mut clashes = Vec::new();
    let n = c.columns.len();
    for &i in rows {
        let r = &c.rows[i];
        insert.raw_bind_parameter(1, c.org_id)?;
        insert.raw_bind_parameter(2, &c.guids[i])?;
        insert.raw_bind_parameter(3, &r.email)?;
        insert.raw_bind_parameter(4, &r.external_id)?;
        for (k, (col, _)) in c.columns.iter().enumerate() {
            insert.raw_bind_parameter(5 + k, cell(r, col))?;
        }
        let attributes = attributes_json(r, false);
        insert.raw_bind_parameter(5 + n, attributes.as_deref().unwrap_or("{}"))?;
        insert.raw_bind_parameter(6 + n, c.now)?;
        insert.raw_bind_parameter(7 + n, c.now)?;
        match insert.raw_execute() {
            Ok(_) => inserted.push((i, db.last_insert_rowid())),
            Err(e) => match StoreError::from(e) {
                e @ StoreError::Conflict(_) => clashes.push((i, e)),
                e => return Err(e),
            },
        }
    }
    Ok((inserted, clashes))
}

/// Tag rows per statement. Adding a tag runs a trigger (automations started by a tag), and
/// SQLite sets a trigger's program up once per statement run: a statement per row paid that
/// for every row (a third of an import's writing time).
const TAGS_PER_STATEMENT: usize = 100;

/// Adds tags to contacts (those they have stay).
pub fn add_tags(db: &Connection, org_id: i64, tags: &[(i64, &String)]) -> StoreResult<()> {
    for part in tags.chunks(TAGS_PER_STATEMENT) {
        let mut add = db.prepare_cached(&format!(
            "INSERT INTO contact_tags (org_id, contact_id, tag) VALUES {} ON CONFLICT DO NOTHING",
            vec!["(?, ?, ?)"; part.len()].join(", ")
        ))?;
        for (k, (id, tag)) in part.iter().enumerate() {
            add.raw_bind_parameter(k * 3 + 1, org_id)?;
            add.raw_bind_parameter(k * 3 + 2, id)?;
            add.raw_bind_parameter(k * 3 + 3, tag.as_str())?;
        }
        add.raw_execute()?;
    }
    Ok(())
}
