//! Access decisions as plain values: build one with [`allow`], [`allow_with`], [`deny`]
//! or [`deny_with_scopes`], and turn it into the generated WIT `decision` with
//! [`impl_policy_decision!`](crate::impl_policy_decision) (the exported types live in
//! the plugin crate, so the conversion is written there by the macro).

/// One response header a policy adds (WIT `access-policy.header`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl<N: Into<String>, V: Into<String>> From<(N, V)> for Header {
    fn from((name, value): (N, V)) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Mirrors WIT `access-policy.decision`; `Allow` with no headers is the plain `allow`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow(Vec<Header>),
    Deny {
        /// 401, 403 or 429 (the host treats other values as 403).
        status: u16,
        reason: String,
        headers: Vec<Header>,
        /// For a missing-scope 403: the scopes that would allow the request.
        scopes: Vec<String>,
    },
}

/// Let the request through.
pub fn allow() -> Verdict {
    Verdict::Allow(Vec::new())
}

/// Let the request through and add these headers to its response.
pub fn allow_with<H: Into<Header>>(headers: impl IntoIterator<Item = H>) -> Verdict {
    Verdict::Allow(headers.into_iter().map(Into::into).collect())
}

/// Refuse the request with `status` (401, 403 or 429) and a reason the client sees.
pub fn deny(status: u16, reason: impl Into<String>) -> Verdict {
    Verdict::Deny {
        status,
        reason: reason.into(),
        headers: Vec::new(),
        scopes: Vec::new(),
    }
}

/// Refuse because a scope is missing: the host answers with an RFC 6750
/// `insufficient_scope` challenge naming `scopes`.
pub fn deny_with_scopes<S: Into<String>>(
    status: u16,
    reason: impl Into<String>,
    scopes: impl IntoIterator<Item = S>,
) -> Verdict {
    Verdict::Deny {
        status,
        reason: reason.into(),
        headers: Vec::new(),
        scopes: scopes.into_iter().map(Into::into).collect(),
    }
}

impl Verdict {
    /// Adds headers to either kind of verdict (e.g. rate-limit headers on a 429).
    pub fn with_headers<H: Into<Header>>(mut self, more: impl IntoIterator<Item = H>) -> Self {
        let list = match &mut self {
            Verdict::Allow(h) | Verdict::Deny { headers: h, .. } => h,
        };
        list.extend(more.into_iter().map(Into::into));
        self
    }

    pub fn headers(&self) -> &[Header] {
        match self {
            Verdict::Allow(h) | Verdict::Deny { headers: h, .. } => h,
        }
    }

    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allow(_))
    }
}

/// Writes `impl From<Verdict> for <module>::Decision` for the `access-policy` bindings
/// that the plugin's own `wit_bindgen::generate!` produced, e.g.
/// `impl_policy_decision!(exports::mcp_prompts::plugin::access_policy);`, so that
/// `decide` can end in `verdict.into()`.
#[macro_export]
macro_rules! impl_policy_decision {
    ($($wit:ident)::+) => {
        impl ::core::convert::From<$crate::policy::Verdict> for $($wit)::+::Decision {
            fn from(v: $crate::policy::Verdict) -> Self {
                fn headers(list: ::std::vec::Vec<$crate::policy::Header>) -> ::std::vec::Vec<$($wit)::+::Header> {
                    list.into_iter()
                        .map(|h| $($wit)::+::Header { name: h.name, value: h.value })
                        .collect()
                }
                match v {
                    $crate::policy::Verdict::Allow(h) if h.is_empty() => Self::Allow,
                    $crate::policy::Verdict::Allow(h) => Self::AllowWith(headers(h)),
                    $crate::policy::Verdict::Deny { status, reason, headers: h, scopes } => {
                        Self::Deny($($wit)::+::Denial {
                            status,
                            reason,
                            headers: headers(h),
                            required_scopes: scopes,
                        })
                    }
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders() {
        assert_eq!(allow(), Verdict::Allow(vec![]));
        assert_eq!(
            allow_with([("X-A", "1")]).headers(),
            [Header::from(("X-A", "1"))]
        );
        let d = deny_with_scopes(403, "needs w", ["w"]).with_headers([("X-B", "2")]);
        assert_eq!(
            d,
            Verdict::Deny {
                status: 403,
                reason: "needs w".into(),
                headers: vec![("X-B", "2").into()],
                scopes: vec!["w".into()],
            }
        );
        assert!(!d.is_allowed() && allow().is_allowed());
    }
}
