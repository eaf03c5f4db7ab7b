//! Segment previews: how many subscribers of some opt-ins a segment selects, with a sample.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{found, ServiceResult};
use crate::app::App;
use crate::domain::segment::Segment;
use crate::domain::validation::Collector;
use crate::domain::FieldError;

pub const MAX_SAMPLE: i64 = 100;

/// `POST /api/v1/segments/preview`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// Opt-in keys whose subscribers are counted.
    pub lists: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub segment: Option<Value>,
    /// How many contacts to show (default 10, at most 100).
    pub sample: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SampleContact {
    pub id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PreviewResult {
    pub count: i64,
    pub sample: Vec<SampleContact>,
}

pub async fn preview(app: &App, org_id: i64, req: &PreviewRequest) -> ServiceResult<PreviewResult> {
    let mut c = Collector::default();
    let segment = match &req.segment {
        Some(Value::Null) | None => None,
        Some(v) => c.take(Segment::parse(v)),
    };
    if req.lists.is_empty() || req.lists.len() > super::mailings::MAX_LISTS {
        c.push(FieldError::new(
            "lists",
            "invalid_lists",
            "1 to 50 opt-in keys",
        ));
    }
    let sample = req.sample.unwrap_or(10);
    if !(0..=MAX_SAMPLE).contains(&sample) {
        c.push(FieldError::new("sample", "out_of_range", "0 to 100"));
    }
    let mut ids = Vec::new();
    for (i, key) in req.lists.iter().enumerate() {
        match found(app.store.list_by_key(org_id, key).await)? {
            Some(l) => ids.push(l.id),
            None => c.push(FieldError::new(
                format!("lists[{i}]"),
                "unknown_list",
                "there is no such opt-in",
            )),
        }
    }
    c.finish()?;
    let (count, rows) = app
        .store
        .preview_segment(org_id, &ids, segment.as_ref(), sample, app.now())
        .await?;
    Ok(PreviewResult {
        count,
        sample: rows
            .into_iter()
            .map(|r| SampleContact {
                id: r.guid,
                email: r.email,
                first_name: r.first_name,
                last_name: r.last_name,
            })
            .collect(),
    })
}
