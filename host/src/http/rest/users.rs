//! `GET /users/me` and `PUT /users/me`: the caller's principal merged with the profile
//! stored in the users namespace (`[users] namespace`; the `mcp-users` table on AWS).
//! HTTP decoding and encoding only; the profile rules are `service/users.rs`.

use super::decode::{if_match, read_json};
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
