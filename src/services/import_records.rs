//! Data-model records in contact imports: `records.COLLECTION.FIELD` columns give each row's
//! contact a record in a collection (an orders file: one line per order, the contact's
//! fields beside it). The records are checked like the data-model API checks them, and
//! written in the chunk's transaction with their contacts.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::collections::fields_of;
use super::{found, ServiceResult};
use crate::app::App;
use crate::domain::collection::{check_record, FieldDef};
use crate::domain::import::{Mapping, Row, RowError, Target};
use crate::domain::{FieldError, ValidationError};
use crate::store::{ChunkRecord, CollectionRow};

/// The collections a mapping writes to, by key.
pub type Collections = HashMap<String, (CollectionRow, Vec<FieldDef>)>;

/// The header of the column that fills a record field.
fn header<'m>(mapping: &'m Mapping, coll: &str, field: &str) -> Option<&'m str> {
    mapping.columns.iter().find_map(|c| match &c.target {
        Target::Record(co, f) if co == coll && f == field => Some(c.header.as_str()),
        _ => None,
    })
}

/// Checks the mapping's record columns against the organisation's collections: each names
/// a field of an existing collection, and every collection written gets its primary key and
/// required fields from a column.
pub async fn collections(app: &App, org_id: i64, mapping: &Mapping) -> ServiceResult<Collections> {
    let mut out = Collections::new();
    let mut errors = Vec::new();
    for c in &mapping.columns {
        let Target::Record(coll, field) = &c.target else {
            continue;
        };
        let at = format!("columns.{}", c.header);
        if !out.contains_key(coll) {
            match found(app.store.collection_by_key(org_id, coll).await)? {
                Some(row) => {
                    let fields = fields_of(&row);
                    out.insert(coll.clone(), (row, fields));
                }
                None => {
                    errors.push(FieldError::new(
                        at,
                        "unknown_collection",
                        format!("there is no collection '{coll}' (see /api/v1/collections)"),
                    ));
                    continue;
                }
            }
        }
        if !out[coll].1.iter().any(|f| &f.name == field) {
            errors.push(FieldError::new(
                at,
                "unknown_field",
                format!("collection '{coll}' has no field '{field}'"),
            ));
        }
    }
    for (coll, (_, fields)) in &out {
        for f in fields.iter().filter(|f| f.required) {
            if header(mapping, coll, &f.name).is_none() {
                errors.push(FieldError::new(
                    "columns",
                    "required_field",
                    format!(
                        "map a column to records.{coll}.{}: the collection needs it",
                        f.name
                    ),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ValidationError(errors).into())
    }
}

/// Checks the records of a chunk's rows. A row with a bad record is refused as a whole (its
/// line and the column named); the others keep their records, as (row index, record).
pub async fn check(
    app: &App,
    org_id: i64,
    mapping: &Mapping,
    collections: &Collections,
    rows: Vec<Row>,
    refused: &mut Vec<RowError>,
) -> ServiceResult<(Vec<Row>, Vec<ChunkRecord>)> {
    if collections.is_empty() {
        return Ok((rows, Vec::new()));
    }
    let mut kept = Vec::with_capacity(rows.len());
    let mut records = Vec::new();
    let mut products: Vec<(usize, String, String)> = Vec::new();
    'rows: for row in rows {
        let mut mine = Vec::new();
        for (coll, data) in &row.records {
            let (c, fields) = &collections[coll];
            match check_record(fields, &c.primary_key, data, "") {
                Ok(rec) => {
                    for p in &rec.products {
                        let field = rec
                            .data
                            .iter()
                            .find(|(_, v)| v.as_str() == Some(p.as_str()))
                            .map(|(f, _)| f.as_str())
                            .unwrap_or_default();
                        let column = header(mapping, coll, field).unwrap_or(coll).to_string();
                        products.push((kept.len(), p.clone(), column));
                    }
                    mine.push(ChunkRecord {
                        row: kept.len(),
                        collection_id: c.id,
                        key: rec.key,
                        data: Value::Object(rec.data).to_string(),
                    });
                }
                Err(errors) => {
                    let e = &errors[0];
                    let field = e.field.trim_start_matches('.');
                    refused.push(RowError {
                        line: row.line,
                        column: header(mapping, coll, field)
                            .map(String::from)
                            .unwrap_or_else(|| format!("records.{coll}")),
                        code: e.code,
                        message: e.message.clone(),
                    });
                    continue 'rows;
                }
            }
        }
        records.extend(mine);
        kept.push(row);
    }
    if products.is_empty() {
        return Ok((kept, records));
    }
    // Product references name products of the catalogue.
    let ids: Vec<String> = products.iter().map(|(_, p, _)| p.clone()).collect();
    let known: HashSet<String> = app
        .store
        .products_by_external_ids(org_id, &ids)
        .await?
        .into_iter()
        .map(|p| p.external_id)
        .collect();
    let mut bad: HashMap<usize, RowError> = HashMap::new();
    for (i, p, column) in products {
        if !known.contains(&p) {
            bad.entry(i).or_insert(RowError {
                line: kept[i].line,
                column,
                code: "unknown_product",
                message: format!("there is no product '{p}' (see /api/v1/products)"),
            });
        }
    }
    if bad.is_empty() {
        return Ok((kept, records));
    }
    // Drop the refused rows and renumber the records of the others.
    let mut index = Vec::with_capacity(kept.len());
    let mut rows = Vec::with_capacity(kept.len());
    for (i, row) in kept.into_iter().enumerate() {
        match bad.remove(&i) {
            Some(e) => {
                refused.push(e);
                index.push(None);
            }
            None => {
                index.push(Some(rows.len()));
                rows.push(row);
            }
        }
    }
    Ok((rows, renumber(records, &index)))
}

/// The records of rows that moved: `index[old row]` is the row's new place, or None when it
/// was dropped (and its records with it).
pub fn renumber(records: Vec<ChunkRecord>, index: &[Option<usize>]) -> Vec<ChunkRecord> {
    records
        .into_iter()
        .filter_map(|mut r| {
            r.row = index[r.row]?;
            Some(r)
        })
        .collect()
}
