//! `[users]`: `/users/me` and the stored user profiles.

use super::names::is_valid_name;
use super::{ConfigError, Ctx};
use serde::Deserialize;

/// The kv namespace the `mcp-users` table maps to on AWS.
const NAMESPACE: &str = "users";

/// `/users/me` and the stored user profiles.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsersConfig {
    /// Serve `GET`/`PUT /users/me`.
    pub enabled: bool,
    /// kv namespace of the profiles (the `mcp-users` table on AWS).
    pub namespace: String,
    /// When a token carries no tier claim, take the tier from the caller's profile.
    pub tier_from_profile: bool,
    /// Scopes (or `cognito:groups`) of which a token needs one to manage other users'
    /// profiles (`/users/{sub}/tier`); empty: nobody may, over the API.
    pub admin_scopes: Vec<String>,
}

impl Default for UsersConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            namespace: NAMESPACE.into(),
            tier_from_profile: true,
            admin_scopes: Vec::new(),
        }
    }
}

impl UsersConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        if !is_valid_name(&self.namespace) {
            return Err(cx.invalid("users.namespace", "must be a valid name"));
        }
        if let Some(s) = self.admin_scopes.iter().find(|s| !super::is_scope_token(s)) {
            return Err(cx.invalid(
                "users.admin_scopes",
                format!("{s:?} is not a valid scope (RFC 6749 scope-token)"),
            ));
        }
        Ok(())
    }
}
