//! The access decision, as a pure function of settings, caller and action.

use crate::settings::{Settings, WriteScopes};

/// What the policy knows about an authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub scopes: &'a [String],
    pub groups: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// `scopes`: for a missing scope, the scopes that would allow the request (the host
    /// turns them into an `insufficient_scope` challenge).
    Deny {
        status: u16,
        reason: String,
        scopes: Vec<String>,
    },
}

fn deny(status: u16, reason: impl Into<String>) -> Decision {
    Decision::Deny {
        status,
        reason: reason.into(),
        scopes: Vec::new(),
    }
}

fn unauthenticated() -> Decision {
    deny(401, "authentication required")
}

/// Decides `action` for `caller` (`None`: anonymous).
pub fn decide(settings: &Settings, caller: Option<Caller>, action: &str) -> Decision {
    match action {
        "read" | "list" | "render" => {
            if caller.is_none() && !settings.anonymous_read {
                unauthenticated()
            } else {
                Decision::Allow
            }
        }
        "create" | "update" | "delete" => decide_write(settings, caller),
        // The host and the policy disagree on the vocabulary: refuse rather than guess.
        other => deny(403, format!("unknown action '{other}'")),
    }
}

fn decide_write(settings: &Settings, caller: Option<Caller>) -> Decision {
    let Some(caller) = caller else {
        // An anonymous caller has no scopes either, so any scope requirement also means
        // "log in first" (401, not 403).
        return match (&settings.write_scopes, settings.write_requires_auth) {
            (WriteScopes::Any, false) => Decision::Allow,
            _ => unauthenticated(),
        };
    };
    match &settings.write_scopes {
        WriteScopes::Any => Decision::Allow,
        WriteScopes::Misconfigured => deny(
            403,
            "writes are disabled: the access policy is misconfigured",
        ),
        WriteScopes::OneOf(needed) => {
            let granted = needed
                .iter()
                .any(|s| caller.scopes.contains(s) || caller.groups.contains(s));
            if granted {
                Decision::Allow
            } else {
                Decision::Deny {
                    status: 403,
                    reason: format!("missing scope: {}", needed.join(" or ")),
                    scopes: needed.clone(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn settings(anonymous_read: bool, write_requires_auth: bool, scopes: &[&str]) -> Settings {
        Settings {
            anonymous_read,
            write_requires_auth,
            write_scopes: if scopes.is_empty() {
                WriteScopes::Any
            } else {
                WriteScopes::OneOf(strings(scopes))
            },
            rate_limits: crate::settings::RateLimits::Off,
        }
    }

    const READS: [&str; 3] = ["read", "list", "render"];
    const WRITES: [&str; 3] = ["create", "update", "delete"];

    #[test]
    fn defaults_allow_anonymous_reads_and_authenticated_writes() {
        let s = Settings::default();
        let (scopes, groups) = (vec![], vec![]);
        let user = Caller {
            scopes: &scopes,
            groups: &groups,
        };
        for action in READS {
            assert_eq!(decide(&s, None, action), Decision::Allow, "{action}");
            assert_eq!(decide(&s, Some(user), action), Decision::Allow, "{action}");
        }
        for action in WRITES {
            assert_eq!(
                decide(&s, None, action),
                deny(401, "authentication required"),
                "{action}"
            );
            assert_eq!(decide(&s, Some(user), action), Decision::Allow, "{action}");
        }
    }

    #[test]
    fn anonymous_reads_can_be_disabled() {
        let s = settings(false, true, &[]);
        for action in READS {
            assert_eq!(
                decide(&s, None, action),
                deny(401, "authentication required")
            );
        }
    }

    #[test]
    fn anonymous_writes_when_allowed() {
        assert_eq!(
            decide(&settings(true, false, &[]), None, "create"),
            Decision::Allow
        );
        // Still 401 when scopes are required: logging in is the fix.
        assert_eq!(
            decide(&settings(true, false, &["w"]), None, "create"),
            deny(401, "authentication required")
        );
    }

    #[test]
    fn write_scopes_accept_scopes_or_groups() {
        let s = settings(true, true, &["prompts:write", "editors"]);
        let (none, scoped, grouped) = (
            strings(&["other"]),
            strings(&["prompts:write"]),
            strings(&["editors"]),
        );
        let empty = vec![];
        assert_eq!(
            decide(
                &s,
                Some(Caller {
                    scopes: &none,
                    groups: &none
                }),
                "update"
            ),
            Decision::Deny {
                status: 403,
                reason: "missing scope: prompts:write or editors".into(),
                scopes: strings(&["prompts:write", "editors"]),
            }
        );
        assert_eq!(
            decide(
                &s,
                Some(Caller {
                    scopes: &scoped,
                    groups: &empty
                }),
                "update"
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(
                &s,
                Some(Caller {
                    scopes: &empty,
                    groups: &grouped
                }),
                "delete"
            ),
            Decision::Allow
        );
        // Reads never need write scopes.
        assert_eq!(
            decide(
                &s,
                Some(Caller {
                    scopes: &none,
                    groups: &none
                }),
                "read"
            ),
            Decision::Allow
        );
    }

    #[test]
    fn misconfiguration_and_unknown_actions_fail_closed() {
        let s = Settings {
            write_scopes: WriteScopes::Misconfigured,
            ..Settings::default()
        };
        let empty = vec![];
        let user = Caller {
            scopes: &empty,
            groups: &empty,
        };
        assert!(matches!(
            decide(&s, Some(user), "create"),
            Decision::Deny { status: 403, .. }
        ));
        assert_eq!(decide(&s, Some(user), "read"), Decision::Allow);
        assert_eq!(
            decide(&Settings::default(), Some(user), "admin"),
            deny(403, "unknown action 'admin'")
        );
    }
}
