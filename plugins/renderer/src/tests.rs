//! Behaviour tests of the engine, run natively with `cargo test -p renderer`.

use std::path::Path;

use serde_json::{Value, json};

use crate::engine::{DEFAULT_MAX_OUTPUT_BYTES, Limits, RenderFailure, Request, render};
use crate::nesting::MAX_BLOCK_DEPTH;
use crate::partials::MAX_PARTIAL_DEPTH;

/// Renders with the given partials and no required names.
fn render_with(
    template: &str,
    variables: Value,
    partials: &[(&str, &str)],
) -> Result<String, RenderFailure> {
    let variables_json = variables.to_string();
    let request = Request {
        template,
        variables_json: &variables_json,
        partials,
        required: &[],
    };
    render(&request, &Limits::default())
}

fn render_vars(template: &str, variables: Value) -> Result<String, RenderFailure> {
    render_with(template, variables, &[])
}

fn ok(result: Result<String, RenderFailure>) -> String {
    result.unwrap_or_else(|failure| panic!("render failed: {failure:?}"))
}

fn failed_message(result: Result<String, RenderFailure>) -> String {
    match result {
        Err(RenderFailure::Failed(message)) => message,
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn substitutes_plain_variables() {
    let out = render_vars(
        "Hello {{name}}, {{ count }}!",
        json!({"name": "Ada", "count": 3}),
    );
    assert_eq!(ok(out), "Hello Ada, 3!");
}

#[test]
fn substitutes_nested_fields() {
    let vars = json!({"user": {"name": "Ada", "langs": ["en", "fr"]}});
    let out = render_vars("{{user.name}} speaks {{user.langs.[1]}}", vars);
    assert_eq!(ok(out), "Ada speaks fr");
}

#[test]
fn missing_variables_render_empty() {
    let out = render_vars("[{{absent}}][{{user.absent}}]", json!({"user": {}}));
    assert_eq!(ok(out), "[][]");
}

#[test]
fn if_else_and_unless() {
    let template = "{{#if flag}}yes{{else}}no{{/if}}/{{#unless flag}}off{{/unless}}";
    assert_eq!(ok(render_vars(template, json!({"flag": true}))), "yes/");
    assert_eq!(ok(render_vars(template, json!({"flag": ""}))), "no/off");
    assert_eq!(ok(render_vars(template, json!({}))), "no/off");
}

#[test]
fn each_with_this_and_index() {
    let template = "{{#each items}}{{@index}}={{this}};{{/each}}";
    let out = render_vars(template, json!({"items": ["a", "b"]}));
    assert_eq!(ok(out), "0=a;1=b;");
}

#[test]
fn does_not_escape_html() {
    let vars = json!({"code": "<b>&\"'`="});
    assert_eq!(ok(render_vars("{{code}}", vars.clone())), "<b>&\"'`=");
    assert_eq!(ok(render_vars("{{{code}}}", vars)), "<b>&\"'`=");
}

#[test]
fn reports_all_missing_required_variables_sorted() {
    let request = Request {
        template: "{{b}}{{a}}",
        variables_json: r#"{"present": 1, "nothing": null}"#,
        partials: &[],
        required: &["zeta", "present", "nothing", "alpha", "zeta"],
    };
    let result = render(&request, &Limits::default());
    let expected = vec!["alpha".to_owned(), "nothing".to_owned(), "zeta".to_owned()];
    assert_eq!(result, Err(RenderFailure::MissingVariables(expected)));
}

#[test]
fn required_variables_present_render() {
    let request = Request {
        template: "{{a}}",
        variables_json: r#"{"a": false}"#,
        partials: &[],
        required: &["a"],
    };
    assert_eq!(ok(render(&request, &Limits::default())), "false");
}

#[test]
fn variables_must_be_a_json_object() {
    for bad in ["[1]", "\"text\"", "null", "{oops", ""] {
        let request = Request {
            template: "x",
            variables_json: bad,
            partials: &[],
            required: &[],
        };
        let message = failed_message(render(&request, &Limits::default()));
        assert!(
            message.starts_with("variables must be a JSON object: "),
            "{bad:?}: {message}"
        );
    }
}

#[test]
fn renders_partials_with_the_callers_context() {
    let partials = [("greet", "Hi {{name}}{{> sign}}"), ("sign", "!")];
    let template = "{{> greet}} {{#each people}}[{{> greet}}]{{/each}}";
    let vars = json!({"name": "Ada", "people": [{"name": "Bob"}]});
    assert_eq!(
        ok(render_with(template, vars, &partials)),
        "Hi Ada! [Hi Bob!]"
    );
}

#[test]
fn unused_partials_are_not_checked() {
    let partials = [("used", "ok"), ("unused", "{{> nowhere}}{{> unused}}")];
    assert_eq!(ok(render_with("{{> used}}", json!({}), &partials)), "ok");
}

#[test]
fn reports_the_first_missing_partial() {
    let partials = [("a", "{{#if x}}{{else}}{{> deep}}{{/if}}")];
    let template = "{{#each xs}}{{> a}}{{/each}}{{> later}}";
    let result = render_with(template, json!({}), &partials);
    assert_eq!(
        result,
        Err(RenderFailure::MissingPartial("deep".to_owned()))
    );
}

#[test]
fn partial_blocks_and_inline_partials() {
    let partials = [("frame", "<{{> @partial-block}}>")];
    let template = "{{#*inline \"item\"}}-{{this}}{{/inline}}\
                    {{#> frame}}{{#each xs}}{{> item}}{{/each}}{{/frame}}";
    let out = render_with(template, json!({"xs": [1, 2]}), &partials);
    assert_eq!(ok(out), "<-1-2>");
}

#[test]
fn quoted_partial_names_mean_the_bare_name() {
    let partials = [("my partial", "P")];
    let out = render_with("{{> 'my partial'}}{{> [my partial]}}", json!({}), &partials);
    assert_eq!(ok(out), "PP");
    let missing = render_with("{{> 'other one'}}", json!({}), &partials);
    assert_eq!(
        missing,
        Err(RenderFailure::MissingPartial("other one".to_owned()))
    );
}

#[test]
fn detects_a_two_partial_cycle() {
    let partials = [("a", "A{{> b}}"), ("b", "{{#if x}}B{{> a}}{{/if}}")];
    let result = render_with("{{> a}}", json!({}), &partials);
    let chain = ["a", "b", "a"].map(str::to_owned).to_vec();
    assert_eq!(result, Err(RenderFailure::PartialCycle(chain)));
}

#[test]
fn detects_a_cycle_entered_midway() {
    let partials = [("top", "{{> a}}"), ("a", "{{> b}}"), ("b", "{{> a}}")];
    let result = render_with("{{> top}}", json!({}), &partials);
    let chain = ["a", "b", "a"].map(str::to_owned).to_vec();
    assert_eq!(result, Err(RenderFailure::PartialCycle(chain)));
}

#[test]
fn detects_a_self_include() {
    let partials = [("a", "{{#each xs}}{{> a}}{{/each}}")];
    let result = render_with("{{> a}}", json!({}), &partials);
    let chain = ["a", "a"].map(str::to_owned).to_vec();
    assert_eq!(result, Err(RenderFailure::PartialCycle(chain)));
}

#[test]
fn detects_a_cycle_through_inline_partials() {
    let template = "{{#*inline \"x\"}}{{> x}}{{/inline}}{{> x}}";
    let result = render_with(template, json!({}), &[]);
    let chain = ["x", "x"].map(str::to_owned).to_vec();
    assert_eq!(result, Err(RenderFailure::PartialCycle(chain)));
}

#[test]
fn shared_partials_are_not_a_cycle() {
    let partials = [("a", "{{> c}}"), ("b", "{{> c}}"), ("c", "c")];
    let out = render_with("{{> a}}{{> b}}{{> c}}", json!({}), &partials);
    assert_eq!(ok(out), "ccc");
}

#[test]
fn rejects_dynamic_and_ambiguous_partials() {
    let dynamic = render_with("{{> (lookup this \"which\")}}", json!({"which": "a"}), &[]);
    assert!(failed_message(dynamic).contains("dynamic partial"));
    let twice = render_with("x", json!({}), &[("a", "1"), ("a", "2")]);
    assert!(failed_message(twice).contains("supplied twice"));
    let unnamed = render_with("x", json!({}), &[("", "1")]);
    assert!(failed_message(unnamed).contains("must not be empty"));
}

/// `count` partials, each rendering the next inside `blocks` nested `{{#if}}` blocks.
fn nested_partials(count: usize, blocks: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|i| {
            let inner = if i + 1 < count {
                format!("{{{{> p{}}}}}", i + 1)
            } else {
                "leaf".to_owned()
            };
            let body = format!(
                "{}{inner}{}",
                "{{#if a}}".repeat(blocks),
                "{{/if}}".repeat(blocks)
            );
            (format!("p{i}"), body)
        })
        .collect()
}

fn borrowed(partials: &[(String, String)]) -> Vec<(&str, &str)> {
    partials
        .iter()
        .map(|(name, body)| (name.as_str(), body.as_str()))
        .collect()
}

#[test]
fn caps_partial_nesting_depth() {
    let chain = nested_partials(MAX_PARTIAL_DEPTH + 1, 0);
    let partials = borrowed(&chain);
    // p1..p32 nest exactly MAX_PARTIAL_DEPTH levels below the main template.
    assert_eq!(ok(render_with("{{> p1}}", json!({}), &partials)), "leaf");
    let too_deep = render_with("{{> p0}}", json!({}), &partials);
    assert!(failed_message(too_deep).contains("partials nest deeper than 32"));
}

#[test]
fn caps_blocks_and_partials_nesting_combined() {
    // Each partial adds its 8 blocks plus its own level: 14 * 9 = 126 levels fit.
    let fits = nested_partials(14, 8);
    let out = render_with("{{> p0}}", json!({"a": 1}), &borrowed(&fits));
    assert_eq!(ok(out), "leaf");
    let deeper = nested_partials(15, 8);
    let out = render_with("{{> p0}}", json!({"a": 1}), &borrowed(&deeper));
    let message = failed_message(out);
    assert!(
        message.contains("deeper than 128 levels combined"),
        "{message}"
    );
}

#[test]
fn reports_syntax_errors_with_position() {
    let result = render_vars("line one\n  {{#if x}}oops{{/each}}", json!({}));
    let Err(RenderFailure::Syntax(syntax)) = result else {
        panic!("expected a syntax error, got {result:?}");
    };
    assert!(!syntax.message.is_empty());
    assert!(!syntax.message.contains('\n'), "{}", syntax.message);
    assert_eq!(syntax.source_name, "");
    assert_eq!(syntax.position.map(|(line, _)| line), Some(2));
}

#[test]
fn reports_syntax_errors_in_partials_by_name() {
    let result = render_with("{{> p}}", json!({}), &[("p", "ok\n{{oops")]);
    let Err(RenderFailure::Syntax(syntax)) = result else {
        panic!("expected a syntax error, got {result:?}");
    };
    assert_eq!(syntax.source_name, "p");
    assert_eq!(syntax.position, Some((2, 7)));
    assert!(!syntax.message.is_empty());
}

#[test]
fn rejects_absurd_block_nesting_before_parsing() {
    let deep = "{{#if a}}".repeat(100_000);
    let Err(RenderFailure::Syntax(syntax)) = render_vars(&deep, json!({})) else {
        panic!("expected a syntax error");
    };
    assert!(syntax.message.contains("nest deeper"));
    let fine = format!(
        "{}x{}",
        "{{#if a}}".repeat(MAX_BLOCK_DEPTH),
        "{{/if}}".repeat(MAX_BLOCK_DEPTH)
    );
    assert_eq!(ok(render_vars(&fine, json!({"a": 1}))), "x");
}

#[test]
fn caps_rendered_output() {
    let limits = Limits {
        max_output_bytes: 10,
        ..Limits::default()
    };
    let variables_json = json!({"xs": [1, 2, 3, 4, 5, 6]}).to_string();
    let request = Request {
        template: "{{#each xs}}ab{{/each}}",
        variables_json: &variables_json,
        partials: &[],
        required: &[],
    };
    let message = failed_message(render(&request, &limits));
    assert_eq!(message, "rendered output exceeds 10 bytes");
    let at_limit = Limits {
        max_output_bytes: 12,
        ..Limits::default()
    };
    assert_eq!(ok(render(&request, &at_limit)), "abababababab");
}

#[test]
fn default_cap_is_four_mib() {
    let variables_json = json!({"xs": vec![0; 1024], "kb": "x".repeat(4096)}).to_string();
    let request = Request {
        template: "{{#each xs}}{{../kb}}{{/each}}!",
        variables_json: &variables_json,
        partials: &[],
        required: &[],
    };
    let message = failed_message(render(&request, &Limits::default()));
    assert_eq!(message, "rendered output exceeds 4 MiB");
}

#[test]
fn reads_max_output_bytes_from_config() {
    assert_eq!(Limits::from_config(None), (Limits::default(), None));
    let (limits, problem) = Limits::from_config(Some("1024"));
    assert_eq!((limits.max_output_bytes, problem), (1024, None));
    for bad in ["0", "-1", "1.5", "\"big\"", "lots"] {
        let (limits, problem) = Limits::from_config(Some(bad));
        assert_eq!(limits.max_output_bytes, DEFAULT_MAX_OUTPUT_BYTES, "{bad}");
        assert!(problem.is_some(), "{bad}");
    }
}

#[test]
fn other_render_errors_are_failed() {
    let message = failed_message(render_vars("{{#each}}{{/each}}", json!({})));
    assert!(!message.is_empty());
}

/// Every prompt of the shared catalog renders once each declared variable has a value.
#[test]
fn renders_the_shared_catalog() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/catalog");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping: no catalog at {}", dir.display());
        return;
    };
    let mut rendered = 0;
    for entry in entries {
        let path = entry.expect("readable catalog entry").path();
        if path.extension().and_then(|ext| ext.to_str()) == Some("json") {
            render_catalog_prompt(&path);
            rendered += 1;
        }
    }
    assert_eq!(rendered, 29, "prompts in {}", dir.display());
}

fn render_catalog_prompt(path: &Path) {
    let text = std::fs::read_to_string(path).expect("readable prompt");
    let prompt: Value = serde_json::from_str(&text).expect("prompt is JSON");
    let body = prompt
        .get("content")
        .or_else(|| prompt.get("template"))
        .and_then(Value::as_str)
        .expect("prompt has a body");
    let names = variable_names(&prompt);
    let variables: serde_json::Map<String, Value> = names
        .iter()
        .map(|name| (name.clone(), Value::String(format!("<value of {name}>"))))
        .collect();
    let variables_json = Value::Object(variables).to_string();
    let required: Vec<&str> = names.iter().map(String::as_str).collect();
    let request = Request {
        template: body,
        variables_json: &variables_json,
        partials: &[],
        required: &required,
    };
    let out = render(&request, &Limits::default())
        .unwrap_or_else(|failure| panic!("{}: {failure:?}", path.display()));
    for name in &names {
        if body.contains(&format!("{{{{{name}}}}}")) {
            assert!(
                out.contains(&format!("<value of {name}>")),
                "{}: {name} not substituted",
                path.display()
            );
        }
    }
}

/// Variable names, whether declared as strings or as `{name, ...}` objects.
fn variable_names(prompt: &Value) -> Vec<String> {
    let declared = prompt.get("variables").and_then(Value::as_array);
    declared
        .into_iter()
        .flatten()
        .filter_map(|variable| {
            variable
                .as_str()
                .or_else(|| variable.get("name").and_then(Value::as_str))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn quiet_nested_loops_over_the_budget_fail_before_rendering() {
    let xs: Vec<u32> = (0..200).collect();
    let variables_json = json!({ "xs": xs }).to_string();
    let three = "{{#each xs}}{{#each ../xs}}{{#each ../../xs}}{{/each}}{{/each}}{{/each}}";
    let request = Request {
        template: three,
        variables_json: &variables_json,
        partials: &[],
        required: &[],
    };
    let message = failed_message(render(&request, &Limits::default()));
    assert!(message.starts_with("render budget exceeded"), "{message}");
    assert!(message.contains("200 items"), "{message}");
    // Two levels over the same data are well inside the default budget.
    let two = Request {
        template: "{{#each xs}}{{#each ../xs}}.{{/each}}{{/each}}",
        ..request
    };
    assert_eq!(ok(render(&two, &Limits::default())).len(), 40_000);
}

#[test]
fn loops_inside_partials_count_against_the_budget() {
    let xs: Vec<u32> = (0..200).collect();
    let variables_json = json!({ "xs": xs }).to_string();
    let partials = [(
        "inner",
        "{{#each ../xs}}{{#each ../../xs}}{{/each}}{{/each}}",
    )];
    let request = Request {
        template: "{{#each xs}}{{> inner}}{{/each}}",
        variables_json: &variables_json,
        partials: &partials,
        required: &[],
    };
    let message = failed_message(render(&request, &Limits::default()));
    assert!(message.starts_with("render budget exceeded"), "{message}");
    let small = Limits {
        max_steps: 10,
        ..Limits::default()
    };
    let request = Request {
        template: "{{#each xs}}x{{/each}}",
        ..request
    };
    let message = failed_message(render(&request, &small));
    assert!(message.contains("more than the 10 allowed"), "{message}");
}

// What an instance keeps between calls (cache.rs): each test runs on its own thread, so it
// starts with an empty cache and registry, as a fresh instance does.

#[test]
fn a_kept_template_renders_as_a_freshly_parsed_one() {
    let template = "Hi {{name}}{{#if topic}}, about {{topic}}{{/if}}: {{> sig}}";
    let partials = [("sig", "-- {{name}}")];
    let first = ok(render_with(template, json!({"name": "Ada"}), &partials));
    let kept = crate::cache::kept();
    assert_eq!(kept, 2, "the main template and its partial are kept");
    let second = ok(render_with(
        template,
        json!({"name": "Bo", "topic": "x"}),
        &partials,
    ));
    assert_eq!(first, "Hi Ada: -- Ada");
    assert_eq!(second, "Hi Bo, about x: -- Bo");
    assert_eq!(
        crate::cache::kept(),
        kept,
        "the second call parsed nothing new"
    );
}

#[test]
fn one_calls_partials_are_gone_in_the_next() {
    ok(render_with(
        "{{> 'my part'}}",
        json!({}),
        &[("my part", "P")],
    ));
    // The same names, now unsupplied: refused as if no earlier call had registered them.
    for template in ["{{> 'my part'}}", "{{> [my part]}}"] {
        match render_vars(template, json!({})) {
            Err(RenderFailure::MissingPartial(name)) => assert_eq!(name, "my part"),
            other => panic!("expected MissingPartial, got {other:?}"),
        }
    }
    // A partial of the same name with other text renders that text.
    let out = ok(render_with(
        "{{> 'my part'}}",
        json!({}),
        &[("my part", "Q")],
    ));
    assert_eq!(out, "Q");
}

#[test]
fn templates_that_do_not_parse_are_not_kept() {
    for _ in 0..2 {
        assert!(matches!(
            render_vars("{{#if x}}unclosed", json!({})),
            Err(RenderFailure::Syntax(_))
        ));
    }
    assert_eq!(crate::cache::kept(), 0);
}

#[test]
fn the_cache_is_bounded() {
    for i in 0..300 {
        let template = format!("{i}: {{{{v}}}}");
        assert_eq!(
            ok(render_vars(&template, json!({"v": i}))),
            format!("{i}: {i}")
        );
    }
    assert!(crate::cache::kept() <= 128, "kept {}", crate::cache::kept());
    // A template too large to keep still renders, every time.
    let big = format!("{}{{{{v}}}}", "x".repeat(100 * 1024));
    for _ in 0..2 {
        assert!(ok(render_vars(&big, json!({"v": 1}))).ends_with('1'));
    }
}
