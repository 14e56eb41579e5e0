//! The root table of the config file: the top-level keys, which table holds what, and the
//! order in which the tables are checked.

use super::{
    AuthConfig, ConfigError, CorsConfig, Ctx, LoggingConfig, McpConfig, MediaConfig, MetricsConfig,
    PluginConfig, RedirectConfig, ReloadConfig, RouteConfig, RuntimeConfig, ServerConfig,
    StorageConfig, UsersConfig, plugins, routes,
};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `production` refuses development conveniences (the HS256 provider).
    pub environment: Environment,
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    pub runtime: RuntimeConfig,
    pub logging: LoggingConfig,
    pub metrics: MetricsConfig,
    pub reload: ReloadConfig,
    pub cors: CorsConfig,
    pub redirect: RedirectConfig,
    pub users: UsersConfig,
    /// Tiers from Stripe subscriptions (billing.rs).
    pub billing: super::BillingConfig,
    pub plugins: BTreeMap<String, PluginConfig>,
    pub routes: Vec<RouteConfig>,
    pub mcp: McpConfig,
    /// Signed change events per tenant (webhooks.rs).
    pub webhooks: super::WebhooksConfig,
    /// Images in chat messages (media.rs).
    pub media: MediaConfig,
    /// Where rate-limit budgets live (limits.rs): each host, or shared by the fleet.
    pub limits: super::LimitsConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

impl Config {
    /// Checks the relations between keys that serde cannot express; the first problem wins.
    /// Each table checks itself; the rules between tables are in cross_table.rs. The order
    /// below is the order the checks had before the config was split per table (issue 10),
    /// and the one a config with several problems reports them in, so keep it.
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        self.server.validate(cx)?;
        self.auth.validate(self.environment, cx)?;
        self.users.validate(cx)?;
        self.metrics.validate(cx)?;
        self.cors.validate(cx)?;
        self.redirect.validate(cx)?;
        self.storage.validate(cx)?;
        self.media.validate(cx)?;
        self.limits.validate(self.storage.backend, cx)?;
        if let Some(sm) = self
            .auth
            .dev
            .as_ref()
            .and_then(|d| d.secrets_manager.as_ref())
        {
            sm.validate(cx)?;
        }
        self.runtime.validate(cx)?;
        plugins::validate(&self.plugins, &self.runtime, cx)?;
        super::cross_table::plugins_avoid_host_namespaces(&self.plugins, &self.users, cx)?;
        routes::validate(&self.routes, &self.plugins, cx)?;
        self.mcp.validate(&self.routes, cx)?;
        super::cross_table::mcp_route_serves_prompts(&self.mcp, &self.routes, &self.plugins, cx)?;
        self.webhooks.validate(cx)
    }
}
