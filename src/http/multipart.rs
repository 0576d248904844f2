//! Reading a `multipart/form-data` upload as a stream: one small JSON part, and files bounded
//! one by one, so an oversized or endless upload is cut off after `max_file` bytes instead of
//! being buffered whole.

use crate::error::{ApiError, ProblemKind};
use actix_multipart::Multipart;
use futures_util::StreamExt;

/// Parts beyond this many are refused.
const MAX_PARTS: usize = 8;
/// The JSON part is small.
const MAX_JSON: usize = 16 * 1024;

/// An upload: the JSON part named `json_name`, and the other parts by name.
pub struct Upload {
    pub json: Option<Vec<u8>>,
    pub files: Vec<(String, Vec<u8>)>,
}

/// Reads every part of `payload`; English problems (operators upload).
pub async fn read(
    payload: Multipart,
    json_name: &str,
    max_file: usize,
) -> Result<Upload, ApiError> {
    read_parts(payload, json_name, max_file, MAX_PARTS).await
}

/// [`read`] with another bound on the number of parts (the console's HTML forms send every
/// field as a part, empty file inputs included).
pub async fn read_parts(
    payload: Multipart,
    json_name: &str,
    max_file: usize,
    max_parts: usize,
) -> Result<Upload, ApiError> {
    read_form(payload, json_name, &[], max_file, max_parts).await
}

/// [`read_parts`] for an HTML form whose `text_parts` are typed fields: each is bounded like
/// the JSON part (16 KiB), only the files may reach `max_file`.
pub async fn read_form(
    mut payload: Multipart,
    json_name: &str,
    text_parts: &[&str],
    max_file: usize,
    max_parts: usize,
) -> Result<Upload, ApiError> {
    let mut upload = Upload {
        json: None,
        files: Vec::new(),
    };
    let mut parts = 0;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(malformed)?;
        parts += 1;
        if parts > max_parts {
            return Err(ApiError::new(
                ProblemKind::ValidationFailed,
                format!("At most {max_parts} parts are accepted."),
            ));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let limit = if name == json_name || text_parts.contains(&name.as_str()) {
            MAX_JSON
        } else {
            max_file
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(malformed)?;
            if bytes.len() + chunk.len() > limit {
                return Err(ApiError::new(
                    ProblemKind::DocumentRejected,
                    format!("The part `{name}` is larger than {limit} bytes."),
                )
                .with_extensions(serde_json::json!({ "document": name })));
            }
            bytes.extend_from_slice(&chunk);
        }
        if name == json_name {
            upload.json = Some(bytes);
        } else {
            upload.files.push((name, bytes));
        }
    }
    Ok(upload)
}

fn malformed(e: actix_multipart::MultipartError) -> ApiError {
    use actix_multipart::MultipartError as E;
    match e {
        E::ContentTypeMissing | E::ContentTypeParse | E::ContentTypeIncompatible => ApiError::new(
            ProblemKind::UnsupportedMediaType,
            "The body must be multipart/form-data.",
        ),
        other => ApiError::new(
            ProblemKind::MalformedMultipart,
            format!("The multipart body could not be read: {other}."),
        ),
    }
}
