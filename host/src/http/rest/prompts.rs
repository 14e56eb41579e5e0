//! `/v1/prompts` (or wherever a route mounts a prompt handler), decoded into
//! [`PromptService`] calls:
//!
//! | method | path | service call |
//! |---|---|---|
//! | GET | `` | list |
//! | POST | `` | create |
//! | GET | `/{id}` (`?version=N` or `?label=L`) | get |
//! | PUT | `/{id}` (`If-Match`) | update (merge) |
//! | PUT | `/{id}?mode=replace` | upsert (create or replace; what `import` sends) |
//! | DELETE | `/{id}` | delete |
//! | GET | `/{id}/versions` | versions |
//! | POST | `/{id}/apply` (`?version=N` or `?label=L`) | apply |
//! | DELETE | `/{id}/versions/{n}` | delete_version |
//! | GET | `/{id}/labels` | labels |
//! | GET | `/{id}/labels/{label}` | labels (one) |
//! | PUT | `/{id}/labels/{label}` (`If-Match`) | set_label |
//! | DELETE | `/{id}/labels/{label}` (`If-Match`) | delete_label |
//! | GET | `/{id}/labels/{label}/history` | label_history |
//! | GET | `/{id}/diff?from=A&to=B` | diff |
//! | GET | `/{id}/blobs/{sha256}` | image (the bytes of an image block) |

use super::decode::{apply_variables, if_match, query_pairs, read_json};
use crate::app::{App, Route};
use crate::http::problem::{Problem, json, policy_headers, raw_json};
use crate::http::{Body, method_not_allowed};
use crate::plugins::{Label, ListQuery, Selector, UpsertOutcome};
use crate::service::policy::{Action, Via};
use crate::service::prompts::{DEFAULT_LIMIT, MAX_LIMIT, Prompt};
use crate::service::{self, PromptService};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};

/// Characters escaped in a path segment: everything but RFC 3986 unreserved characters.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What a request addresses below the route's prefix.
enum Target {
    Collection,
    Item(String),
    Versions(String),
    Version(String, u64),
    Apply(String),
    Labels(String),
    Label(String, String),
    LabelHistory(String, String),
    Diff(String),
    Blob(String, String),
}

impl Target {
    fn parse(rest: &str) -> Result<Self, Problem> {
        let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        let id = |s: &str| -> Result<String, Problem> {
            let decoded = percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map_err(|_| Problem::bad_request("invalid-id", "prompt id is not valid UTF-8"))?;
            Ok(decoded.into_owned())
        };
        match segs.as_slice() {
            [""] => Ok(Target::Collection),
            [i] if !i.is_empty() => Ok(Target::Item(id(i)?)),
            [i, "versions"] if !i.is_empty() => Ok(Target::Versions(id(i)?)),
            [i, "apply"] if !i.is_empty() => Ok(Target::Apply(id(i)?)),
            [i, "versions", n] if !i.is_empty() => match n.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(Target::Version(id(i)?, n)),
                _ => Err(Problem::bad_request(
                    "invalid-parameter",
                    format!("a version must be a positive integer, got {n:?}"),
                )),
            },
            [i, "labels"] if !i.is_empty() => Ok(Target::Labels(id(i)?)),
            [i, "diff"] if !i.is_empty() => Ok(Target::Diff(id(i)?)),
            [i, "blobs", h] if !i.is_empty() && !h.is_empty() => {
                Ok(Target::Blob(id(i)?, (*h).to_string()))
            }
            [i, "labels", l] if !i.is_empty() && !l.is_empty() => Ok(Target::Label(id(i)?, id(l)?)),
            [i, "labels", l, "history"] if !i.is_empty() && !l.is_empty() => {
                Ok(Target::LabelHistory(id(i)?, id(l)?))
            }
            _ => Err(Problem::not_found(format!("no resource at {rest}"))),
        }
    }

    fn allow(&self) -> &'static str {
        match self {
            Target::Collection => "GET, POST",
            Target::Item(_) => "GET, PUT, DELETE",
            Target::Versions(_)
            | Target::Labels(_)
            | Target::LabelHistory(..)
            | Target::Diff(_)
            | Target::Blob(..) => "GET",
            Target::Apply(_) => "POST",
            Target::Version(..) => "DELETE",
            Target::Label(..) => "GET, PUT, DELETE",
        }
    }

    fn pattern(&self, base: &str) -> String {
        match self {
            Target::Collection => base.to_string(),
            Target::Item(_) => format!("{base}/{{id}}"),
            Target::Versions(_) => format!("{base}/{{id}}/versions"),
            Target::Apply(_) => format!("{base}/{{id}}/apply"),
            Target::Version(..) => format!("{base}/{{id}}/versions/{{version}}"),
            Target::Labels(_) => format!("{base}/{{id}}/labels"),
            Target::Label(..) => format!("{base}/{{id}}/labels/{{label}}"),
            Target::LabelHistory(..) => format!("{base}/{{id}}/labels/{{label}}/history"),
            Target::Diff(_) => format!("{base}/{{id}}/diff"),
            Target::Blob(..) => format!("{base}/{{id}}/blobs/{{sha256}}"),
        }
    }

    fn id(&self) -> Option<&str> {
        match self {
            Target::Collection => None,
            Target::Item(i)
            | Target::Versions(i)
            | Target::Apply(i)
            | Target::Version(i, _)
            | Target::Labels(i)
            | Target::Label(i, _)
            | Target::LabelHistory(i, _)
            | Target::Diff(i)
            | Target::Blob(i, _) => Some(i),
        }
    }
}

/// Serves one request on a prompt route.
pub async fn serve<B>(
    app: &App,
    sreq: &service::Request,
    route: &Route,
    rest: &str,
    req: Request<B>,
) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let target = match Target::parse(rest) {
        Ok(t) => t,
        Err(p) => return p.into_response(),
    };
    let replace = match put_mode(&req, &target) {
        Ok(r) => r,
        Err(p) => return p.into_response(),
    };
    let action = match (req.method(), &target) {
        (&Method::GET, Target::Collection) => Action::List,
        (&Method::POST, Target::Collection) => Action::Create,
        (
            &Method::GET,
            Target::Item(_)
            | Target::Versions(_)
            | Target::Labels(_)
            | Target::Label(..)
            | Target::LabelHistory(..)
            | Target::Diff(_)
            | Target::Blob(..),
        ) => Action::Read,
        (&Method::PUT, Target::Item(_)) => Action::Update,
        // Moving a label is a write to the prompt: read-only catalogs refuse it, and
        // policies see it as an update of that prompt.
        (&Method::PUT | &Method::DELETE, Target::Label(..)) => Action::Update,
        (&Method::DELETE, Target::Item(_) | Target::Version(..)) => Action::Delete,
        (&Method::POST, Target::Apply(_)) => Action::Render,
        _ => return method_not_allowed(target.allow()),
    };
    let via = Via {
        method: req.method().as_str().to_string(),
        pattern: target.pattern(&route.path),
    };
    let svc = PromptService::new(app, sreq, route, via);
    // The policies answer before the body is read: a refused client learns nothing
    // about how its body would have been judged.
    let permit = match (replace, target.id()) {
        (true, Some(id)) => svc.authorize_upsert(id).await,
        _ => svc.authorize(action, target.id()).await,
    };
    let permit = match permit {
        Ok(p) => p,
        Err(e) => return Problem::from(e).into_response(),
    };
    if replace && let Target::Item(id) = &target {
        let mut resp = match upsert(&svc, &permit, id, req, max_body(sreq)).await {
            Ok(r) => r,
            Err(p) => p.into_response(),
        };
        for (k, v) in policy_headers(permit.headers) {
            resp.headers_mut().append(k, v);
        }
        return resp;
    }
    let mut resp = match run(&svc, &permit, &target, req, max_body(sreq)).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    };
    for (k, v) in policy_headers(permit.headers) {
        resp.headers_mut().append(k, v);
    }
    resp
}

fn max_body(sreq: &service::Request) -> usize {
    sreq.snapshot.config.config.server.max_body_size.0 as usize
}

/// `PUT /{id}` takes `?mode=merge` (the default: the body's fields change the stored
/// prompt) or `?mode=replace` (the body is the whole prompt: an import). Any other mode,
/// or a mode on another request, is refused rather than ignored.
fn put_mode<B>(req: &Request<B>, target: &Target) -> Result<bool, Problem> {
    let Some(mode) = query_pairs(req.uri().query())
        .into_iter()
        .find_map(|(k, v)| (k == "mode").then_some(v))
    else {
        return Ok(false);
    };
    if req.method() != Method::PUT || !matches!(target, Target::Item(_)) {
        return Err(Problem::bad_request(
            "invalid-parameter",
            "mode applies only to PUT on a prompt",
        ));
    }
    match mode.as_str() {
        "merge" => Ok(false),
        "replace" if req.headers().contains_key(header::IF_MATCH) => Err(Problem::bad_request(
            "invalid-parameter",
            "mode=replace does not take If-Match: it creates or replaces whatever is stored",
        )),
        "replace" => Ok(true),
        other => Err(Problem::bad_request(
            "invalid-parameter",
            format!("mode must be \"merge\" or \"replace\", got {other:?}"),
        )),
    }
}

/// `PUT /{id}?mode=replace`: 201 with `Location` when the prompt was created, else 200;
/// `Upsert-Outcome` says `created`, `updated` or `unchanged` (no new version written).
async fn upsert<B>(
    svc: &PromptService<'_>,
    permit: &service::Permit,
    id: &str,
    req: Request<B>,
    max_body: usize,
) -> Result<Response<Body>, Problem>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let body = read_json(req, max_body).await?;
    let (outcome, prompt) = svc.upsert(permit, id, body).await?;
    let (status, word) = match outcome {
        UpsertOutcome::Created => (StatusCode::CREATED, "created"),
        UpsertOutcome::Updated => (StatusCode::OK, "updated"),
        UpsertOutcome::Unchanged => (StatusCode::OK, "unchanged"),
    };
    let mut resp = prompt_response(status, prompt);
    resp.headers_mut()
        .insert("upsert-outcome", HeaderValue::from_static(word));
    if outcome == UpsertOutcome::Created {
        let location = format!(
            "{}/{}",
            svc.route().path,
            percent_encoding::utf8_percent_encode(id, PATH_SEGMENT)
        );
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(resp)
}

async fn run<B>(
    svc: &PromptService<'_>,
    permit: &service::Permit,
    target: &Target,
    req: Request<B>,
    max_body: usize,
) -> Result<Response<Body>, Problem>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match (req.method().clone(), target) {
        (Method::GET, Target::Collection) => {
            let query = list_query(req.uri().query())?;
            let page = svc.list(permit, &query).await?;
            let body =
                serde_json::json!({ "prompts": page.prompts, "nextCursor": page.next_cursor });
            Ok(json(StatusCode::OK, &body))
        }
        (Method::POST, Target::Collection) => {
            let body = read_json(req, max_body).await?;
            let created = svc.create(permit, body).await?;
            let location = format!(
                "{}/{}",
                svc.route().path,
                percent_encoding::utf8_percent_encode(
                    created.id.as_deref().unwrap_or_default(),
                    PATH_SEGMENT
                )
            );
            let mut resp = prompt_response(StatusCode::CREATED, created);
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Ok(resp)
        }
        (Method::GET, Target::Item(id)) => {
            let at = read_selector(svc, req.uri().query())?;
            let prompt = svc.get_at(permit, id, &at).await?;
            let route = svc.route();
            let cache = match at {
                Selector::Version(_) => route.cache_pinned.clone(),
                _ => route.cache_resolved.clone(),
            };
            let fresh = prompt
                .version
                .is_some_and(|v| none_match(req.headers(), &version_etag(v)));
            let mut resp = if fresh {
                not_modified(prompt.version)
            } else {
                prompt_response(StatusCode::OK, prompt)
            };
            let h = resp.headers_mut();
            if let Some(c) = cache {
                h.insert(header::CACHE_CONTROL, c);
            }
            // What a read returns depends on who asks (tenant, access level): a cache
            // must key it by the credentials.
            h.append(header::VARY, HeaderValue::from_static("authorization"));
            Ok(resp)
        }
        (Method::DELETE, Target::Version(id, n)) => {
            svc.delete_version(permit, id, *n).await?;
            let mut resp = Response::new(Body::new(Bytes::new()));
            *resp.status_mut() = StatusCode::NO_CONTENT;
            Ok(resp)
        }
        (Method::GET, Target::Labels(id)) => {
            let labels = svc.labels(permit, id).await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "labels": labels }),
            ))
        }
        (Method::GET, Target::Label(id, label)) => {
            let labels = svc.labels(permit, id).await?;
            let found = labels
                .into_iter()
                .find(|l| l.name == *label)
                .ok_or_else(|| {
                    Problem::not_found(format!("prompt '{id}' has no label '{label}'"))
                })?;
            Ok(label_response(&found))
        }
        (Method::PUT, Target::Label(id, label)) => {
            let expected = if_match(&req)?;
            let body = read_json(req, max_body).await?;
            let version = label_body(&body)?;
            let l = svc.set_label(permit, id, label, version, expected).await?;
            Ok(label_response(&l))
        }
        (Method::DELETE, Target::Label(id, label)) => {
            let expected = if_match(&req)?;
            svc.delete_label(permit, id, label, expected).await?;
            let mut resp = Response::new(Body::new(Bytes::new()));
            *resp.status_mut() = StatusCode::NO_CONTENT;
            Ok(resp)
        }
        (Method::GET, Target::LabelHistory(id, label)) => {
            let (cursor, limit) = page_params(req.uri().query())?;
            let page = svc.label_history(permit, id, label, cursor, limit).await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "history": page.moves, "nextCursor": page.next_cursor }),
            ))
        }
        (Method::GET, Target::Diff(id)) => {
            let (from, to) = diff_refs(req.uri().query())?;
            let d = svc.diff(permit, id, &from, &to).await?;
            Ok(json(StatusCode::OK, &d))
        }
        (Method::GET, Target::Blob(id, sha256)) => {
            let (image, bytes) = svc.image(permit, id, sha256).await?;
            Ok(image_response(req.headers(), &image, bytes))
        }
        (Method::PUT, Target::Item(id)) => {
            let expected = if_match(&req)?;
            let body = read_json(req, max_body).await?;
            let updated = svc.update(permit, id, body, expected).await?;
            Ok(prompt_response(StatusCode::OK, updated))
        }
        (Method::DELETE, Target::Item(id)) => {
            svc.delete(permit, id).await?;
            let mut resp = Response::new(Body::new(Bytes::new()));
            *resp.status_mut() = StatusCode::NO_CONTENT;
            Ok(resp)
        }
        (Method::GET, Target::Versions(id)) => {
            let versions = svc.versions(permit, id).await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "versions": versions }),
            ))
        }
        (Method::POST, Target::Apply(id)) => {
            let at = read_selector(svc, req.uri().query())?;
            let variables = apply_variables(req, max_body).await?;
            let applied = svc.apply_at(permit, id, &at, variables).await?;
            Ok(json(
                StatusCode::OK,
                &service::prompts::applied_document(&applied),
            ))
        }
        _ => Ok(method_not_allowed(target.allow())),
    }
}

/// A prompt as the response body, with its version as the ETag.
fn prompt_response(status: StatusCode, prompt: Prompt) -> Response<Body> {
    let version = prompt.version;
    let mut resp = raw_json(status, prompt.json);
    if let Some(v) = version
        && let Ok(h) = HeaderValue::from_str(&version_etag(v))
    {
        resp.headers_mut().insert(header::ETAG, h);
    }
    resp
}

/// An image's bytes. They are addressed by their hash, so they never change: cacheable
/// for a year and immutable, but `private` (and varying by credentials) because who may
/// read them depends on who asks, as for the prompt.
fn image_response(
    headers: &http::HeaderMap,
    image: &crate::plugins::content::ImageRef,
    bytes: Vec<u8>,
) -> Response<Body> {
    let etag = format!("\"{}\"", image.sha256);
    let mut resp = if none_match(headers, &etag) {
        let mut r = Response::new(Body::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::new(Bytes::from(bytes)));
        if let Ok(v) = HeaderValue::from_str(&image.mime_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.append(header::VARY, HeaderValue::from_static("authorization"));
    resp
}

/// The strong ETag of a prompt version. A version is immutable, so its number is a
/// strong validator of every read that resolves to it (by number, label or default),
/// and it is what `If-Match` takes back on writes.
fn version_etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// `304 Not Modified` for a version the client holds: no body, the validator again
/// (RFC 9110 §15.4.5: the headers a 200 would carry for caching).
fn not_modified(version: Option<u64>) -> Response<Body> {
    let mut resp = Response::new(Body::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NOT_MODIFIED;
    if let Some(v) = version
        && let Ok(h) = HeaderValue::from_str(&version_etag(v))
    {
        resp.headers_mut().insert(header::ETAG, h);
    }
    resp
}

/// Whether `If-None-Match` matches `etag`: `*`, or any entity tag of the list under
/// the weak comparison RFC 9110 §13.1.2 prescribes for it (`W/"1"` matches `"1"`).
fn none_match(headers: &http::HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// `?version=N` or `?label=L` (not both); neither: the route's default labels.
fn read_selector(svc: &PromptService<'_>, query: Option<&str>) -> Result<Selector, Problem> {
    let mut version = None;
    let mut label = None;
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "version" => {
                version = Some(match v.parse::<u64>() {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        return Err(Problem::bad_request(
                            "invalid-parameter",
                            format!("version must be a positive integer, got {v:?}"),
                        ));
                    }
                })
            }
            "label" => label = Some(v),
            _ => {}
        }
    }
    match (version, label) {
        (Some(_), Some(_)) => Err(Problem::bad_request(
            "invalid-parameter",
            "give either version or label, not both",
        )),
        (Some(n), None) => Ok(Selector::Version(n)),
        (None, Some(l)) => Ok(Selector::Labels(vec![l])),
        (None, None) => Ok(svc.default_selector()),
    }
}

/// `?from=A&to=B` of a diff: versions or labels; `from` is required, `to` defaults to
/// the newest version.
fn diff_refs(query: Option<&str>) -> Result<(Selector, Selector), Problem> {
    let mut from = None;
    let mut to = None;
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "from" => from = Some(service::prompts::parse_ref("from", &v)?),
            "to" => to = Some(service::prompts::parse_ref("to", &v)?),
            _ => {}
        }
    }
    let from = from.ok_or_else(|| {
        Problem::from(service::Error::invalid_field(
            "from",
            "is required: a version number or a label name",
        ))
    })?;
    Ok((from, to.unwrap_or_else(service::prompts::latest)))
}

/// A label as the response body, with the version it points at as the ETag (what
/// `If-Match` on a later move compares against).
fn label_response(label: &Label) -> Response<Body> {
    let mut resp = json(StatusCode::OK, label);
    if let Ok(h) = HeaderValue::from_str(&format!("\"{}\"", label.version)) {
        resp.headers_mut().insert(header::ETAG, h);
    }
    resp
}

/// `{"version": N}`, N a positive integer.
fn label_body(body: &str) -> Result<u64, Problem> {
    let invalid = |m: &str| Problem::from(service::Error::invalid_field("version", m));
    let v: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| Problem::bad_request("invalid-json", format!("the body is not JSON: {e}")))?;
    match v.get("version") {
        None | Some(serde_json::Value::Null) => Err(invalid("is required")),
        Some(n) => match n.as_u64() {
            Some(n) if n >= 1 => Ok(n),
            _ => Err(invalid("must be a positive integer")),
        },
    }
}

/// `?cursor=&limit=` of a history page (limit 1..=100, default 20).
fn page_params(query: Option<&str>) -> Result<(Option<String>, u32), Problem> {
    let mut cursor = None;
    let mut limit = DEFAULT_LIMIT;
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "cursor" if !v.is_empty() => cursor = Some(v),
            "limit" => {
                limit = match v.parse::<u32>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                    _ => {
                        return Err(Problem::bad_request(
                            "invalid-parameter",
                            format!("limit must be an integer from 1 to {MAX_LIMIT}, got {v:?}"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok((cursor, limit))
}

fn list_query(query: Option<&str>) -> Result<ListQuery, Problem> {
    let mut q = ListQuery {
        limit: DEFAULT_LIMIT,
        ..ListQuery::default()
    };
    let nonempty = |v: String| (!v.trim().is_empty()).then_some(v);
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "category" => q.category = nonempty(v),
            "tags" | "tag" => q.tags.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
            ),
            "q" | "search" => q.text = nonempty(v),
            "accessLevel" => q.access_level = nonempty(v),
            "label" => q.label = nonempty(v),
            "cursor" => q.cursor = nonempty(v),
            "limit" => {
                q.limit = match v.parse::<u32>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                    _ => {
                        return Err(Problem::bad_request(
                            "invalid-parameter",
                            format!("limit must be an integer from 1 to {MAX_LIMIT}, got {v:?}"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for v in values {
            h.append(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn if_none_match_uses_weak_comparison_over_lists() {
        let tag = version_etag(3);
        assert!(none_match(&headers(&["\"3\""]), &tag));
        assert!(none_match(&headers(&["W/\"3\""]), &tag));
        assert!(none_match(&headers(&["\"1\", \"3\""]), &tag));
        assert!(none_match(&headers(&["\"1\"", "\"3\""]), &tag));
        assert!(none_match(&headers(&["*"]), &tag));
        assert!(!none_match(&headers(&["\"33\""]), &tag));
        assert!(!none_match(&headers(&["3"]), &tag));
        assert!(!none_match(&headers(&[]), &tag));
    }
}
