//! Who may see which prompt (`accessLevel`).
//!
//! Enforced here rather than in the policy plugin because only the store sees each
//! prompt's level and author, and because filtering a listing where it is read keeps its
//! pages full and its cursor stable. Tenancy is not a concern of this module: the host
//! scopes every kv key to the caller's tenant below the plugin.
//!
//! - `public`: everyone, anonymous callers included;
//! - `private`: only its author (the principal whose subject created it). For anyone
//!   else it does not exist: reads, writes and partial look-ups answer "not found", so
//!   its existence does not leak;
//! - `premium`: principals whose tier is one of the configured premium tiers, and its
//!   author. Others get `forbidden` ("requires a premium subscription"): premium
//!   prompts are advertised, just not served.

use crate::backend::Error;
use crate::model::{AccessLevel, FieldError, Prompt};

/// Tiers that may read premium prompts when the config does not say.
pub const DEFAULT_PREMIUM_TIERS: &[&str] = &["premium"];

/// The caller, as far as access levels are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer<'a> {
    /// The principal's subject; `None` for anonymous callers.
    pub subject: Option<&'a str>,
    /// Whether the principal's tier is a premium tier.
    pub premium: bool,
}

impl<'a> Viewer<'a> {
    /// An anonymous caller.
    pub const ANONYMOUS: Viewer<'static> = Viewer {
        subject: None,
        premium: false,
    };

    /// A principal with `subject` and `tier`, judged against `premium_tiers`. An empty
    /// subject is treated as no subject: it must never match a prompt without an author.
    pub fn new(subject: &'a str, tier: &str, premium_tiers: &[String]) -> Self {
        Viewer {
            subject: Some(subject).filter(|s| !s.is_empty()),
            premium: premium_tiers.iter().any(|t| t == tier),
        }
    }

    fn is_author_of(&self, p: &Prompt) -> bool {
        matches!((self.subject, p.author.as_deref()), (Some(me), Some(author)) if me == author)
    }
}

/// The subject that owns what a call writes and is matched against `author`: the
/// principal's, but only in its own tenant. On a route that serves a shared tenant (a
/// catalog of another tenant), a caller owns nothing: the stored author is a bare subject,
/// and the same subject in two tenants (or identity providers) need not be one person.
pub fn owner<'a>(subject: &'a str, principal_tenant: &str, call_tenant: &str) -> Option<&'a str> {
    (!subject.is_empty() && principal_tenant == call_tenant).then_some(subject)
}

/// What a viewer may do with a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Visible,
    /// Private to someone else: behave as if it did not exist.
    Hidden,
    /// Premium, and the viewer is not on a premium tier.
    PremiumOnly,
}

pub fn visibility(viewer: Viewer, p: &Prompt) -> Visibility {
    match p.access_level {
        AccessLevel::Public => Visibility::Visible,
        _ if viewer.is_author_of(p) => Visibility::Visible,
        AccessLevel::Private => Visibility::Hidden,
        AccessLevel::Premium if viewer.premium => Visibility::Visible,
        AccessLevel::Premium => Visibility::PremiumOnly,
    }
}

pub fn can_read(viewer: Viewer, p: &Prompt) -> bool {
    visibility(viewer, p) == Visibility::Visible
}

/// `Ok` if `viewer` may read (and so change) `p`; otherwise the error to answer with.
/// `not_found` builds the error a missing prompt would get, so a hidden one is
/// indistinguishable from it.
pub fn require(viewer: Viewer, p: &Prompt, not_found: impl FnOnce() -> Error) -> Result<(), Error> {
    match visibility(viewer, p) {
        Visibility::Visible => Ok(()),
        Visibility::Hidden => Err(not_found()),
        Visibility::PremiumOnly => Err(premium_required(&p.id)),
    }
}

pub fn premium_required(id: &str) -> Error {
    Error::Forbidden(format!("prompt '{id}' requires a premium subscription"))
}

/// A private prompt without an author could never be read by anyone, so one cannot be
/// written: an anonymous caller cannot create one, and a prompt created anonymously
/// cannot be made private later.
pub fn check_private_has_author(p: &Prompt) -> Option<FieldError> {
    (p.access_level == AccessLevel::Private && p.author.is_none()).then(|| {
        FieldError::new(
            "accessLevel",
            "\"private\" needs an author: only an authenticated caller can own a private prompt",
        )
    })
}

/// Parses the `premium_tiers` config value: a JSON array of strings (TOML array), or a
/// string of space/comma-separated names. `Err` carries a warning; the caller then uses
/// no premium tiers at all (the restrictive choice).
pub fn parse_premium_tiers(raw: Option<&str>) -> Result<Vec<String>, String> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_PREMIUM_TIERS
            .iter()
            .map(|s| (*s).to_owned())
            .collect());
    };
    let list: Vec<String> = match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| bad_tiers(raw))?,
        Ok(_) => return Err(bad_tiers(raw)),
        Err(_) => raw.split([' ', ',']).map(str::to_owned).collect(),
    };
    Ok(list
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

fn bad_tiers(raw: &str) -> String {
    format!(
        "prompt-store config `premium_tiers` must be an array of strings, got `{raw}`; no tier can read premium prompts"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn prompt(level: AccessLevel, author: Option<&str>) -> Prompt {
        Prompt {
            id: "p".into(),
            name: "P".into(),
            description: None,
            kind: crate::model::PromptType::Text,
            content: "c".into(),
            messages: None,
            config: None,
            is_template: false,
            category: None,
            tags: vec![],
            variables: vec![],
            version: 1,
            created_at: "t".into(),
            updated_at: "t".into(),
            access_level: level,
            author: author.map(str::to_owned),
            metadata: Map::new(),
            message: None,
            version_author: None,
        }
    }

    fn tiers() -> Vec<String> {
        vec!["premium".into(), "enterprise".into()]
    }

    #[test]
    fn levels_per_viewer() {
        use Visibility::*;
        let t = tiers();
        let alice = Viewer::new("alice", "free", &t);
        let bob = Viewer::new("bob", "free", &t);
        let carol = Viewer::new("carol", "enterprise", &t);
        let anon = Viewer::ANONYMOUS;
        let public = prompt(AccessLevel::Public, Some("alice"));
        let private = prompt(AccessLevel::Private, Some("alice"));
        let premium = prompt(AccessLevel::Premium, Some("alice"));
        for v in [alice, bob, carol, anon] {
            assert_eq!(visibility(v, &public), Visible);
        }
        assert_eq!(visibility(alice, &private), Visible);
        assert_eq!(visibility(bob, &private), Hidden);
        // Premium does not open someone else's private prompts.
        assert_eq!(visibility(carol, &private), Hidden);
        assert_eq!(visibility(anon, &private), Hidden);
        assert_eq!(visibility(alice, &premium), Visible);
        assert_eq!(visibility(bob, &premium), PremiumOnly);
        assert_eq!(visibility(carol, &premium), Visible);
        assert_eq!(visibility(anon, &premium), PremiumOnly);
    }

    #[test]
    fn prompts_without_author_match_no_subject() {
        let t = tiers();
        let orphan = prompt(AccessLevel::Private, None);
        assert_eq!(
            visibility(Viewer::new("", "premium", &t), &orphan),
            Visibility::Hidden
        );
        assert_eq!(visibility(Viewer::ANONYMOUS, &orphan), Visibility::Hidden);
        // An empty subject is no subject, even against an empty author.
        let odd = prompt(AccessLevel::Private, Some(""));
        assert_eq!(
            visibility(Viewer::new("", "free", &t), &odd),
            Visibility::Hidden
        );
    }

    #[test]
    fn require_maps_to_errors() {
        let t = tiers();
        let bob = Viewer::new("bob", "free", &t);
        let nf = || Error::NotFound("prompt 'p' not found".into());
        assert_eq!(
            require(bob, &prompt(AccessLevel::Private, Some("alice")), nf),
            Err(nf())
        );
        assert_eq!(
            require(bob, &prompt(AccessLevel::Premium, Some("alice")), nf),
            Err(Error::Forbidden(
                "prompt 'p' requires a premium subscription".into()
            ))
        );
        assert_eq!(require(bob, &prompt(AccessLevel::Public, None), nf), Ok(()));
    }

    #[test]
    fn callers_own_nothing_outside_their_tenant() {
        assert_eq!(owner("alice", "acme", "acme"), Some("alice"));
        assert_eq!(owner("alice", "acme", "catalog"), None);
        assert_eq!(owner("", "acme", "acme"), None);
    }

    #[test]
    fn private_needs_an_author() {
        assert!(check_private_has_author(&prompt(AccessLevel::Private, None)).is_some());
        assert!(check_private_has_author(&prompt(AccessLevel::Private, Some("a"))).is_none());
        assert!(check_private_has_author(&prompt(AccessLevel::Premium, None)).is_none());
    }

    #[test]
    fn premium_tiers_config() {
        assert_eq!(parse_premium_tiers(None), Ok(vec!["premium".to_owned()]));
        assert_eq!(
            parse_premium_tiers(Some(r#"["gold", " platinum "]"#)),
            Ok(vec!["gold".to_owned(), "platinum".to_owned()])
        );
        assert_eq!(
            parse_premium_tiers(Some("gold, platinum")),
            Ok(vec!["gold".to_owned(), "platinum".to_owned()])
        );
        assert_eq!(parse_premium_tiers(Some("[]")), Ok(vec![]));
        assert!(parse_premium_tiers(Some("[1]")).is_err());
        assert!(parse_premium_tiers(Some("{\"a\": 1}")).is_err());
        assert!(parse_premium_tiers(Some("true")).is_err());
    }
}
