//! The caller's stored profile: what `/users/me` shows and edits, and the tier the host
//! applies to tokens without a tier claim.
//!
//! Kept by the host rather than a plugin: the profile is keyed by the verified subject
//! and holds the tier the host itself trusts, so it belongs to the trust boundary, not to
//! replaceable prompt logic. Stored value (JSON): `displayName`, `email`, `preferences`
//! (set by the user), `tier` (set by an operator or billing, never by the user),
//! `createdAt`, `updatedAt`.

use super::error::{Error, ErrorKind, FieldError};
use crate::app::{App, Snapshot};
use crate::auth::{Principal, TierCache};
/// The operator-set tier of a profile; billing owns the rule since it ranks it first.
pub use crate::billing::stored_tier;
use crate::storage::{KvStore, Precondition, Scope, StorageError, WriteOp};
use serde_json::{Map, Value, json};

const MAX_DISPLAY_NAME_CHARS: usize = 100;
const MAX_EMAIL_BYTES: usize = 254;
const MAX_PREFERENCES_BYTES: usize = 8 * 1024;
/// Fields the user may set.
const SETTABLE: [&str; 3] = ["displayName", "email", "preferences"];
/// Fields `GET` returns that a `PUT` may echo back unchanged, but not change.
const READ_ONLY: [&str; 8] = [
    "subject",
    "issuer",
    "tenant",
    "tier",
    "scopes",
    "groups",
    "createdAt",
    "updatedAt",
];

/// The kv key of a subject's profile: the subject itself, when storable.
fn profile_key(subject: &str) -> Result<String, Error> {
    crate::storage::check_key(subject)
        .map(|_| subject.to_string())
        .map_err(|e| {
            Error::invalid(
                "invalid-subject",
                format!("cannot store a profile for this subject: {e}"),
            )
        })
}

pub fn scope(namespace: &str, tenant: &str) -> Scope {
    Scope {
        space: namespace.to_string(),
        tenant: tenant.to_string(),
    }
}

/// The stored profile (or none) and its version (0 when absent).
pub async fn load(
    kv: &dyn KvStore,
    namespace: &str,
    principal: &Principal,
) -> Result<(Map<String, Value>, u64), Error> {
    let key = profile_key(&principal.subject)?;
    match kv.get(&scope(namespace, &principal.tenant), &key).await {
        // An unreadable profile is an error, never an empty one: a PUT that started from
        // "empty" would overwrite the operator-set tier.
        Ok(Some(e)) => match serde_json::from_slice::<Value>(&e.value) {
            Ok(Value::Object(m)) => Ok((m, e.version)),
            _ => Err(Error::internal(
                "-",
                &format!(
                    "stored profile of tenant {:?} in namespace {namespace:?} is not a JSON object",
                    principal.tenant
                ),
            )),
        },
        Ok(None) => Ok((Map::new(), 0)),
        Err(e) => Err(storage_problem(e)),
    }
}

/// Tokens without a tier claim get the tier of the caller's stored profile, if any. With `[billing]` the
/// profile (operator tier, then Stripe state) decides for every token, read on every
/// request so that a processed Stripe event decides the very next one. Without it the
/// stored tier is cached for at most `auth::TIER_TTL` (`App::tiers`); a profile written
/// through this host invalidates its entry at once.
pub async fn apply_profile_tier(
    app: &App,
    snapshot: &Snapshot,
    p: &mut Principal,
    _request_id: &str,
) -> Result<(), Error> {
    let users = &snapshot.config.config.users;
    let billing = snapshot.billing.as_deref();
    if (p.tier_from_claim && billing.is_none()) || !users.enabled || !users.tier_from_profile {
        return Ok(());
    }
    if let Some(b) = billing {
        let (profile, _) = load(app.storage.kv.as_ref(), &users.namespace, p).await?;
        let claim = p.tier_from_claim.then(|| p.tier.clone());
        p.tier = b
            .resolve(&profile, claim.as_deref(), crate::billing::now_secs())
            .tier;
        return Ok(());
    }
    let tier = match app.tiers.get(&users.namespace, &p.tenant, &p.subject) {
        Some(cached) => cached,
        None => {
            let (profile, _) = load(app.storage.kv.as_ref(), &users.namespace, p).await?;
            let tier = stored_tier(&profile);
            app.tiers
                .insert(&users.namespace, &p.tenant, &p.subject, tier.clone());
            tier
        }
    };
    if let Some(t) = tier {
        p.tier = t;
    }
    Ok(())
}

/// Replaces the user-settable fields of the caller's profile with `body`'s; `expected`
/// is the profile version the client last saw. Returns the stored profile and version.
pub async fn update(
    kv: &dyn KvStore,
    tiers: &TierCache,
    ns: &str,
    p: &Principal,
    body: Map<String, Value>,
    expected: Option<u64>,
) -> Result<(Map<String, Value>, u64), Error> {
    let (current, version) = load(kv, ns, p).await?;
    if let Some(want) = expected
        && want != version
    {
        return Err(Error::new(
            ErrorKind::PreconditionFailed,
            format!("the profile is at version {version}, not {want}"),
        ));
    }
    let shown = principal_view(p, &current, version);
    let mut errors = Vec::new();
    let mut next = Map::new();
    for (k, v) in &body {
        if SETTABLE.contains(&k.as_str()) {
            match check_field(k, v) {
                Ok(()) if !v.is_null() => {
                    next.insert(k.clone(), v.clone());
                }
                Ok(()) => {}
                Err(msg) => errors.push(FieldError {
                    field: k.clone(),
                    message: msg,
                }),
            }
        } else if READ_ONLY.contains(&k.as_str()) {
            if shown.get(k) != Some(v) {
                errors.push(FieldError {
                    field: k.clone(),
                    message: "is read-only".into(),
                });
            }
        } else {
            errors.push(FieldError {
                field: k.clone(),
                message: format!("unknown field; settable fields are {}", SETTABLE.join(", ")),
            });
        }
    }
    if !errors.is_empty() {
        let mut e = Error::invalid("invalid-profile", "the profile has invalid fields");
        e.fields = errors;
        return Err(e);
    }
    let now = now_rfc3339();
    // Operator-set, billing and history fields survive a user's PUT.
    for k in ["tier", "billing"] {
        if let Some(v) = current.get(k) {
            next.insert(k.into(), v.clone());
        }
    }
    let created = current
        .get("createdAt")
        .cloned()
        .unwrap_or_else(|| Value::String(now.clone()));
    next.insert("createdAt".into(), created);
    next.insert("updatedAt".into(), Value::String(now));
    let precondition = if version == 0 {
        Precondition::Absent
    } else {
        Precondition::Version(version)
    };
    let key = profile_key(&p.subject)?;
    let value = serde_json::to_vec(&next).map_err(|e| internal(e.to_string()))?;
    let versions = kv
        .transact(
            &scope(ns, &p.tenant),
            vec![WriteOp::Put {
                key,
                value,
                precondition,
            }],
        )
        .await
        .map_err(|e| match e {
            // Someone wrote between our read and write: the client's view is stale.
            StorageError::Conflict(_) => Error::new(
                ErrorKind::PreconditionFailed,
                "the profile changed concurrently; read it again and retry",
            ),
            e => storage_problem(e),
        })?;
    tiers.invalidate(ns, &p.tenant, &p.subject);
    let new_version = versions.first().copied().unwrap_or(version + 1);
    Ok((next, new_version))
}

/// Compare-and-set attempts when a profile changes between read and write.
const MAX_TIER_ATTEMPTS: usize = 16;

/// Whether `tier` is a storable tier name: 1-64 visible ASCII characters.
pub fn check_tier(tier: &str) -> Result<(), Error> {
    if tier.is_empty() || tier.len() > 64 || !tier.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid_field(
            "tier",
            "must be 1-64 visible ASCII characters, or null to clear it",
        ));
    }
    Ok(())
}

/// Refuses a caller that holds none of `[users] admin_scopes` (as a scope or a
/// `cognito:groups` group). An empty list refuses everyone: managing other users over
/// the API is off until an operator names the scope that grants it.
pub fn require_admin(p: &Principal, admin_scopes: &[String]) -> Result<(), Error> {
    if admin_scopes.is_empty() {
        return Err(Error::new(
            ErrorKind::Forbidden,
            "managing users over the API is disabled: the server has no [users] admin_scopes",
        ));
    }
    if admin_scopes
        .iter()
        .any(|s| p.scopes.contains(s) || p.groups.contains(s))
    {
        return Ok(());
    }
    let mut e = Error::new(
        ErrorKind::InsufficientScope,
        format!(
            "managing users needs the scope: {}",
            admin_scopes.join(" or ")
        ),
    );
    e.scopes = admin_scopes.to_vec();
    Err(e)
}

/// The stored profile of `subject` in `tenant` (empty when none) and its version.
pub async fn load_subject(
    kv: &dyn KvStore,
    ns: &str,
    tenant: &str,
    subject: &str,
) -> Result<(Map<String, Value>, u64), Error> {
    let key = profile_key(subject)?;
    match kv.get(&scope(ns, tenant), &key).await {
        Ok(Some(e)) => {
            let v: Value = serde_json::from_slice(&e.value).unwrap_or(Value::Null);
            Ok((v.as_object().cloned().unwrap_or_default(), e.version))
        }
        Ok(None) => Ok((Map::new(), 0)),
        Err(e) => Err(storage_problem(e)),
    }
}

/// Sets (`Some`) or clears (`None`) the tier stored in `subject`'s profile in `tenant`,
/// keeping every other field; the operator's and billing's lever, never the user's.
/// Retries when the profile changes between read and write, so a concurrent
/// `PUT /users/me` is neither lost nor overwritten. Forgets the subject's cached tier on
/// this host (`tiers`). Returns the stored profile and version.
pub async fn set_tier(
    kv: &dyn KvStore,
    tiers: &TierCache,
    ns: &str,
    tenant: &str,
    subject: &str,
    tier: Option<&str>,
) -> Result<(Map<String, Value>, u64), Error> {
    if let Some(t) = tier {
        check_tier(t)?;
    }
    let key = profile_key(subject)?;
    let sc = scope(ns, tenant);
    for _ in 0..MAX_TIER_ATTEMPTS {
        let (mut profile, version) = load_subject(kv, ns, tenant, subject).await?;
        if profile.get("tier").and_then(Value::as_str) == tier {
            return Ok((profile, version));
        }
        match tier {
            Some(t) => profile.insert("tier".into(), t.into()),
            None => profile.remove("tier"),
        };
        let now = now_rfc3339();
        profile
            .entry("createdAt")
            .or_insert_with(|| Value::String(now.clone()));
        profile.insert("updatedAt".into(), Value::String(now));
        let precondition = if version == 0 {
            Precondition::Absent
        } else {
            Precondition::Version(version)
        };
        let value = serde_json::to_vec(&profile).map_err(|e| internal(e.to_string()))?;
        let op = WriteOp::Put {
            key: key.clone(),
            value,
            precondition,
        };
        match kv.transact(&sc, vec![op]).await {
            Ok(v) => {
                tiers.invalidate(ns, tenant, subject);
                return Ok((profile, v.first().copied().unwrap_or(version + 1)));
            }
            Err(StorageError::Conflict(_)) => continue,
            Err(e) => return Err(storage_problem(e)),
        }
    }
    Err(Error::new(
        ErrorKind::Conflict,
        "the profile kept changing concurrently; try again",
    ))
}

/// What `/users/{sub}/tier` shows: whose profile, and the tier stored in it.
pub fn tier_view(tenant: &str, subject: &str, profile: &Map<String, Value>) -> Value {
    json!({
        "subject": subject,
        "tenant": tenant,
        "tier": stored_tier(profile),
        "updatedAt": profile.get("updatedAt").cloned().unwrap_or(Value::Null),
    })
}

fn check_field(k: &str, v: &Value) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    match k {
        "displayName" => match v.as_str() {
            Some(s) if !s.trim().is_empty() && s.chars().count() <= MAX_DISPLAY_NAME_CHARS => {
                if s.chars().any(char::is_control) {
                    Err("must not contain control characters".into())
                } else {
                    Ok(())
                }
            }
            Some(_) => Err(format!(
                "must be 1-{MAX_DISPLAY_NAME_CHARS} characters, not only spaces"
            )),
            None => Err("must be a string or null".into()),
        },
        "email" => match v.as_str() {
            Some(s) if s.len() <= MAX_EMAIL_BYTES && looks_like_email(s) => Ok(()),
            Some(_) => Err("must be an e-mail address (local@domain)".into()),
            None => Err("must be a string or null".into()),
        },
        "preferences" => match v {
            Value::Object(_) if v.to_string().len() <= MAX_PREFERENCES_BYTES => Ok(()),
            Value::Object(_) => Err(format!(
                "must be at most {MAX_PREFERENCES_BYTES} bytes of JSON"
            )),
            _ => Err("must be a JSON object or null".into()),
        },
        _ => Err("unknown field".into()),
    }
}

/// Syntactic sanity only; whether the address exists is not ours to know.
fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The JSON a client sees: principal fields, then the profile's.
pub fn principal_view(
    p: &Principal,
    profile: &Map<String, Value>,
    _version: u64,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("subject".into(), json!(p.subject));
    m.insert("issuer".into(), json!(p.issuer));
    m.insert("tenant".into(), json!(p.tenant));
    m.insert("tier".into(), json!(p.tier));
    m.insert("scopes".into(), json!(p.scopes));
    m.insert("groups".into(), json!(p.groups));
    for k in SETTABLE {
        m.insert(k.into(), profile.get(k).cloned().unwrap_or(Value::Null));
    }
    for k in ["createdAt", "updatedAt"] {
        m.insert(k.into(), profile.get(k).cloned().unwrap_or(Value::Null));
    }
    m
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn storage_problem(e: StorageError) -> Error {
    match e {
        StorageError::Unavailable(_) => {
            Error::new(ErrorKind::Unavailable, "storage is temporarily unavailable")
                .with_code("storage-unavailable")
        }
        StorageError::Conflict(_) => {
            Error::new(ErrorKind::Conflict, "the profile changed concurrently")
        }
        StorageError::Invalid(m) => internal(m),
    }
}

fn internal(msg: String) -> Error {
    let id = uuid::Uuid::new_v4().to_string();
    tracing::error!(error_id = %id, error = %msg, "users: storage call failed");
    let mut e = Error::new(ErrorKind::Internal, "the profile could not be stored");
    e.error_id = Some(id);
    e
}
