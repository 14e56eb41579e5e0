//! The images of multimodal chat messages: checked, stored content-addressed by the
//! host, referenced from the prompt version.
//!
//! Clients send an image block as MCP's `ImageContent` does: base64 `data` and a
//! `mimeType`. Before the prompt handler sees the body, [`ingest`] decodes the bytes,
//! checks their size (`[media] max_image_size`, 413) and their signature against the
//! declared type (415), stores them once under their SHA-256 in the tenant's part of the
//! host's blob bucket ([`MEDIA_BUCKET`]: files next to the embedded store, S3 on AWS)
//! and replaces `data` by the reference `{mimeType, sha256, size}`. The handler stores
//! only the reference, so plugins never hold image bytes and two versions (or two
//! prompts) with the same image share one object. Reads resolve references with
//! [`load`] in the caller's tenant, after the prompt itself was read under the caller's
//! access rights (service/prompts.rs).

use super::error::{Error, ErrorKind, FieldError};
use crate::plugins::content::ImageRef;
use crate::storage::{MEDIA_BUCKET, Scope, Storage};
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The image types accepted, with the signature that identifies each (checked by hand:
/// four fixed prefixes are a few lines, and a sniffing crate knowing hundreds of types
/// would only add types this server refuses anyway).
const SIGNATURES: &[(&str, &[u8], usize)] = &[
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/gif", b"GIF87a", 0),
    ("image/gif", b"GIF89a", 0),
    // RIFF container (bytes 0..4), then the size, then the form type at 8..12.
    ("image/webp", b"RIFF", 0),
    ("image/webp", b"WEBP", 8),
];

/// The accepted image types, in the order docs and errors name them.
pub const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// The image type `bytes` are, by their signature; `None` for anything else.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    IMAGE_TYPES.into_iter().find(|ty| {
        let sigs: Vec<_> = SIGNATURES.iter().filter(|(t, ..)| t == ty).collect();
        match *ty {
            // Every signature of WebP must match (two parts), any one of the others.
            "image/webp" => sigs.iter().all(|(_, sig, at)| has_at(bytes, sig, *at)),
            _ => sigs.iter().any(|(_, sig, at)| has_at(bytes, sig, *at)),
        }
    })
}

fn has_at(bytes: &[u8], sig: &[u8], at: usize) -> bool {
    bytes.get(at..at + sig.len()) == Some(sig)
}

fn scope(tenant: &str) -> Scope {
    Scope {
        space: MEDIA_BUCKET.to_string(),
        tenant: tenant.to_string(),
    }
}

fn field_error(kind: ErrorKind, field: &str, message: &str) -> Error {
    let mut e = Error::new(kind, format!("{field}: {message}"));
    e.fields.push(FieldError {
        field: field.into(),
        message: message.into(),
    });
    e
}

fn unavailable(e: crate::storage::StorageError) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("the image store is unavailable: {e}"),
    )
}

/// A create/update/import body with every image's `data` stored and replaced by its
/// reference. A body without image blocks comes back unchanged (byte for byte), and a
/// body that is not what the handler expects is left for the handler to report.
pub async fn ingest(
    storage: &Storage,
    tenant: &str,
    max_image: u64,
    reuse: &Reuse,
    body: String,
) -> Result<String, Error> {
    // Cheap test first: most bodies are text prompts without any block.
    if !body.contains("\"image\"") {
        return Ok(body);
    }
    let Ok(Value::Object(mut doc)) = serde_json::from_str::<Value>(&body) else {
        return Ok(body);
    };
    let Some(Value::Array(messages)) = doc.get_mut("messages") else {
        return Ok(body);
    };
    let mut changed = false;
    for (i, message) in messages.iter_mut().enumerate() {
        let Some(Value::Array(blocks)) = message.get_mut("content") else {
            continue;
        };
        for (j, block) in blocks.iter_mut().enumerate() {
            let Value::Object(obj) = block else { continue };
            if obj.get("type").and_then(Value::as_str) != Some("image") {
                continue;
            }
            let path = format!("messages[{i}].content[{j}]");
            let r = match obj.get("data") {
                Some(_) => store(storage, tenant, max_image, &path, obj).await?,
                None => known(storage, tenant, reuse, &path, obj).await?,
            };
            *block = serde_json::json!({
                "type": "image",
                "mimeType": r.mime_type,
                "sha256": r.sha256,
                "size": r.size,
            });
            changed = true;
        }
    }
    if !changed {
        return Ok(body);
    }
    Ok(Value::Object(doc).to_string())
}

/// Which stored images a write may reference by hash alone, without sending the bytes.
pub enum Reuse {
    /// Any image stored in the tenant: for the operator's local commands (`import`),
    /// which hold the whole store anyway.
    AnyStored,
    /// Only these hashes: the images the prompt being written already references in a
    /// version the caller can read. A hash is no capability: without this, a user who
    /// learnt the hash of another user's private image could reference it from a
    /// prompt of their own and fetch the bytes through it.
    Only(std::collections::HashSet<String>),
}

impl Reuse {
    /// The hashes `docs` (stored prompt documents) reference.
    pub fn of<'a>(docs: impl IntoIterator<Item = &'a Value>) -> Reuse {
        Reuse::Only(
            docs.into_iter()
                .flat_map(image_refs)
                .map(|r| r.sha256)
                .collect(),
        )
    }
}

/// Whether a write `body` references an image by hash alone (cheap, may say yes wrongly:
/// the caller then looks up what may be reused for nothing).
pub fn has_references(body: &str) -> bool {
    body.contains("\"image\"") && body.contains("\"sha256\"")
}

/// Checks and stores the `data` of the image block at `path`.
async fn store(
    storage: &Storage,
    tenant: &str,
    max_image: u64,
    path: &str,
    obj: &Map<String, Value>,
) -> Result<ImageRef, Error> {
    let Some(Value::String(data)) = obj.get("data") else {
        return Err(Error::invalid_field(
            &format!("{path}.data"),
            "must be a string of base64",
        ));
    };
    let declared = match obj.get("mimeType") {
        Some(Value::String(m)) => m.as_str(),
        _ => {
            return Err(Error::invalid_field(
                &format!("{path}.mimeType"),
                &format!("is required: one of {}", IMAGE_TYPES.join(", ")),
            ));
        }
    };
    let too_large = |size: u64| {
        field_error(
            ErrorKind::TooLarge,
            path,
            &format!(
                "the image is {size} bytes; at most {max_image} are accepted (media.max_image_size)"
            ),
        )
    };
    // Refuse an oversized image before spending memory on decoding it.
    let estimate = base64::decoded_len_estimate(data.len()) as u64;
    if estimate > max_image.saturating_add(3) {
        return Err(too_large(estimate));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.as_bytes())
        .map_err(|e| {
            Error::invalid_field(&format!("{path}.data"), &format!("is not base64: {e}"))
        })?;
    if bytes.len() as u64 > max_image {
        return Err(too_large(bytes.len() as u64));
    }
    if !IMAGE_TYPES.contains(&declared) {
        return Err(field_error(
            ErrorKind::UnsupportedMediaType,
            &format!("{path}.mimeType"),
            &format!(
                "unsupported image type {declared:?}: must be one of {}",
                IMAGE_TYPES.join(", ")
            ),
        ));
    }
    match sniff(&bytes) {
        None => {
            return Err(field_error(
                ErrorKind::UnsupportedMediaType,
                &format!("{path}.data"),
                &format!(
                    "is not an image: the bytes are none of {}",
                    IMAGE_TYPES.join(", ")
                ),
            ));
        }
        Some(actual) if actual != declared => {
            return Err(field_error(
                ErrorKind::UnsupportedMediaType,
                &format!("{path}.mimeType"),
                &format!("declares {declared} but the bytes are {actual}"),
            ));
        }
        Some(_) => {}
    }
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let size = bytes.len() as u64;
    let scope = scope(tenant);
    // Content-addressed: an object under this key already holds exactly these bytes.
    if stored_size(storage, &scope, &sha256).await?.is_none() {
        storage
            .blob
            .put(&scope, &sha256, bytes)
            .await
            .map_err(unavailable)?;
    }
    Ok(ImageRef {
        mime_type: declared.to_string(),
        sha256,
        size,
    })
}

/// An image block without `data`: a reference, as reads return them (a client updating
/// a prompt sends its blocks back). It must name an image stored in the caller's tenant;
/// its size is taken from the store, not from the client.
async fn known(
    storage: &Storage,
    tenant: &str,
    reuse: &Reuse,
    path: &str,
    obj: &Map<String, Value>,
) -> Result<ImageRef, Error> {
    let sha256 = match obj.get("sha256") {
        Some(Value::String(s)) if is_sha256_hex(s) => s.clone(),
        Some(_) => {
            return Err(Error::invalid_field(
                &format!("{path}.sha256"),
                "must be 64 lower-case hex digits",
            ));
        }
        None => {
            return Err(Error::invalid_field(
                &format!("{path}.data"),
                "is required: the image as base64 (or sha256 of an image already stored)",
            ));
        }
    };
    let mime_type = match obj.get("mimeType") {
        Some(Value::String(m)) if IMAGE_TYPES.contains(&m.as_str()) => m.clone(),
        _ => {
            return Err(Error::invalid_field(
                &format!("{path}.mimeType"),
                &format!("is required: one of {}", IMAGE_TYPES.join(", ")),
            ));
        }
    };
    // One answer whether the image is absent or only not this caller's to reuse, so
    // the refusal tells nothing about other users' images.
    let refused = || {
        Error::invalid_field(
            &format!("{path}.sha256"),
            "is not an image this prompt already has; send the image as base64 data",
        )
    };
    if let Reuse::Only(allowed) = reuse
        && !allowed.contains(&sha256)
    {
        return Err(refused());
    }
    let Some(size) = stored_size(storage, &scope(tenant), &sha256).await? else {
        return Err(refused());
    };
    Ok(ImageRef {
        mime_type,
        sha256,
        size,
    })
}

async fn stored_size(storage: &Storage, scope: &Scope, sha256: &str) -> Result<Option<u64>, Error> {
    let (objects, _) = storage
        .blob
        .list(scope, sha256, None, 1)
        .await
        .map_err(unavailable)?;
    Ok(objects
        .into_iter()
        .find(|o| o.key == sha256)
        .map(|o| o.size))
}

pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The bytes of image `sha256` in `tenant`, if stored.
pub async fn load(storage: &Storage, tenant: &str, sha256: &str) -> Result<Option<Vec<u8>>, Error> {
    if !is_sha256_hex(sha256) {
        return Ok(None);
    }
    storage
        .blob
        .get(&scope(tenant), sha256)
        .await
        .map_err(unavailable)
}

/// The image blocks of `messages` (a chat prompt's, as stored or as in a file) in the
/// form two versions compare by: type, MIME type and hash, whether a block carries its
/// bytes (`data`, as exported files do) or only its reference. Anything else is kept
/// as it is; a `data` that is not base64 too (the import refuses it later).
pub fn comparable_messages(messages: &Value) -> Value {
    let mut out = messages.clone();
    for_each_image(&mut out, |obj| {
        let sha256 = match obj.get("data").and_then(Value::as_str) {
            Some(data) => match base64::engine::general_purpose::STANDARD.decode(data) {
                Ok(bytes) => hex::encode(Sha256::digest(&bytes)),
                Err(_) => return,
            },
            None => match obj.get("sha256").and_then(Value::as_str) {
                Some(s) => s.to_string(),
                None => return,
            },
        };
        let mime = obj.get("mimeType").cloned().unwrap_or(Value::Null);
        *obj = Map::from_iter([
            ("type".to_string(), Value::from("image")),
            ("mimeType".to_string(), mime),
            ("sha256".to_string(), Value::from(sha256)),
        ]);
    });
    out
}

/// `doc` (a stored prompt document) with each image reference replaced by the image
/// itself, `{type, mimeType, data}` as a client sends it, from `bytes` (by hash): what
/// an exported file holds, so that it imports into any store. References whose bytes
/// are not in `bytes` are left as they are.
pub fn with_data(doc: &mut Map<String, Value>, bytes: &std::collections::HashMap<String, Vec<u8>>) {
    let Some(messages) = doc.get_mut("messages") else {
        return;
    };
    for_each_image(messages, |obj| {
        let Some(b) = obj
            .get("sha256")
            .and_then(Value::as_str)
            .and_then(|s| bytes.get(s))
        else {
            return;
        };
        let data = base64::engine::general_purpose::STANDARD.encode(b);
        let mime = obj.get("mimeType").cloned().unwrap_or(Value::Null);
        *obj = Map::from_iter([
            ("type".to_string(), Value::from("image")),
            ("mimeType".to_string(), mime),
            ("data".to_string(), Value::from(data)),
        ]);
    });
}

fn for_each_image(messages: &mut Value, mut f: impl FnMut(&mut Map<String, Value>)) {
    let Value::Array(messages) = messages else {
        return;
    };
    for m in messages {
        let Some(Value::Array(blocks)) = m.get_mut("content") else {
            continue;
        };
        for b in blocks {
            if let Value::Object(obj) = b
                && obj.get("type").and_then(Value::as_str) == Some("image")
            {
                f(obj);
            }
        }
    }
}

/// The image references in a stored prompt document's messages.
pub fn image_refs(doc: &Value) -> Vec<ImageRef> {
    doc.get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("image"))
        .filter_map(|b| serde_json::from_value(b.clone()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A 1×1 transparent PNG.
    pub const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    /// What a reference to an image that is not stored is refused with.
    async fn e_absent_detail(s: &Storage) -> String {
        let r = json!({"type": "image", "mimeType": "image/png", "sha256": "0".repeat(64)});
        let doc = json!({"type": "chat", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "x"}, r
        ]}]});
        ingest(s, "t", 1024, &Reuse::AnyStored, doc.to_string())
            .await
            .unwrap_err()
            .detail
    }

    #[test]
    fn signatures_identify_the_four_types() {
        assert_eq!(sniff(PNG), Some("image/png"));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF"), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a\x01\0"), Some("image/gif"));
        assert_eq!(sniff(b"GIF87a\x01\0"), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(
            sniff(b"RIFF\x24\0\0\0WAVEfmt "),
            None,
            "a RIFF that is not WebP"
        );
        assert_eq!(sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), None);
        assert_eq!(sniff(b"\x89PN"), None, "truncated");
        assert_eq!(sniff(b""), None);
    }

    async fn mem() -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::storage::embedded::open(dir.path()).unwrap();
        (dir, s)
    }

    fn body(block: Value) -> String {
        json!({"id": "p", "type": "chat", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}, block]}
        ]})
        .to_string()
    }

    #[tokio::test]
    async fn ingest_stores_once_and_checks_what_it_stores() {
        let (_dir, s) = mem().await;
        let data = base64::engine::general_purpose::STANDARD.encode(PNG);
        let img = json!({"type": "image", "mimeType": "image/png", "data": data});
        let out = ingest(&s, "t", 1024, &Reuse::AnyStored, body(img.clone()))
            .await
            .unwrap();
        let doc: Value = serde_json::from_str(&out).unwrap();
        let refs = image_refs(&doc);
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].size, PNG.len() as u64);
        assert_eq!(refs[0].sha256, hex::encode(Sha256::digest(PNG)));
        assert_eq!(
            load(&s, "t", &refs[0].sha256).await.unwrap().as_deref(),
            Some(PNG)
        );
        assert_eq!(load(&s, "other", &refs[0].sha256).await.unwrap(), None);
        // A reference to it is accepted in its tenant, not in another.
        let r =
            json!({"type": "image", "mimeType": "image/png", "sha256": refs[0].sha256, "size": 1});
        let out = ingest(&s, "t", 1024, &Reuse::AnyStored, body(r.clone()))
            .await
            .unwrap();
        assert_eq!(image_refs(&serde_json::from_str(&out).unwrap())[0].size, 67);
        let e = ingest(&s, "other", 1024, &Reuse::AnyStored, body(r.clone()))
            .await
            .unwrap_err();
        assert_eq!(e.fields[0].field, "messages[0].content[1].sha256");
        // Only the hashes a caller may reuse, even when the image is stored.
        let none = Reuse::Only(Default::default());
        let e = ingest(&s, "t", 1024, &none, body(r.clone()))
            .await
            .unwrap_err();
        assert_eq!(e.detail, e_absent_detail(&s).await);
        let mine = Reuse::of([&doc]);
        assert!(ingest(&s, "t", 1024, &mine, body(r)).await.is_ok());
        // Too large, not an image, mismatched type, unsupported type.
        let e = ingest(&s, "t", 10, &Reuse::AnyStored, body(img))
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind, e.fields[0].field.as_str()),
            (ErrorKind::TooLarge, "messages[0].content[1]")
        );
        let text = base64::engine::general_purpose::STANDARD.encode(b"hello, not an image");
        let e = ingest(
            &s,
            "t",
            1024,
            &Reuse::AnyStored,
            body(json!({"type": "image", "mimeType": "image/png", "data": text})),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnsupportedMediaType);
        assert_eq!(e.fields[0].field, "messages[0].content[1].data");
        let e = ingest(
            &s,
            "t",
            1024,
            &Reuse::AnyStored,
            body(json!({"type": "image", "mimeType": "image/gif", "data": data})),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnsupportedMediaType);
        assert!(e.detail.contains("image/png"), "{}", e.detail);
        let e = ingest(
            &s,
            "t",
            1024,
            &Reuse::AnyStored,
            body(json!({"type": "image", "mimeType": "image/svg+xml", "data": data})),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnsupportedMediaType);
        let e = ingest(
            &s,
            "t",
            1024,
            &Reuse::AnyStored,
            body(json!({"type": "image", "mimeType": "image/png", "data": "%%%"})),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        // Bodies without images are not touched.
        let plain = r#"{"id":"x",  "content":"an \"image\" in words"}"#.to_string();
        assert_eq!(
            ingest(&s, "t", 1, &Reuse::AnyStored, plain.clone())
                .await
                .unwrap(),
            plain
        );
    }
}
