//! Pins what the config module accepts and refuses: the parsed values of an empty config,
//! of every table present but empty, of minimal list/map entries and of the example configs
//! in `config/`, and the exact message of every validation and parse refusal. The fixtures
//! in `testdata/` were captured from the code before the per-table split (issue 10), so a
//! change in a default or a message shows up here as a diff.
//!
//! `CONFIG_FIXTURES_WRITE=1 cargo test -p mcp-prompts --lib config::tests` rewrites them;
//! only do that for an intended change, and say so in the commit.

use super::parse;
use std::path::Path;

const PARSED: &str = include_str!("testdata/parsed.txt");
const REFUSED: &str = include_str!("testdata/refused.txt");

/// Valid plugins and a route that the refusal cases build on.
const PLUGINS: &str = r#"
[plugins.r]
path = "r.wasm"
world = "renderer"
[plugins.h]
path = "h.wasm"
world = "prompt-handler"
renderer = "r"
[plugins.p]
path = "p.wasm"
world = "policy"
"#;
const ROUTE: &str = "[[routes]]\npath = \"/v1/prompts\"\nhandler = \"h\"\npolicies = [\"p\"]\n";

/// Replaces `${NAME:-default}` with the default and `${NAME}` with a fixed value, so the
/// example configs parse the same whatever the test's environment holds.
fn without_env(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
            out.push_str(&rest[..pos + 2]);
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let end = after.find('}').expect("example configs close every ${");
        match after[..end].split_once(":-") {
            Some((_, default)) => out.push_str(default),
            None => out.push_str(match &after[..end] {
                "AWS_REGION" => "eu-west-1",
                "MCP_PROMPTS_USER_BUCKET" => "mcp-user-prompts-test",
                "MCP_PROMPTS_CATALOG_BUCKET" => "mcp-prompts-catalog-test",
                "MCP_PROMPTS_COGNITO_POOL_ID" => "eu-west-1_TEST",
                "MCP_PROMPTS_COGNITO_CLIENT_ID" => "test-client",
                other => panic!("no test value for ${{{other}}}"),
            }),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn accepted_cases() -> Vec<(&'static str, String)> {
    let every_table_empty = "
[server]
[storage]
[auth]
[auth.dev]
secret_env = \"X\"
[runtime]
[logging]
[metrics]
[reload]
[cors]
[redirect]
[users]
[plugins]
[mcp]
[mcp.stdio]
[media]
[limits]
";
    let minimal_entries = r#"
[storage]
backend = "aws"
[storage.aws]
default_bucket = "mcp-bucket"
[storage.aws.namespaces.x]
table = "mcp-x"
[auth.dev]
[auth.dev.secrets_manager]
[[auth.oidc]]
issuer = "https://issuer.example"
client_ids = ["c"]
[plugins.h]
path = "h.wasm"
world = "prompt-handler"
[[routes]]
path = "/v1/prompts"
handler = "h"
"#;
    vec![
        ("empty", String::new()),
        ("every table empty", every_table_empty.to_string()),
        ("minimal entries", minimal_entries.to_string()),
        (
            "aws defaults",
            "[storage]\nbackend = \"aws\"\n[storage.aws]\ndefault_bucket = \"mcp-bucket\"".into(),
        ),
        (
            "aws cluster limits",
            "[storage]\nbackend = \"aws\"\n[storage.aws]\ndefault_bucket = \"mcp-bucket\"\n[limits]\nmode = \"cluster\"\nlease_block = 50\nlease_timeout = \"100ms\"\nlease_retry = \"2s\"".into(),
        ),
        (
            "config/dev.toml",
            without_env(include_str!("../../../config/dev.toml")),
        ),
        (
            "config/container.toml",
            without_env(include_str!("../../../config/container.toml")),
        ),
        (
            "config/production.toml",
            without_env(include_str!("../../../config/production.toml")),
        ),
    ]
}

fn refused_cases() -> Vec<(&'static str, String)> {
    let with_plugins = |extra: &str| format!("{PLUGINS}{ROUTE}{extra}");
    let route = |body: &str| format!("{PLUGINS}[[routes]]\n{body}\n");
    let oidc = |extra: &str| {
        format!(
            "[[auth.oidc]]\nissuer = \"https://issuer.example\"\nclient_ids = [\"c\"]\n{extra}\n"
        )
    };
    let aws = |extra: &str| {
        format!(
            "[storage]\nbackend = \"aws\"\n[storage.aws]\ndefault_bucket = \"mcp-bucket\"\n{extra}\n"
        )
    };
    let sm = |extra: &str| format!("[auth.dev]\n[auth.dev.secrets_manager]\n{extra}\n");
    let mut v: Vec<(&'static str, String)> = vec![
        // [server]
        ("server.max_connections", "[server]\nmax_connections = 0".into()),
        ("server.max_body_size", "[server]\nmax_body_size = 0".into()),
        ("media.max_image_size", "[media]\nmax_image_size = 0".into()),
        // [limits]
        ("limits.mode embedded", "[limits]\nmode = \"cluster\"".into()),
        ("limits.mode unknown", "[limits]\nmode = \"global\"".into()),
        ("limits.lease_block", aws("[limits]\nmode = \"cluster\"\nlease_block = 0")),
        ("limits.lease_timeout", "[limits]\nlease_timeout = \"1ms\"".into()),
        ("limits.lease_retry", "[limits]\nlease_retry = \"1h\"".into()),
        ("server.idle_timeout", "[server]\nidle_timeout = \"0s\"".into()),
        ("server.max_header_size", "[server]\nmax_header_size = 100".into()),
        (
            "plugins kv users",
            "[plugins.x]\npath = \"x.wasm\"\nworld = \"policy\"\nkv = [\"users\"]".into(),
        ),
        (
            "plugins kv renamed users",
            "[users]\nnamespace = \"profiles\"\n[plugins.x]\npath = \"x.wasm\"\nworld = \"policy\"\nkv = [\"ok\", \"profiles\"]".into(),
        ),
        (
            "plugins kv mcp-sessions",
            "[plugins.x]\npath = \"x.wasm\"\nworld = \"prompt-handler\"\nkv = [\"mcp-sessions\"]".into(),
        ),
        ("server.cert_file only", "[server]\ncert_file = \"c.pem\"".into()),
        ("server.key_file only", "[server]\nkey_file = \"k.pem\"".into()),
        (
            "server plain with cert",
            "[server]\nmode = \"plain\"\ncert_file = \"c\"\nkey_file = \"k\"".into(),
        ),
        // [auth]
        ("auth.default_tenant", "[auth]\ndefault_tenant = \"-x\"".into()),
        (
            "auth.dev in production",
            "environment = \"production\"\n[auth.dev]\nsecret_env = \"X\"".into(),
        ),
        ("auth.dev no source", "[auth.dev]\n".into()),
        (
            "auth.dev secrets_manager combined",
            "[auth.dev]\nsecret_env = \"X\"\n[auth.dev.secrets_manager]\n".into(),
        ),
        (
            "auth.dev generate_if_missing",
            "[auth.dev]\nsecret_env = \"X\"\ngenerate_if_missing = true".into(),
        ),
        (
            "auth.oidc issuer http",
            "[[auth.oidc]]\nissuer = \"http://issuer.example\"\nclient_ids = [\"c\"]".into(),
        ),
        ("auth.oidc issuer twice", format!("{}{}", oidc(""), oidc(""))),
        (
            "auth.oidc issuer is the dev issuer",
            format!(
                "[auth.dev]\nissuer = \"https://issuer.example\"\nsecret_env = \"X\"\n{}",
                oidc("")
            ),
        ),
        ("auth.oidc jwks_uri", oidc("jwks_uri = \"http://evil.example/jwks\"")),
        (
            "auth.oidc no client_ids",
            "[[auth.oidc]]\nissuer = \"https://issuer.example\"".into(),
        ),
        ("auth.oidc leeway", oidc("leeway = \"10m\"")),
        ("auth.oidc max_token_size", oidc("max_token_size = 512")),
        ("auth.oidc jwks_timeout", oidc("jwks_timeout = \"0s\"")),
        ("auth.oidc jwks_max_size", oidc("jwks_max_size = 100")),
        ("auth.oidc jwks_refresh_interval", oidc("jwks_refresh_interval = \"500ms\"")),
        (
            "auth.oidc issuer with #",
            "[[auth.oidc]]\nissuer = \"https://issuer.example/p#x\"\nclient_ids = [\"c\"]".into(),
        ),
        (
            "auth.dev issuer with #",
            "[auth.dev]\nissuer = \"dev#x\"\nsecret_env = \"X\"".into(),
        ),
        (
            "auth.primary_issuer unknown",
            format!("[auth]\nprimary_issuer = \"https://other.example\"\n{}", oidc("")),
        ),
        // [users] [metrics] [cors] [redirect]
        ("users.namespace", "[users]\nnamespace = \"-bad\"".into()),
        ("metrics.bearer_token_env dash", "[metrics]\nbearer_token_env = \"A-B\"".into()),
        ("metrics.bearer_token_env empty", "[metrics]\nbearer_token_env = \"\"".into()),
        ("cors star", "[cors]\nallowed_origins = [\"*\"]".into()),
        ("cors slash", "[cors]\nallowed_origins = [\"https://a.example/\"]".into()),
        ("cors methods", "[cors]\nallowed_methods = [\"*\"]".into()),
        ("cors headers", "[cors]\nallowed_headers = [\"bad header\"]".into()),
        ("cors expose", "[cors]\nexpose_headers = [\"\"]".into()),
        ("redirect no host", "[redirect]\nlisten = \"127.0.0.1:8080\"".into()),
        ("redirect scheme", "[redirect]\ncanonical_host = \"https://x\"".into()),
        // [storage.aws] and [auth.dev.secrets_manager]
        ("storage.aws missing", "[storage]\nbackend = \"aws\"".into()),
        ("storage.aws.default_table", aws("default_table = \"ab\"")),
        ("storage.aws.namespaces name", aws("[storage.aws.namespaces.\"-x\"]\ntable = \"mcp-x\"")),
        ("storage.aws.namespaces table", aws("[storage.aws.namespaces.x]\ntable = \"ab\"")),
        (
            "storage.aws.namespaces ttl",
            aws("[storage.aws.namespaces.x]\ntable = \"mcp-x\"\nttl = \"500ms\""),
        ),
        ("storage.aws.default_bucket", "[storage]\nbackend = \"aws\"\n[storage.aws]\ndefault_bucket = \"Upper\"".into()),
        ("storage.aws.buckets", aws("[storage.aws.buckets]\nx = \"-x-\"")),
        ("storage.aws.max_attempts", aws("max_attempts = 0")),
        ("storage.aws.connect_timeout", aws("connect_timeout = \"1ms\"")),
        (
            "storage.aws.operation_timeout",
            aws("attempt_timeout = \"3s\"\noperation_timeout = \"2s\""),
        ),
        ("storage.aws.endpoint_url", aws("endpoint_url = \"ftp://x\"")),
        ("secrets_manager secret_id", sm("secret_id = \"\"")),
        ("secrets_manager refresh_interval", sm("refresh_interval = \"10ms\"")),
        // [runtime]
        ("runtime.max_instances", "[runtime]\nmax_instances = 0".into()),
        ("runtime.epoch_tick", "[runtime]\nepoch_tick = \"2s\"".into()),
        // [plugins]
        ("plugins name", "[plugins.\"-x\"]\npath = \"x\"\nworld = \"policy\"".into()),
        ("plugins memory_limit small", "[plugins.x]\npath = \"x\"\nworld = \"policy\"\nmemory_limit = \"1KiB\"".into()),
        ("plugins memory_limit large", "[plugins.x]\npath = \"x\"\nworld = \"policy\"\nmemory_limit = \"512MiB\"".into()),
        ("plugins timeout", "[plugins.x]\npath = \"x\"\nworld = \"policy\"\ntimeout = \"0s\"".into()),
        ("plugins kv", "[plugins.x]\npath = \"x\"\nworld = \"policy\"\nkv = [\"-x\"]".into()),
        ("plugins blob", "[plugins.x]\npath = \"x\"\nworld = \"policy\"\nblob = [\"-x\"]".into()),
        ("plugins max_core_instances zero", "[plugins.x]\npath = \"x\"\nworld = \"policy\"\nmax_core_instances = 0".into()),
        ("plugins max_memories huge", "[plugins.x]\npath = \"x\"\nworld = \"policy\"\nmax_memories = 20000".into()),
        ("plugins stub_wasi unknown", "[plugins.x]\npath = \"x\"\nworld = \"policy\"\nstub_wasi = [\"filesystem\"]".into()),
        (
            "plugins renderer is a policy",
            format!("{PLUGINS}[plugins.h2]\npath = \"x\"\nworld = \"prompt-handler\"\nrenderer = \"p\""),
        ),
        (
            "plugins renderer missing",
            "[plugins.x]\npath = \"x\"\nworld = \"prompt-handler\"\nrenderer = \"nope\"".into(),
        ),
        (
            "plugins renderer on a renderer",
            format!("{PLUGINS}[plugins.r2]\npath = \"x\"\nworld = \"renderer\"\nrenderer = \"r\""),
        ),
        // [[routes]]
        ("routes path relative", route("path = \"v1\"\nhandler = \"h\"")),
        ("routes path root", route("path = \"/\"\nhandler = \"h\"")),
        ("routes path pattern", route("path = \"/v1/{id}\"\nhandler = \"h\"")),
        ("routes path builtin", route("path = \"/health\"\nhandler = \"h\"")),
        ("routes path under builtin", route("path = \"/users/x\"\nhandler = \"h\"")),
        ("routes duplicate", with_plugins("[[routes]]\npath = \"/v1/prompts/\"\nhandler = \"h\"")),
        ("routes handler missing", route("path = \"/v1\"\nhandler = \"nope\"")),
        ("routes handler is a policy", route("path = \"/v1\"\nhandler = \"p\"")),
        ("routes policy missing", route("path = \"/v1\"\nhandler = \"h\"\npolicies = [\"nope\"]")),
        ("routes policy is a renderer", route("path = \"/v1\"\nhandler = \"h\"\npolicies = [\"r\"]")),
        ("routes tenant", route("path = \"/v1\"\nhandler = \"h\"\ntenant = \"-x\"")),
        ("routes scopes without auth", route("path = \"/v1\"\nhandler = \"h\"\nscopes = [\"a\"]")),
        (
            "routes scopes token",
            route("path = \"/v1\"\nhandler = \"h\"\nauth = \"required\"\nscopes = [\"a b\"]"),
        ),
        // [mcp]
        ("mcp.path relative", with_plugins("[mcp]\npath = \"mcp\"")),
        ("mcp.path builtin", with_plugins("[mcp]\npath = \"/metrics\"")),
        ("mcp.path overlaps route", with_plugins("[mcp]\npath = \"/v1/prompts/mcp\"")),
        (
            "mcp.path overlaps route when disabled",
            with_plugins("[mcp]\nenabled = false\npath = \"/v1/prompts/mcp\"\nroute = \"/nope\""),
        ),
        ("mcp.route", with_plugins("[mcp]\nroute = \"/nope\"")),
        ("mcp.allowed_origins", with_plugins("[mcp]\nallowed_origins = [\"https://x/\"]")),
        ("mcp.resource scheme", with_plugins("[mcp]\nresource = \"ftp://x\"")),
        ("mcp.resource fragment", with_plugins("[mcp]\nresource = \"https://x/mcp#a\"")),
        ("mcp.audience", with_plugins("[mcp]\naudience = \"\"")),
        ("mcp.page_size 0", with_plugins("[mcp]\npage_size = 0")),
        ("mcp.page_size 101", with_plugins("[mcp]\npage_size = 101")),
        ("mcp.session_ttl", with_plugins("[mcp]\nsession_ttl = \"500ms\"")),
        ("mcp.stdio.tenant", with_plugins("[mcp.stdio]\ntenant = \"-x\"")),
        ("mcp.stdio.subject", with_plugins("[mcp.stdio]\nsubject = \"\"")),
        // [webhooks]
        ("webhooks url http", "[[webhooks.endpoints]]\ntenant = \"t\"\nsecret_env = \"S\"\nurl = \"http://example.com/h\"".into()),
        ("webhooks url scheme", "[[webhooks.endpoints]]\ntenant = \"t\"\nsecret_env = \"S\"\nurl = \"ftp://127.0.0.1/h\"".into()),
        ("webhooks url credentials", "[[webhooks.endpoints]]\ntenant = \"t\"\nsecret_env = \"S\"\nurl = \"https://u:p@example.com/h\"".into()),
        ("webhooks events", "[[webhooks.endpoints]]\ntenant = \"t\"\nsecret_env = \"S\"\nurl = \"https://x/h\"\nevents = [\"prompt.read\"]".into()),
        ("webhooks secret none", "[[webhooks.endpoints]]\ntenant = \"t\"\nurl = \"https://x/h\"".into()),
        ("webhooks lease", "[webhooks]\nlease = \"1s\"\ntimeout = \"2s\"".into()),
        ("webhooks backoff", "[webhooks]\nbackoff_initial = \"2s\"\nbackoff_max = \"1s\"".into()),
        ("webhooks namespace reserved", "[plugins.x]\npath = \"x\"\nworld = \"policy\"\nkv = [\"webhooks\"]".into()),
        // Parse errors: required keys, bad values.
        ("plugin without world", "[plugins.x]\npath = \"x\"".into()),
        ("route without handler", "[[routes]]\npath = \"/v1\"".into()),
        ("oidc without issuer", "[[auth.oidc]]\nclient_ids = [\"c\"]".into()),
        ("aws without default_bucket", "[storage.aws]\nregion = \"x\"".into()),
        ("namespace without table", aws("[storage.aws.namespaces.x]\nttl = \"1h\"")),
        ("bad enum", "[server]\nmode = \"quic\"".into()),
        ("bad environment", "environment = \"staging\"".into()),
        ("bad duration", "[server]\nrequest_timeout = \"soon\"".into()),
        ("bad size", "[server]\nmax_body_size = \"1XB\"".into()),
        // Several problems at once: the first one found is the one reported.
        (
            "first of: default_tenant, dev in production",
            "environment = \"production\"\n[auth]\ndefault_tenant = \"-x\"\n[auth.dev]\nsecret_env = \"X\"".into(),
        ),
        (
            "first of: dev in production, no source, oidc",
            "environment = \"production\"\n[auth.dev]\n[[auth.oidc]]\nissuer = \"http://x.example\"".into(),
        ),
        (
            "first of: oidc, secrets_manager, cors",
            format!("{}{}", oidc("leeway = \"1h\""), "[auth.dev]\n[auth.dev.secrets_manager]\nsecret_id = \"\"\n[cors]\nallowed_origins = [\"*\"]\n"),
        ),
        (
            "first of: cors, storage.aws, secrets_manager",
            "[cors]\nallowed_origins = [\"*\"]\n[storage]\nbackend = \"aws\"\n[auth.dev]\n[auth.dev.secrets_manager]\nsecret_id = \"\"".into(),
        ),
        (
            "first of: storage.aws, secrets_manager, runtime",
            "[storage]\nbackend = \"aws\"\n[auth.dev]\n[auth.dev.secrets_manager]\nsecret_id = \"\"\n[runtime]\nmax_instances = 0".into(),
        ),
        (
            "first of: secrets_manager, runtime",
            "[auth.dev]\n[auth.dev.secrets_manager]\nsecret_id = \"\"\n[runtime]\nmax_instances = 0".into(),
        ),
        (
            "first of: runtime, plugin",
            "[runtime]\nepoch_tick = \"0s\"\n[plugins.x]\npath = \"x\"\nworld = \"policy\"\ntimeout = \"0s\"".into(),
        ),
        (
            "first of: plugin memory over runtime, plugin timeout",
            "[plugins.x]\npath = \"x\"\nworld = \"policy\"\nmemory_limit = \"1GiB\"\ntimeout = \"0s\"".into(),
        ),
        (
            "first of: plugin a renderer, plugin b name",
            "[plugins.a]\npath = \"x\"\nworld = \"prompt-handler\"\nrenderer = \"nope\"\n[plugins.b]\npath = \"x\"\nworld = \"policy\"\nkv = [\"-x\"]".into(),
        ),
        (
            "first of: route handler, route tenant",
            route("path = \"/v1\"\nhandler = \"nope\"\ntenant = \"-x\""),
        ),
        (
            "first of: route path, route handler",
            route("path = \"/health\"\nhandler = \"nope\""),
        ),
        (
            "first of: route 0 handler, route 1 path",
            format!("{}[[routes]]\npath = \"v2\"\nhandler = \"h\"\n", route("path = \"/v1\"\nhandler = \"nope\"")),
        ),
        (
            "first of: route, mcp",
            route("path = \"/v1\"\nhandler = \"h\"\ntenant = \"-x\"\n[mcp]\npath = \"mcp\""),
        ),
        (
            "first of: mcp builtin, mcp route",
            with_plugins("[mcp]\npath = \"/metrics\"\nroute = \"/nope\""),
        ),
        (
            "first of: mcp overlap, mcp route, mcp origins",
            with_plugins("[mcp]\npath = \"/v1/prompts\"\nroute = \"/nope\"\nallowed_origins = [\"x\"]"),
        ),
        (
            "first of: mcp route, mcp origins",
            with_plugins("[mcp]\nroute = \"/nope\"\nallowed_origins = [\"x\"]"),
        ),
        (
            "first of: server, everything else",
            "environment = \"production\"\n[server]\nmax_connections = 0\n[auth.dev]\n".into(),
        ),
    ];
    // Every table refuses keys it does not know, naming the key and the ones it knows.
    for (name, text) in [
        ("unknown top-level key", "colour = 1"),
        ("unknown in server", "[server]\nlisen = 1"),
        ("unknown in storage", "[storage]\nx = 1"),
        (
            "unknown in storage.aws",
            "[storage.aws]\ndefault_bucket = \"b\"\nx = 1",
        ),
        (
            "unknown in storage.aws.namespaces.*",
            "[storage.aws]\ndefault_bucket = \"b\"\n[storage.aws.namespaces.n]\ntable = \"t\"\nx = 1",
        ),
        ("unknown in auth", "[auth]\nx = 1"),
        ("unknown in auth.dev", "[auth.dev]\nx = 1"),
        (
            "unknown in auth.dev.secrets_manager",
            "[auth.dev.secrets_manager]\nx = 1",
        ),
        (
            "unknown in auth.oidc",
            "[[auth.oidc]]\nissuer = \"i\"\nx = 1",
        ),
        ("unknown in runtime", "[runtime]\nx = 1"),
        ("unknown in logging", "[logging]\nx = 1"),
        ("unknown in metrics", "[metrics]\nx = 1"),
        ("unknown in reload", "[reload]\nx = 1"),
        ("unknown in cors", "[cors]\nx = 1"),
        ("unknown in redirect", "[redirect]\nx = 1"),
        ("unknown in users", "[users]\nx = 1"),
        (
            "unknown in plugins.*",
            "[plugins.p]\npath = \"p\"\nworld = \"policy\"\nx = 1",
        ),
        (
            "unknown in routes",
            "[[routes]]\npath = \"/v1\"\nhandler = \"h\"\nx = 1",
        ),
        ("unknown in mcp", "[mcp]\nx = 1"),
        ("unknown in mcp.stdio", "[mcp.stdio]\nx = 1"),
        (
            "plugin config takes any key",
            "[plugins.p]\npath = \"p\"\nworld = \"policy\"\n[plugins.p.config]\nanything = 1\n[[routes]]\npath = \"/v1\"\nhandler = \"nope\"",
        ),
    ] {
        v.push((name, text.to_string()));
    }
    v
}

fn render(cases: Vec<(&'static str, String)>, show: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    for (name, text) in cases {
        out.push_str(&format!("=== {name}\n{}\n", show(&text)));
    }
    out
}

fn check(fixture: &str, file: &str, actual: String) {
    if std::env::var_os("CONFIG_FIXTURES_WRITE").is_some() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/config/testdata")
            .join(file);
        std::fs::write(&path, &actual).expect("fixture is writable");
        return;
    }
    if fixture != actual {
        // Name the first differing case rather than dumping two long texts.
        let first = fixture
            .lines()
            .zip(actual.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b);
        panic!("{file} differs from the captured output, first at {first:?}");
    }
}

#[test]
fn accepted_configs_parse_to_the_captured_values() {
    let actual = render(accepted_cases(), |text| {
        match parse(Path::new("config/t.toml"), text) {
            Ok(lc) => format!("{:#?}", lc.config),
            Err(e) => format!("REFUSED: {e}"),
        }
    });
    check(PARSED, "parsed.txt", actual);
}

#[test]
fn refused_configs_give_the_captured_messages() {
    let actual = render(refused_cases(), |text| {
        match parse(Path::new("config/t.toml"), text) {
            Ok(_) => "ACCEPTED".to_string(),
            Err(e) => e.to_string(),
        }
    });
    check(REFUSED, "refused.txt", actual);
}
