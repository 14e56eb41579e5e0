//! CORS from the `[cors]` allow-list (docs/configuration.md, docs/api.md).
//!
//! - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered
//!   here, before route lookup and authentication (it carries no token): 204 with the
//!   `Access-Control-Allow-*` headers for an allowed origin, a 403 problem without any CORS
//!   header otherwise (also when CORS is off).
//! - Any other request from an allowed origin gets `Access-Control-Allow-Origin` (the exact
//!   origin), `Vary: Origin`, `Access-Control-Expose-Headers` and, when configured,
//!   `Access-Control-Allow-Credentials`. Requests from other origins are served unchanged.
//!
//! The settings come from the current snapshot, so a reload changes them; while the server
//! is still starting (no snapshot yet) no origin is allowed.

use super::Body;
use crate::app::App;
use crate::config::CorsConfig;
use crate::http::Problem;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};

/// The request's `Origin` when it is on the allow-list (compared exactly, ASCII case
/// aside), else `None`.
pub fn allowed_origin<B>(app: &App, req: &Request<B>) -> Option<HeaderValue> {
    let origin = req.headers().get(header::ORIGIN)?;
    let snapshot = app.snapshot()?;
    let cors = &snapshot.config.config.cors;
    let o = origin.to_str().ok()?;
    cors.allowed_origins
        .iter()
        .any(|a| a.eq_ignore_ascii_case(o))
        .then(|| origin.clone())
}

/// Answers a CORS preflight; `None` when the request is not one.
pub fn preflight<B>(app: &App, req: &Request<B>) -> Option<Response<Body>> {
    if req.method() != Method::OPTIONS
        || !req.headers().contains_key(header::ORIGIN)
        || !req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return None;
    }
    let snapshot = app.snapshot();
    let (Some(origin), Some(snapshot)) = (allowed_origin(app, req), snapshot) else {
        return Some(
            Problem::new(
                StatusCode::FORBIDDEN,
                "cors-origin-not-allowed",
                "Forbidden",
                "this origin is not allowed to make cross-origin requests",
            )
            .into_response(),
        );
    };
    let cors = &snapshot.config.config.cors;
    let mut resp = Response::new(Body::default());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    put_list(
        h,
        header::ACCESS_CONTROL_ALLOW_METHODS,
        &cors.allowed_methods,
    );
    put_list(
        h,
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        &cors.allowed_headers,
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(cors.max_age.as_secs()),
    );
    credentials(h, cors);
    Some(resp)
}

/// Adds the CORS headers of an actual (non-preflight) response for an allowed origin.
/// Leaves responses that already carry them (preflight answers) alone.
pub fn decorate(app: &App, origin: Option<HeaderValue>, resp: &mut Response<Body>) {
    let Some(origin) = origin else { return };
    if resp
        .headers()
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    {
        return;
    }
    let Some(snapshot) = app.snapshot() else {
        return;
    };
    let cors = &snapshot.config.config.cors;
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    put_list(
        h,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        &cors.expose_headers,
    );
    credentials(h, cors);
}

fn credentials(h: &mut http::HeaderMap, cors: &CorsConfig) {
    if cors.allow_credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

fn put_list(h: &mut http::HeaderMap, name: header::HeaderName, list: &[String]) {
    if list.is_empty() {
        return;
    }
    // Validation keeps these to token characters, so this cannot fail in practice.
    if let Ok(v) = HeaderValue::from_str(&list.join(", ")) {
        h.insert(name, v);
    }
}
