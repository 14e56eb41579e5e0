//! The `mcp-prompts` command line: serve, stdio, check, import, export, diff, token, …

mod aws;
mod diff;
mod export;
mod health;
mod import;
mod plugin;
mod plugin_new;
mod reload;
mod remote;
mod serve;
mod stdio;
mod target;
mod templates;
mod user;

use crate::config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "mcp-prompts",
    version,
    about = "WebAssembly-extensible prompt server (REST + MCP)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server.
    Serve {
        #[arg(long, short, env = "MCP_PROMPTS_CONFIG")]
        config: PathBuf,
    },
    /// Serve MCP over stdin/stdout (desktop clients); logs go to stderr.
    Stdio {
        #[arg(long, short, env = "MCP_PROMPTS_CONFIG")]
        config: PathBuf,
    },
    /// Validate the config and load every plugin; exit 0 if all is well.
    Check {
        #[arg(long, short, env = "MCP_PROMPTS_CONFIG")]
        config: PathBuf,
    },
    /// Import prompt JSON files from a directory or an S3 prefix (idempotent), into the
    /// config's store or through a running server's API (--url; automatic when a server
    /// holds the embedded store).
    Import {
        #[arg(
            long,
            short,
            env = "MCP_PROMPTS_CONFIG",
            required_unless_present = "url"
        )]
        config: Option<PathBuf>,
        #[command(flatten)]
        conn: remote::ConnArgs,
        /// Directory of `*.json` prompt files, or `s3://BUCKET/PREFIX`.
        dir: String,
        /// Route whose prompt handler receives the prompts (default: the first route).
        #[arg(long)]
        route: Option<String>,
        /// Tenant to import into (default: the route's `tenant`, else auth.default_tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Print what the import would change (new versions with their diff, label moves)
        /// and write nothing. Exit 0 when nothing would change, 1 when something would,
        /// 2 when a file would be rejected.
        #[arg(long)]
        dry_run: bool,
        /// Let the files move the route's protected labels. Locally this is the operator's
        /// say-so; with the automatic fallback the minted token gets their scopes; with
        /// --url the token's scopes decide.
        #[arg(long)]
        allow_protected: bool,
    },
    /// Write every prompt of a route as DIR/{id}.json, with its versions and labels, in
    /// the format `import` reads (for keeping prompts in Git), from the config's store or
    /// through a running server's API (--url; automatic when a server holds the embedded
    /// store).
    Export {
        #[arg(
            long,
            short,
            env = "MCP_PROMPTS_CONFIG",
            required_unless_present = "url"
        )]
        config: Option<PathBuf>,
        #[command(flatten)]
        conn: remote::ConnArgs,
        /// Directory to write into (created if missing).
        dir: PathBuf,
        /// Route whose prompt handler holds the prompts (default: the first route).
        #[arg(long)]
        route: Option<String>,
        /// Tenant to export (default: the route's `tenant`, else auth.default_tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Only the newest version of each prompt and the versions a label points at.
        #[arg(long)]
        labelled_only: bool,
        /// Remove the other `*.json` files of DIR (prompts deleted since the last export).
        #[arg(long)]
        prune: bool,
    },
    /// Show what changed between two versions of a prompt in the config's store (a
    /// unified diff of its text or messages, then config, tags, variables, access level).
    /// Exit 0 when identical, 1 when different, 2 on an error.
    Diff {
        #[arg(long, short, env = "MCP_PROMPTS_CONFIG")]
        config: PathBuf,
        /// The prompt id.
        id: String,
        /// A version number or a label name.
        #[arg(long)]
        from: String,
        /// A version number or a label name (default: latest).
        #[arg(long)]
        to: Option<String>,
        /// Route whose prompt handler holds the prompt (default: the first route).
        #[arg(long)]
        route: Option<String>,
        /// Tenant to read in (default: the route's `tenant`, else auth.default_tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Read as this subject (`sub`), so that its private prompts are visible;
        /// without it the store is read anonymously.
        #[arg(long)]
        subject: Option<String>,
        /// Print the diff as JSON (what `GET {route}/{id}/diff` returns).
        #[arg(long)]
        json: bool,
    },
    /// Manage stored user profiles.
    #[command(subcommand)]
    User(UserCommand),
    /// Work with plugin components.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Probe a running server over plain HTTP (container HEALTHCHECK): exit 0 on 200.
    Health {
        #[arg(long, default_value = "http://127.0.0.1:3003/ready")]
        url: String,
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// AWS helpers (docs/aws.md).
    #[command(subcommand)]
    Aws(aws::AwsCommand),
    /// Print a development JWT signed with the config's `[auth.dev]` secret.
    Token {
        #[arg(long, short, env = "MCP_PROMPTS_CONFIG")]
        config: PathBuf,
        /// Subject (`sub` claim).
        #[arg(long)]
        sub: String,
        /// Scope to grant; repeat for several.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Lifetime, e.g. "1h", "30m".
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// Tenant claim to include.
        #[arg(long)]
        tenant: Option<String>,
        /// Subscription tier claim to include.
        #[arg(long)]
        tier: Option<String>,
        /// Group (`cognito:groups`) to include; repeat for several.
        #[arg(long = "group")]
        groups: Vec<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Set (or clear) the subscription tier stored in a user's profile; it applies to the
    /// user's tokens that carry no tier claim. Through a running server's API with --url
    /// (automatic when a server holds the embedded store).
    SetTier {
        #[arg(
            long,
            short,
            env = "MCP_PROMPTS_CONFIG",
            required_unless_present = "url"
        )]
        config: Option<PathBuf>,
        #[command(flatten)]
        conn: remote::ConnArgs,
        /// The user's subject (`sub` claim).
        #[arg(long)]
        sub: String,
        /// Tenant of the user (default: auth.default_tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// The tier, e.g. "premium".
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        tier: Option<String>,
        /// Remove the stored tier instead.
        #[arg(long)]
        clear: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => runtime().and_then(|rt| rt.block_on(serve::serve(&config))),
        Command::Stdio { config } => runtime().and_then(|rt| rt.block_on(stdio::run(&config))),
        Command::Check { config } => runtime().and_then(|rt| rt.block_on(check(&config))),
        Command::Import {
            config,
            conn,
            dir,
            route,
            tenant,
            dry_run,
            allow_protected,
        } => runtime().and_then(|rt| {
            rt.block_on(import::run(import::Args {
                config: config.as_deref(),
                conn: &conn,
                source: &dir,
                route,
                tenant,
                dry_run,
                allow_protected,
            }))
        }),
        Command::Export {
            config,
            conn,
            dir,
            route,
            tenant,
            labelled_only,
            prune,
        } => runtime().and_then(|rt| {
            rt.block_on(export::run(export::Args {
                config: config.as_deref(),
                conn: &conn,
                dir: &dir,
                route,
                tenant,
                labelled_only,
                prune,
            }))
        }),
        Command::User(UserCommand::SetTier {
            config,
            conn,
            sub,
            tenant,
            tier,
            clear: _,
        }) => runtime().and_then(|rt| {
            rt.block_on(user::set_tier(config.as_deref(), &conn, &sub, tenant, tier))
        }),
        Command::Diff {
            config,
            id,
            from,
            to,
            route,
            tenant,
            subject,
            json,
        } => runtime().map(|rt| {
            rt.block_on(diff::run(diff::Args {
                config: &config,
                id: &id,
                from: &from,
                to: to.as_deref(),
                route: route.as_deref(),
                tenant,
                subject,
                json,
            }))
        }),
        Command::Aws(cmd) => runtime().and_then(|rt| rt.block_on(aws::run(cmd))),
        Command::Plugin(cmd) => runtime().and_then(|rt| rt.block_on(plugin::run(cmd))),
        Command::Health { url, timeout } => {
            current_thread().and_then(|rt| rt.block_on(health::probe(&url, timeout)))
        }
        Command::Token {
            config,
            sub,
            scopes,
            ttl,
            tenant,
            tier,
            groups,
        } => token(
            &config,
            &sub,
            &scopes,
            ttl,
            TokenClaims {
                tenant,
                tier,
                groups,
            },
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn current_thread() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn check(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let lc = config::load(path)?;
    crate::telemetry::init(&lc.config.logging);
    // Plugins are compiled and checked against a scratch store: `check` must work while
    // a server holds the real data directory. The compile cache is shared with the server
    // (entries are written atomically under content-hash names), so a second `check`, or
    // a `serve` after it, skips Cranelift.
    let scratch = tempfile::tempdir()?;
    let storage = crate::storage::embedded::open(scratch.path())?;
    let shape = crate::plugins::PoolShape::for_config(&lc);
    let runtime = crate::plugins::Runtime::new(&lc.config.runtime, shape, storage, lc.cache_dir())?;
    let tenant = lc.config.auth.default_tenant.clone();
    let snapshot = crate::app::Snapshot::build(lc, &runtime, None).await?;
    // Loading proves the component links; only a call proves it runs.
    let mut failed = 0;
    for (name, p) in &snapshot.plugins {
        match plugin::probe(&runtime, p, &tenant).await {
            Ok(t) => println!(
                "plugin {name:?}: ok ({}, one call on a fresh instance in {:.1} ms)",
                p.config.world.as_str(),
                t.as_secs_f64() * 1000.0
            ),
            Err(e) => {
                eprintln!("error: plugin {name:?}: loads, but a harmless call fails: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "{}: ok ({} plugins, {} routes)",
        path.display(),
        snapshot.plugins.len(),
        snapshot.routes.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Optional claims of a development token.
struct TokenClaims {
    tenant: Option<String>,
    tier: Option<String>,
    groups: Vec<String>,
}

fn token(
    path: &std::path::Path,
    sub: &str,
    scopes: &[String],
    ttl: Duration,
    c: TokenClaims,
) -> anyhow::Result<ExitCode> {
    let lc = config::load(path)?;
    let auth = &lc.config.auth;
    let Some(dc) = &auth.dev else {
        anyhow::bail!(
            "{}: auth.dev: not configured; `token` needs an HS256 development provider",
            path.display()
        );
    };
    let provider = current_thread()?.block_on(crate::auth::DevProvider::load_async(&lc, dc))?;
    let mut extra = serde_json::Map::new();
    if let Some(t) = c.tenant {
        extra.insert(auth.tenant_claim.clone(), t.into());
    }
    if let Some(t) = c.tier {
        extra.insert(auth.tier_claim.clone(), t.into());
    }
    if !c.groups.is_empty() {
        extra.insert("cognito:groups".into(), c.groups.into());
    }
    println!("{}", provider.mint(sub, scopes, ttl, extra)?);
    Ok(ExitCode::SUCCESS)
}
