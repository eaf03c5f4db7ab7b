//! A file on disk as a download: streamed in 64 KiB pieces, named in Content-Disposition.

use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use tokio::io::AsyncReadExt;

use crate::services::ServiceError;

/// Streams the export file at `path` as an attachment called `name` (CSV or JSON lines).
pub async fn file(path: &std::path::Path, name: &str) -> Result<Response, ServiceError> {
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ServiceError::NotFound("download"))?;
    let stream = futures_util::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let content_type = if name.ends_with(".jsonl") {
        "application/x-ndjson"
    } else {
        "text/csv; charset=utf-8"
    };
    let safe_name: String = name
        .chars()
        .map(|c| if c == '"' || c.is_control() { '_' } else { c })
        .collect();
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{safe_name}\""),
        )
        .body(Body::from_stream(stream))
        .map_err(|e| ServiceError::Internal(e.to_string()))
}
