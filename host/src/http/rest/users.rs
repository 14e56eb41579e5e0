//! `GET /users/me` and `PUT /users/me`: the caller's principal merged with the profile
//! stored in the users namespace (`[users] namespace`; the `mcp-users` table on AWS).
//! `GET`/`PUT`/`DELETE /users/{sub}/tier`: an administrator's view of another user's
//! stored tier (`[users] admin_scopes`).
//! HTTP decoding and encoding only; the profile rules are `service/users.rs`.

use super::decode::{if_match, query_pairs, read_json};
use crate::auth::Principal;
use crate::http::problem::{Problem, json};
use crate::http::{Body, method_not_allowed};
use crate::service::users;
use crate::storage::KvStore;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::{Map, Value};

/// Largest `PUT /users/me` body.
const MAX_PROFILE_BODY: usize = 16 * 1024;

pub async fn serve<B>(
    kv: &dyn KvStore,
    namespace: &str,
    principal: &Principal,
    req: Request<B>,
    max_body: usize,
) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let result = match *req.method() {
        Method::GET | Method::HEAD => users::load(kv, namespace, principal)
            .await
            .map_err(Problem::from)
            .map(|(profile, version)| respond(principal, &profile, version)),
        Method::PUT => put(kv, namespace, principal, req, max_body).await,
        _ => return method_not_allowed("GET, HEAD, PUT"),
    };
    result.unwrap_or_else(Problem::into_response)
}

async fn put<B>(
    kv: &dyn KvStore,
    ns: &str,
    p: &Principal,
    req: Request<B>,
    max_body: usize,
) -> Result<Response<Body>, Problem>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let expected = if_match(&req)?;
    let text = read_json(req, max_body.min(MAX_PROFILE_BODY)).await?;
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| Problem::bad_request("invalid-json", format!("body is not JSON: {e}")))?;
    let Value::Object(body) = body else {
        return Err(Problem::bad_request(
            "invalid-json",
            "body must be a JSON object",
        ));
    };
    let (profile, version) = users::update(kv, ns, p, body, expected).await?;
    Ok(respond(p, &profile, version))
}

/// The principal and profile as JSON, with the profile version as the ETag.
fn respond(p: &Principal, profile: &Map<String, Value>, version: u64) -> Response<Body> {
    let view = users::principal_view(p, profile, version);
    let mut resp = json(StatusCode::OK, &Value::Object(view));
    if version > 0
        && let Ok(v) = HeaderValue::from_str(&format!("\"{version}\""))
    {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// `/users/{sub}/tier` (`?tenant=T`, default: the administrator's own tenant).
///
/// - `GET`: `{"subject", "tenant", "tier", "updatedAt"}` (`tier` null when none is stored);
/// - `PUT` `{"tier": "premium"}` sets it, `{"tier": null}` clears it;
/// - `DELETE` clears it (204).
pub struct TierRequest<'a> {
    pub kv: &'a dyn KvStore,
    pub namespace: &'a str,
    pub admin: &'a Principal,
    pub admin_scopes: &'a [String],
    /// The path segment naming the user, still percent-encoded.
    pub subject: &'a str,
    pub max_body: usize,
}

pub async fn serve_tier<B>(t: TierRequest<'_>, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tier(t, req).await.unwrap_or_else(Problem::into_response)
}

async fn tier<B>(t: TierRequest<'_>, req: Request<B>) -> Result<Response<Body>, Problem>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if !matches!(*req.method(), Method::GET | Method::PUT | Method::DELETE) {
        return Ok(method_not_allowed("GET, PUT, DELETE"));
    }
    users::require_admin(t.admin, t.admin_scopes)?;
    let subject = percent_encoding::percent_decode_str(t.subject)
        .decode_utf8()
        .map_err(|_| Problem::bad_request("invalid-subject", "the subject is not valid UTF-8"))?
        .into_owned();
    let mut tenant = t.admin.tenant.clone();
    for (k, v) in query_pairs(req.uri().query()) {
        if k == "tenant" {
            if !crate::config::is_valid_name(&v) {
                return Err(Problem::bad_request(
                    "invalid-parameter",
                    format!("tenant {v:?} is not a valid tenant id"),
                ));
            }
            tenant = v;
        }
    }
    let (profile, status) = match *req.method() {
        Method::GET => {
            let (p, _) = users::load_subject(t.kv, t.namespace, &tenant, &subject).await?;
            (p, StatusCode::OK)
        }
        Method::DELETE => {
            users::set_tier(t.kv, t.namespace, &tenant, &subject, None).await?;
            let mut resp = Response::new(Body::new(Bytes::new()));
            *resp.status_mut() = StatusCode::NO_CONTENT;
            return Ok(resp);
        }
        _ => {
            let text = read_json(req, t.max_body.min(MAX_PROFILE_BODY)).await?;
            let body: Value = serde_json::from_str(&text).map_err(|e| {
                Problem::bad_request("invalid-json", format!("body is not JSON: {e}"))
            })?;
            let tier = match body.as_object().map(|o| (o.get("tier"), o.len())) {
                Some((Some(Value::String(s)), 1)) => Some(s.as_str()),
                Some((Some(Value::Null), 1)) => None,
                _ => {
                    return Err(Problem::from(crate::service::Error::invalid_field(
                        "tier",
                        "the body must be {\"tier\": \"NAME\"} or {\"tier\": null}",
                    )));
                }
            };
            let (p, _) = users::set_tier(t.kv, t.namespace, &tenant, &subject, tier).await?;
            (p, StatusCode::OK)
        }
    };
    Ok(json(status, &users::tier_view(&tenant, &subject, &profile)))
}
