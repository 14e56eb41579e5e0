//! Property tests of the JWT front end: bearer extraction, header and payload decoding
//! and HS256 verification (issue 15, "Evidence that lasts").
//!
//! Failures persist in `host/proptest-regressions/auth/props.txt` and are replayed first
//! on every run; commit that file when it changes.

use super::{AuthError, Authenticator, ClaimMapping, DevProvider, Principal, bearer_token};
use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::Duration;

const ISSUER: &str = "mcp-prompts-dev";
const AUDIENCE: &str = "mcp-prompts";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    }
}

/// Every reason `authenticate` may give; each becomes `401` in `service::caller`.
const KINDS: &[&str] = &[
    "malformed",
    "too_large",
    "unknown_issuer",
    "invalid",
    "expired",
    "bad_tenant",
    "bad_subject",
    "unknown_key",
    "audience",
    "token_use",
];

struct Fixture {
    _dir: tempfile::TempDir,
    dev: DevProvider,
    other: DevProvider,
    rt: tokio::runtime::Runtime,
}

fn provider(dir: &std::path::Path, name: &str, secret: &str) -> DevProvider {
    let file = dir.join(name);
    std::fs::write(&file, secret).unwrap();
    let text = format!(
        "[auth.dev]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\nsecret_file = \"{}\"\n",
        file.display()
    );
    let lc = crate::config::parse(&dir.join("config.toml"), &text).expect("config");
    DevProvider::load(&lc, lc.config.auth.dev.as_ref().unwrap()).expect("dev provider")
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        Fixture {
            dev: provider(dir.path(), "secret", &"s".repeat(40)),
            // Same issuer and audience, another secret: its tokens must never verify.
            other: provider(dir.path(), "other", &"o".repeat(40)),
            _dir: dir,
            rt: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        }
    })
}

fn mapping() -> ClaimMapping {
    ClaimMapping {
        default_tenant: "default".into(),
        tenant_claim: "custom:tenant".into(),
        tier_claim: "custom:subscriptionTier".into(),
        primary_issuer: Some(ISSUER.into()),
        other_issuers: vec!["https://other.example".into()],
    }
}

/// An authenticator with the fixture's dev secret and no verified-token cache (so each
/// call verifies), sharing nothing with other cases.
fn authenticator() -> Authenticator {
    let dir = tempfile::tempdir().unwrap();
    let dev = provider(dir.path(), "secret", &"s".repeat(40));
    Authenticator::with_cache(Some(dev), Vec::new(), mapping(), 0)
}

fn authenticate(auth: &Authenticator, header: &str) -> Result<Principal, AuthError> {
    fixture().rt.block_on(auth.authenticate(header))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> u64 {
    super::cache::now_secs()
}

fn mint(dev: &DevProvider, sub: &str, extra: serde_json::Map<String, Value>) -> String {
    dev.mint(sub, &[], Duration::from_secs(600), extra)
        .expect("mint")
}

/// "Bearer" in any ASCII case.
fn scheme() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), 6).prop_map(|upper| {
        "bearer"
            .chars()
            .zip(upper)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

/// A JSON value of a few levels, for headers and payloads that decode but are wrong.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,16}".prop_map(Value::String),
        Just(json!(ISSUER)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("iss".to_string()),
                    Just("sub".to_string()),
                    Just("exp".to_string()),
                    Just("aud".to_string()),
                    Just("alg".to_string()),
                    "[a-z]{1,5}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Claims that look like ours (our issuer, often our audience and a plausible expiry).
fn plausible_claims() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just(json!(ISSUER)), json_value()],
        prop_oneof![Just(json!(AUDIENCE)), json_value()],
        prop_oneof![Just(json!("alice")), json_value()],
        prop_oneof![
            Just(json!(now() + 600)),
            Just(json!(now() - 600)),
            json_value()
        ],
        proptest::option::of(json_value()),
    )
        .prop_map(|(iss, aud, sub, exp, extra)| {
            let mut m = serde_json::Map::new();
            m.insert("iss".into(), iss);
            m.insert("aud".into(), aud);
            m.insert("sub".into(), sub);
            m.insert("exp".into(), exp);
            if let Some(e) = extra {
                m.insert("custom:tenant".into(), e);
            }
            Value::Object(m)
        })
}

/// Headers naming every algorithm family, including `none`.
fn header() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"alg": "HS256", "typ": "JWT"})),
        Just(json!({"alg": "none"})),
        Just(json!({"alg": "RS256", "kid": "k1"})),
        Just(json!({"alg": "HS512"})),
        Just(json!({"alg": "ES256"})),
        json_value(),
    ]
}

/// Three base64url segments whose JSON is structured but not a token we signed.
fn structured_token() -> impl Strategy<Value = String> {
    (
        header(),
        plausible_claims(),
        proptest::collection::vec(any::<u8>(), 0..48),
        0usize..3,
    )
        .prop_map(|(h, c, sig, shape)| {
            let (h, c) = (b64(h.to_string().as_bytes()), b64(c.to_string().as_bytes()));
            match shape {
                0 => format!("{h}.{c}.{}", b64(&sig)),
                1 => format!("{h}.{c}."),
                _ => format!("{h}.{c}"),
            }
        })
}

fn assert_refused(r: Result<Principal, AuthError>, what: &str) -> Result<(), TestCaseError> {
    match r {
        Ok(p) => Err(TestCaseError::fail(format!("{what} verified as {p:?}"))),
        Err(e) => {
            prop_assert!(KINDS.contains(&e.kind()), "unknown kind {}", e.kind());
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any header value at all: refused (never a principal), with a known reason.
    #[test]
    fn arbitrary_headers_never_verify(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let header = String::from_utf8_lossy(&bytes);
        let auth = authenticator();
        assert_refused(authenticate(&auth, &header), "arbitrary header")?;
        assert_refused(authenticate(&auth, &format!("Bearer {header}")), "arbitrary token")?;
    }

    /// Three segments of well-formed base64url JSON with our issuer: refused.
    #[test]
    fn structured_wrong_tokens_never_verify(token in structured_token(), s in scheme()) {
        let auth = authenticator();
        assert_refused(authenticate(&auth, &format!("{s} {token}")), "structured token")?;
    }

    /// A token we signed, with one byte changed anywhere (header, payload, signature or a
    /// dot): refused. Catches signature malleability and lenient base64.
    #[test]
    fn mutated_valid_tokens_never_verify(pos in any::<prop::sample::Index>(), replacement in any::<u8>()) {
        let token = mint(&fixture().dev, "alice", serde_json::Map::new());
        let mut bytes = token.clone().into_bytes();
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        let auth = authenticator();
        assert_refused(authenticate(&auth, &format!("Bearer {mutated}")), &format!("token mutated at {i}"))?;
    }

    /// Truncated or extended signed tokens, tokens of another secret, and `alg: none`
    /// re-encodings of our own claims: refused.
    #[test]
    fn forged_tokens_never_verify(cut in any::<prop::sample::Index>(), suffix in "[A-Za-z0-9_.=-]{1,8}") {
        let auth = authenticator();
        let token = mint(&fixture().dev, "alice", serde_json::Map::new());
        let n = cut.index(token.len());
        assert_refused(authenticate(&auth, &format!("Bearer {}", &token[..n])), "truncated token")?;
        assert_refused(authenticate(&auth, &format!("Bearer {token}{suffix}")), "extended token")?;
        let other = mint(&fixture().other, "alice", serde_json::Map::new());
        assert_refused(authenticate(&auth, &format!("Bearer {other}")), "token of another secret")?;
        let mut parts = token.split('.');
        let (_, payload) = (parts.next().unwrap(), parts.next().unwrap());
        let none = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
        assert_refused(authenticate(&auth, &format!("Bearer {none}")), "alg none")?;
    }

    /// Valid development tokens verify, whatever the scheme's case, and round-trip their
    /// claims into the principal; verifying twice gives the same principal.
    #[test]
    fn minted_tokens_round_trip(
        sub in "[^\\p{Cc}]{1,64}",
        scopes in proptest::collection::vec("[a-z:._-]{1,12}", 0..4),
        tenant in proptest::option::of("[a-z0-9][a-z0-9._-]{0,20}"),
        tier in proptest::option::of("[a-z]{1,10}"),
        s in scheme(),
    ) {
        let mut extra = serde_json::Map::new();
        if let Some(t) = &tenant {
            extra.insert("custom:tenant".into(), json!(t));
        }
        if let Some(t) = &tier {
            extra.insert("custom:subscriptionTier".into(), json!(t));
        }
        let token = fixture()
            .dev
            .mint(&sub, &scopes, Duration::from_secs(600), extra)
            .expect("mint");
        let auth = Authenticator::with_cache(
            Some(provider(tempfile::tempdir().unwrap().path(), "secret", &"s".repeat(40))),
            Vec::new(),
            mapping(),
            16,
        );
        let header = format!("{s} {token}");
        let p = authenticate(&auth, &header).map_err(|e| TestCaseError::fail(format!("refused: {e:?}")))?;
        prop_assert_eq!(&p.subject, &sub);
        prop_assert_eq!(&p.scopes, &scopes);
        prop_assert_eq!(p.tenant.as_str(), tenant.as_deref().unwrap_or("default"));
        prop_assert_eq!(p.tier.as_str(), tier.as_deref().unwrap_or(super::DEFAULT_TIER));
        prop_assert_eq!(p.tier_from_claim, tier.is_some());
        // The second call is answered by the verified-token cache.
        prop_assert_eq!(authenticate(&auth, &header), Ok(p));
    }

    /// Bearer extraction: the scheme in any case, one or more spaces, a non-empty token;
    /// anything else is `Malformed` (and never reaches a verifier).
    #[test]
    fn bearer_extraction(s in scheme(), spaces in " {1,3}", token in "[!-~]{1,40}", junk in "[^ ]{0,10}") {
        let extract = |h: String| bearer_token(&h).map(str::to_string);
        prop_assert_eq!(extract(format!("{s}{spaces}{token}")), Some(token.clone()));
        prop_assert_eq!(extract(format!("{s}{spaces}{token}  ")), Some(token.clone()));
        prop_assert_eq!(extract(format!("{s}{spaces}")), None);
        // Without the separating space, or with another scheme, there is no token.
        prop_assert_eq!(extract(format!("{s}{junk}")), None);
        prop_assume!(!junk.eq_ignore_ascii_case("bearer"));
        prop_assert_eq!(extract(format!("{junk} {token}")), None);
        let auth = authenticator();
        prop_assert_eq!(authenticate(&auth, &format!("{junk} {token}")), Err(AuthError::Malformed));
    }
}
