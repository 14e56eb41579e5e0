//! The billing endpoints (docs/api.md#subscriptions, docs/billing.md):
//!
//! - `POST /v1/webhooks/stripe`: no bearer auth; the `Stripe-Signature` is verified over
//!   the raw body before anything parses it. `200` once the event is processed and
//!   recorded (also for duplicates and events we ignore), `400` for a bad signature or a
//!   body that is not an event, `503` when storage fails, so that Stripe retries.
//! - `GET /v1/subscription`: the caller's tier, where it comes from, and the subscription.
//! - `GET /v1/subscription/plans`: the configured plans (public).

// Errors here are complete responses, built only on the (rare) error path.
#![allow(clippy::result_large_err)]

use crate::app::{App, Snapshot};
use crate::billing::signature::{self, SignatureError};
use crate::billing::{Billing, ProcessError, now_secs};
use crate::config::{AuthMode, SUBSCRIPTION_PATH, WEBHOOK_PATH};
use crate::http::problem::{Problem, json};
use crate::http::router::Handled;
use crate::http::{Body, method_not_allowed};
use crate::service::{self, AuthRules};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};
use std::sync::Arc;

pub const PLANS_PATH: &str = "/v1/subscription/plans";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Webhook,
    Subscription,
    Plans,
}

impl Endpoint {
    pub fn of(path: &str) -> Option<Self> {
        match path.trim_end_matches('/') {
            WEBHOOK_PATH => Some(Self::Webhook),
            SUBSCRIPTION_PATH => Some(Self::Subscription),
            PLANS_PATH => Some(Self::Plans),
            _ => None,
        }
    }

    /// The `route` of the access log and of the HTTP metrics.
    pub fn route(self) -> &'static str {
        match self {
            Self::Webhook => WEBHOOK_PATH,
            Self::Subscription => SUBSCRIPTION_PATH,
            Self::Plans => PLANS_PATH,
        }
    }
}

/// Serves a billing endpoint, with what the router logs about it.
pub async fn serve<B>(
    app: &Arc<App>,
    snapshot: &Arc<Snapshot>,
    billing: &Billing,
    endpoint: Endpoint,
    req: Request<B>,
) -> Handled
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (response, subject) = match endpoint {
        Endpoint::Webhook => {
            let max = snapshot.config.config.server.max_body_size.0 as usize;
            (webhook(app, billing, req, max).await, None)
        }
        Endpoint::Plans => (plans(billing, &req), None),
        Endpoint::Subscription => subscription(app, snapshot, billing, req).await,
    };
    Handled {
        response,
        route: Some(endpoint.route().to_string()),
        subject,
        plugin: None,
    }
}

async fn webhook<B>(app: &App, billing: &Billing, req: Request<B>, max: usize) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if req.method() != Method::POST {
        return method_not_allowed("POST");
    }
    let sig = req
        .headers()
        .get("stripe-signature")
        .map(|v| v.to_str().map(str::to_owned));
    // The signature covers exactly these bytes: the raw body, never a re-serialisation.
    let body = match crate::http::body::read_limited(req, max).await {
        Ok(b) => b,
        Err(p) => return p.into_response(),
    };
    let now = now_secs();
    let tolerance = billing.config.stripe.tolerance.as_secs() as i64;
    let checked = match sig {
        Some(Err(_)) => Err(SignatureError::Malformed),
        Some(Ok(h)) => {
            signature::verify(Some(&h), &body, &billing.accepted_secrets(), tolerance, now)
        }
        None => signature::verify(None, &body, &[], tolerance, now),
    };
    if let Err(e) = checked {
        app.metrics.billing_signature_failure(e.reason());
        // The reason only: never the header, the body or a secret.
        tracing::warn!(target: "billing", reason = e.reason(), "stripe webhook refused: {e}");
        return Problem::bad_request("invalid-signature", e.to_string()).into_response();
    }
    let event = match Billing::parse(&body) {
        Ok(ev) => ev,
        Err(e) => {
            app.metrics.billing_event("unknown", "invalid");
            return Problem::bad_request("invalid-event", e.to_string()).into_response();
        }
    };
    let kind = crate::billing::events::Kind::of(&event.kind);
    let kv = app.storage.kv.clone();
    match billing.process(kv.as_ref(), &event, now).await {
        Ok(outcome) => {
            app.metrics.billing_event(kind.label(), outcome.as_str());
            json(
                StatusCode::OK,
                &json!({"received": true, "outcome": outcome.as_str()}),
            )
        }
        Err(ProcessError::Invalid(m)) => {
            app.metrics.billing_event(kind.label(), "invalid");
            Problem::bad_request("invalid-event", m).into_response()
        }
        Err(ProcessError::Storage(e)) => {
            app.metrics
                .billing_event(kind.label(), "storage_unavailable");
            tracing::warn!(
                target: "billing",
                event_id = %event.id,
                error = %e,
                "stripe event not processed (storage); Stripe will retry"
            );
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "Service Unavailable",
                "storage is temporarily unavailable; the event was not processed",
            )
            .with_header(header::RETRY_AFTER, "1")
            .into_response()
        }
    }
}

fn plans<B>(billing: &Billing, req: &Request<B>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    let plans: Vec<Value> = billing
        .config
        .plans
        .iter()
        .map(|p| {
            json!({
                "id": p.id, "name": p.name, "description": p.description, "tier": p.tier,
                "priceId": p.price_id, "amount": p.amount, "currency": p.currency,
                "interval": p.interval,
            })
        })
        .collect();
    json(
        StatusCode::OK,
        &json!({"defaultTier": billing.config.default_tier, "plans": plans}),
    )
}

async fn subscription<B>(
    app: &App,
    snapshot: &Snapshot,
    billing: &Billing,
    req: Request<B>,
) -> (Response<Body>, Option<String>) {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (method_not_allowed("GET, HEAD"), None);
    }
    let rules = AuthRules {
        mode: AuthMode::Required,
        scopes: &[],
        tenant: None,
        audience: None,
    };
    let auth = req.headers().get(header::AUTHORIZATION);
    let principal = match service::caller::resolve(app, snapshot, rules, auth, "billing").await {
        Ok(service::Caller {
            principal: Some(p), ..
        }) => p,
        Ok(_) => {
            let e =
                service::Error::unauthorized("authentication required", service::Challenge::Bearer);
            return (Problem::from(e).into_response(), None);
        }
        Err(e) => return (Problem::from(e).into_response(), None),
    };
    let subject = Some(principal.subject.clone());
    let kv = app.storage.kv.clone();
    let users = &snapshot.config.config.users;
    let profile = match service::users::load(kv.as_ref(), &users.namespace, &principal)
        .await
        .map_err(Problem::from)
    {
        Ok((profile, _)) => profile,
        Err(p) => return (p.into_response(), subject),
    };
    let now = now_secs();
    let claim = principal.tier_from_claim.then_some(principal.tier.as_str());
    let r = billing.resolve(&profile, claim, now);
    let mut body = json!({
        "tier": r.tier,
        "source": r.source.as_str(),
        "plan": r.plan.as_ref().map(|p| p.id.clone()),
        "provider": Value::Null,
        "subscriptionId": Value::Null,
        "status": Value::Null,
        "active": false,
        "priceIds": [],
        "currentPeriodEnd": Value::Null,
        "cancelAtPeriodEnd": Value::Null,
    });
    if let Some((id, s)) = &r.subscription {
        body["provider"] = json!("stripe");
        body["subscriptionId"] = json!(id);
        body["status"] = json!(s.status);
        body["active"] = json!(billing.grants(s, now));
        body["priceIds"] = json!(s.price_ids);
        body["currentPeriodEnd"] = json!(s.current_period_end.and_then(rfc3339));
        body["cancelAtPeriodEnd"] = json!(s.cancel_at_period_end);
    }
    (json(StatusCode::OK, &body), subject)
}

fn rfc3339(secs: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}
