//! Binding to the WIT world `policy`.

use crate::evaluate::{Principal, Verdict, evaluate};
use crate::ratelimit::{Counters, StoreError};
use crate::rules::Caller;
use crate::settings::{self, RateLimits};

wit_bindgen::generate!({
    path: "../../wit",
    world: "policy",
});

use exports::mcp_prompts::plugin::access_policy as wit;
use mcp_prompts::plugin::{config, kv, log};

/// Rate-limit counters in a kv namespace (tenant-scoped by the host).
struct Kv<'a> {
    namespace: &'a str,
}

fn store_error(e: kv::KvError) -> StoreError {
    match e {
        kv::KvError::Conflict(_) => StoreError::Conflict,
        kv::KvError::Denied(m) => StoreError::Other(format!("denied: {m}")),
        kv::KvError::Invalid(m) => StoreError::Other(format!("invalid: {m}")),
        kv::KvError::Unavailable(m) => StoreError::Other(format!("unavailable: {m}")),
    }
}

impl Counters for Kv<'_> {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
        kv::get(self.namespace, key)
            .map(|e| e.map(|e| (e.value, e.version)))
            .map_err(store_error)
    }

    fn put(&self, key: &str, value: Vec<u8>, version: Option<u64>) -> Result<(), StoreError> {
        let precondition = match version {
            None => kv::Precondition::Absent,
            Some(v) => kv::Precondition::Version(v),
        };
        kv::put(self.namespace, key, &value, precondition)
            .map(|_| ())
            .map_err(store_error)
    }
}

/// Wall-clock milliseconds (WASI `wall-clock`); a clock before 1970 is a host bug.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn headers(list: Vec<(String, String)>) -> Vec<wit::Header> {
    list.into_iter()
        .map(|(name, value)| wit::Header { name, value })
        .collect()
}

struct Component;

impl wit::Guest for Component {
    fn decide(request: wit::RequestInfo) -> wit::Decision {
        // Read per call: instances are per request and lookups are cheap host calls.
        let (settings, warnings) = settings::load(config::get);
        for warning in &warnings {
            log::log(log::Level::Warn, warning);
        }
        let principal = request.principal.as_ref().map(|p| Principal {
            subject: &p.subject,
            tenant: &p.tenant,
            tier: &p.tier,
            caller: Caller {
                scopes: &p.scopes,
                groups: &p.groups,
            },
        });
        let namespace = match &settings.rate_limits {
            RateLimits::On(l) => l.namespace.as_str(),
            _ => "",
        };
        let verdict = evaluate(
            &settings,
            principal,
            &request.action,
            &Kv { namespace },
            now_ms(),
            &mut |w| log::log(log::Level::Warn, &w),
        );
        match verdict {
            Verdict::Allow(h) if h.is_empty() => wit::Decision::Allow,
            Verdict::Allow(h) => wit::Decision::AllowWith(headers(h)),
            Verdict::Deny {
                status,
                reason,
                headers: h,
                scopes,
            } => wit::Decision::Deny(wit::Denial {
                status,
                reason,
                headers: headers(h),
                required_scopes: scopes,
            }),
        }
    }
}

export!(Component);
