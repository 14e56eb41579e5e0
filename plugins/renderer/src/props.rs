//! Property tests of the renderer (issue 15, "Evidence that lasts"): arbitrary templates
//! and variables terminate within the work budget, never panic, and stay within the
//! output cap; `{{var}}` substitution is exact. Failures persist in
//! `plugins/renderer/proptest-regressions/props.txt`.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::engine::{Limits, RenderFailure, Request, render, render_counted};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    }
}

const NAMES: &[&str] = &[
    "a",
    "b",
    "items",
    "user",
    "this",
    "@index",
    "user.name",
    "a.[0]",
];

fn name() -> impl Strategy<Value = String> {
    proptest::sample::select(NAMES).prop_map(str::to_string)
}

/// Text without `{`, `}` or `\` (the characters handlebars gives meaning to).
fn plain_text() -> impl Strategy<Value = String> {
    "[^{}\\\\]{0,12}"
}

/// Templates built from the handlebars grammar, plus stray delimiters.
fn template() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        plain_text(),
        name().prop_map(|n| format!("{{{{{n}}}}}")),
        name().prop_map(|n| format!("{{{{{{{n}}}}}}}")),
        name().prop_map(|n| format!("{{{{~{n}~}}}}")),
        Just("{{! a comment }}".to_string()),
        Just("{{> p}}".to_string()),
        Just("{{> q}}".to_string()),
        Just("{{> missing}}".to_string()),
        Just("{{lookup user \"name\"}}".to_string()),
        Just("{{".to_string()),
        Just("}}".to_string()),
        Just("\\{{a}}".to_string()),
        Just("{{/each}}".to_string()),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        let seq = proptest::collection::vec(inner, 0..4).prop_map(|v| v.concat());
        prop_oneof![
            seq.clone(),
            (name(), seq.clone()).prop_map(|(n, b)| format!("{{{{#each {n}}}}}{b}{{{{/each}}}}")),
            (name(), seq.clone(), seq.clone())
                .prop_map(|(n, b, e)| format!("{{{{#if {n}}}}}{b}{{{{else}}}}{e}{{{{/if}}}}")),
            (name(), seq.clone()).prop_map(|(n, b)| format!("{{{{#with {n}}}}}{b}{{{{/with}}}}")),
            (name(), seq.clone())
                .prop_map(|(n, b)| format!("{{{{#unless {n}}}}}{b}{{{{/unless}}}}")),
            seq.clone()
                .prop_map(|b| format!("{{{{#*inline \"q\"}}}}{b}{{{{/inline}}}}{{{{> q}}}}")),
        ]
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 64, 30, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..30).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,4}|name", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn variables() -> impl Strategy<Value = Value> {
    proptest::collection::btree_map(
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("items".to_string()),
            Just("user".to_string())
        ],
        json_value(),
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn limits() -> impl Strategy<Value = Limits> {
    (0usize..4096, 1u64..5000).prop_map(|(max_output_bytes, max_steps)| Limits {
        max_output_bytes,
        max_steps,
    })
}

/// A variable name that handlebars reads as a plain path (no keyword, helper or literal).
fn plain_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,8}".prop_filter("not a keyword or helper", |n| {
        ![
            "else",
            "this",
            "true",
            "false",
            "null",
            "undefined",
            "if",
            "unless",
            "each",
            "with",
            "lookup",
            "log",
            "eq",
            "ne",
            "gt",
            "gte",
            "lt",
            "lte",
            "and",
            "or",
            "not",
            "len",
        ]
        .contains(&n.as_str())
    })
}

proptest! {
    #![proptest_config(config())]

    /// Grammar-built templates, arbitrary variables and small limits: the render either
    /// fails with a reason or succeeds with output within `max_output_bytes` after at
    /// most `max_steps` written segments (the budget's bound holds for the real render).
    #[test]
    fn renders_terminate_within_the_budget(
        template in template(),
        partial in template(),
        vars in variables(),
        limits in limits(),
    ) {
        let variables_json = vars.to_string();
        let partials = [("p", partial.as_str())];
        let request = Request { template: &template, variables_json: &variables_json, partials: &partials, required: &[] };
        match render_counted(&request, &limits) {
            Ok(r) => {
                prop_assert!(r.output.len() <= limits.max_output_bytes, "{} bytes over {}", r.output.len(), limits.max_output_bytes);
                prop_assert!(r.worst_case_steps <= limits.max_steps);
                prop_assert!(r.writes <= r.worst_case_steps, "{} writes but a bound of {} steps", r.writes, r.worst_case_steps);
            }
            Err(RenderFailure::Failed(m)) => prop_assert!(!m.is_empty()),
            Err(RenderFailure::Syntax(s)) => prop_assert!(!s.message.trim().is_empty()),
            Err(_) => {}
        }
        // Rendering is a function of its input.
        prop_assert_eq!(render(&request, &limits), render(&request, &limits));
    }

    /// Any text at all as the template, the partial or the variables: no panic.
    #[test]
    fn arbitrary_input_never_panics(template in "\\PC{0,80}|(\\{\\{|\\}\\}|#|/|>|~|\\*|each|if|else|a| ){0,40}", vars in ".{0,40}") {
        let partials = [("p", template.as_str())];
        for variables_json in [vars.as_str(), "{\"a\": [1, 2, 3]}"] {
            let request = Request { template: &template, variables_json, partials: &partials, required: &["a"] };
            let _ = render(&request, &Limits { max_output_bytes: 1024, max_steps: 10_000 });
        }
    }

    /// A template without `{{` renders as itself.
    #[test]
    fn text_without_tags_is_identity(text in "[^{\\\\]{0,200}|\\PC{0,100}", vars in variables()) {
        prop_assume!(!text.contains("{{") && !text.contains('\\'));
        let variables_json = vars.to_string();
        let request = Request { template: &text, variables_json: &variables_json, partials: &[], required: &[] };
        prop_assert_eq!(render(&request, &Limits::default()), Ok(text.clone()));
    }

    /// `{{name}}` and `{{{name}}}` (names never `_n`/`_f`, the other two) render a string value exactly (no HTML escaping),
    /// between any plain text; numbers and booleans render as JSON writes them.
    #[test]
    fn plain_variables_render_their_value(
        name in plain_name(),
        value in "\\PC{0,60}",
        pre in plain_text(),
        post in plain_text(),
        number in any::<i64>(),
        flag in any::<bool>(),
    ) {
        let vars = json!({ name.clone(): value, "_n": number, "_f": flag }).to_string();
        for template in [format!("{pre}{{{{{name}}}}}{post}"), format!("{pre}{{{{{{{name}}}}}}}{post}")] {
            let request = Request { template: &template, variables_json: &vars, partials: &[], required: &[] };
            prop_assert_eq!(render(&request, &Limits::default()), Ok(format!("{pre}{value}{post}")));
        }
        let request = Request { template: "{{_n}}|{{_f}}", variables_json: &vars, partials: &[], required: &[] };
        prop_assert_eq!(render(&request, &Limits::default()), Ok(format!("{number}|{flag}")));
    }
}
