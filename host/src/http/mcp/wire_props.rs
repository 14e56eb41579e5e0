//! Property tests of MCP JSON-RPC decoding and the SEP-2243 headers (issue 15, "Evidence
//! that lasts"). Failures persist in `host/proptest-regressions/http/mcp/wire_props.txt`.

use super::*;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    }
}

const PARSE_ERROR: i32 = -32700;
const INVALID_REQUEST: i32 = -32600;

/// What the documented rules (docs/mcp.md, JSON-RPC 2.0 §4–5) say a message is.
#[derive(Debug, PartialEq)]
enum Expected {
    Request,
    Notification,
    Response,
    /// `-32600`, echoing the id when it is a string or an integer.
    Invalid {
        id: Option<Value>,
    },
}

fn valid_id(id: &Value) -> bool {
    id.is_string() || id.is_i64() || id.is_u64()
}

fn expected(v: &Value) -> Expected {
    let Value::Object(o) = v else {
        return Expected::Invalid { id: None };
    };
    let id = o.get("id");
    if id.is_some_and(|id| !valid_id(id)) {
        return Expected::Invalid { id: None };
    }
    let invalid = Expected::Invalid { id: id.cloned() };
    if o.get("jsonrpc") != Some(&json!("2.0")) {
        return invalid;
    }
    match o.get("method") {
        Some(Value::String(_)) if o.get("params").is_none_or(Value::is_object) => {
            if id.is_some() {
                Expected::Request
            } else {
                Expected::Notification
            }
        }
        Some(_) => invalid,
        None if id.is_some() && (o.contains_key("result") || o.contains_key("error")) => {
            Expected::Response
        }
        None => invalid,
    }
}

fn actual(r: &Result<Incoming, (Option<Value>, ErrorData)>) -> Result<Expected, i32> {
    match r {
        Ok(Incoming::Request { .. }) => Ok(Expected::Request),
        Ok(Incoming::Notification { .. }) => Ok(Expected::Notification),
        Ok(Incoming::Response) => Ok(Expected::Response),
        Err((id, e)) if e.code == ErrorCode::INVALID_REQUEST => {
            Ok(Expected::Invalid { id: id.clone() })
        }
        Err((_, e)) => Err(e.code.0),
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("2.0")),
        Just(json!("prompts/get")),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("jsonrpc".to_string()),
        Just("id".to_string()),
        Just("method".to_string()),
        Just("params".to_string()),
        Just("result".to_string()),
        Just("error".to_string()),
        "[a-z]{1,6}",
    ]
}

/// Messages that are close to valid: each member right, wrong or absent.
fn near_message() -> impl Strategy<Value = Value> {
    let member = |good: Value| proptest::option::of(prop_oneof![3 => Just(good), 1 => any_json()]);
    (
        member(json!("2.0")),
        member(json!(7)),
        member(json!("tools/call")),
        member(json!({"name": "get_prompt"})),
        proptest::option::of(any_json()),
        proptest::option::of(any_json()),
    )
        .prop_map(|(jsonrpc, id, method, params, result, error)| {
            let mut m = Map::new();
            for (k, v) in [
                ("jsonrpc", jsonrpc),
                ("id", id),
                ("method", method),
                ("params", params),
                ("result", result),
                ("error", error),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes: not JSON is -32700 with a null id, JSON is classified; never anything else.
    #[test]
    fn arbitrary_bytes_are_parse_errors_or_classified(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let r = decode(&bytes);
        match serde_json::from_slice::<Value>(&bytes) {
            Err(_) => {
                prop_assert!(matches!(&r, Err((None, e)) if e.code.0 == PARSE_ERROR), "{:?}", r.err());
            }
            Ok(v) => prop_assert_eq!(actual(&r), Ok(expected(&v))),
        }
    }

    /// Any JSON value, and near-valid messages: the classification follows the rules,
    /// errors are always -32600, and decoding the serialised text agrees with classifying
    /// the value.
    #[test]
    fn json_values_classify_by_the_rules(v in prop_oneof![any_json(), near_message()]) {
        let direct = classify(v.clone());
        prop_assert_eq!(actual(&direct), Ok(expected(&v)));
        let decoded = decode(v.to_string().as_bytes());
        prop_assert_eq!(actual(&decoded), Ok(expected(&v)));
        if let Err((id, e)) = &direct {
            // The error body every client reads: JSON-RPC 2.0, the id or null, the code.
            let body = rpc_error(id.as_ref(), e);
            prop_assert_eq!(&body["jsonrpc"], &json!("2.0"));
            prop_assert_eq!(&body["id"], id.as_ref().unwrap_or(&Value::Null));
            prop_assert_eq!(&body["error"]["code"], &json!(INVALID_REQUEST));
        }
    }

    /// Deep nesting is refused by the parser's recursion limit (-32700), not a stack
    /// overflow; shallow nesting is an invalid request (-32600).
    #[test]
    fn deep_nesting_is_a_parse_error(depth in 1usize..5000, object in any::<bool>()) {
        let (open, close) = if object { ("{\"a\":", "}") } else { ("[", "]") };
        let body = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        let code = match decode(body.as_bytes()) {
            Err((_, e)) => e.code.0,
            Ok(_) => 0,
        };
        prop_assert_eq!(code, if depth > 127 { PARSE_ERROR } else { INVALID_REQUEST });
    }

    /// `=?base64?…?=` round-trips any string; other values pass through; garbage never panics.
    #[test]
    fn header_values_round_trip(s in ".{0,40}", raw in "[ -~]{0,40}") {
        use base64::Engine as _;
        let encoded = format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode(&s));
        prop_assert_eq!(decode_header_value(&encoded), Some(s));
        if !(raw.starts_with("=?base64?") && raw.ends_with("?=") && raw.len() >= 11) {
            prop_assert_eq!(decode_header_value(&raw), Some(raw.clone()));
        } else {
            let _ = decode_header_value(&raw);
        }
        let _ = accepts(&raw, "application/json");
    }

    /// Mcp-Method / Mcp-Name: the matching pair (plain or Base64) passes, a different name
    /// or method, a missing name or a duplicate header fails.
    #[test]
    fn standard_headers_match_the_body(
        method in prop_oneof![Just("tools/call"), Just("prompts/get"), Just("resources/read")],
        name in "[ -~]{1,30}",
        other in "[ -~]{1,30}",
        base64 in any::<bool>(),
    ) {
        use base64::Engine as _;
        let key = if method == "resources/read" { "uri" } else { "name" };
        let params = json!({key: name});
        let value = |n: &str| {
            if base64 {
                format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode(n))
            } else {
                n.to_string()
            }
        };
        let headers = |m: &str, n: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(METHOD_HEADER, HeaderValue::from_str(m).unwrap());
            if let Some(n) = n {
                h.insert(NAME_HEADER, HeaderValue::from_str(&value(n)).unwrap());
            }
            h
        };
        // A plain value that happens to look Base64-wrapped is decoded; skip that case.
        prop_assume!(base64 || !name.starts_with("=?base64?"));
        prop_assert!(check_standard_headers(&headers(method, Some(&name)), method, Some(&params)).is_ok());
        prop_assert!(check_standard_headers(&headers(method, None), method, Some(&params)).is_err());
        prop_assert!(check_standard_headers(&headers("ping", Some(&name)), method, Some(&params)).is_err());
        if other != name && (base64 || !other.starts_with("=?base64?")) {
            prop_assert!(check_standard_headers(&headers(method, Some(&other)), method, Some(&params)).is_err());
        }
        let mut dup = headers(method, Some(&name));
        dup.append(NAME_HEADER, HeaderValue::from_str(&value(&name)).unwrap());
        prop_assert!(check_standard_headers(&dup, method, Some(&params)).is_err());
    }
}
