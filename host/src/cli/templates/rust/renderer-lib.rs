//! @NAME@: a template renderer. `{{name}}` is replaced by the variable `name` (a dotted
//! path such as `{{user.name}}` reads into objects); strings are inserted as they are,
//! other values as JSON, and a variable without a value renders as nothing.
//!
//! The rendering is plain Rust, unit-tested natively with `cargo test`; `glue` binds it
//! to the WIT world `renderer`.

use serde_json::Value;

/// Why a template was not rendered (mirrors the WIT `render-error` cases used here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// An opened `{{` without `}}`; `offset` is the byte offset of the `{{`.
    Syntax { message: String, offset: usize },
    MissingVariables(Vec<String>),
    Failed(String),
}

fn lookup<'a>(vars: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(vars, |v, part| v.get(part))
        .filter(|v| !v.is_null())
}

/// Renders `template` with `variables_json` (a JSON object); `required` names variables
/// that must have a value.
pub fn render(template: &str, variables_json: &str, required: &[String]) -> Result<String, Failure> {
    let vars: Value = serde_json::from_str(variables_json)
        .map_err(|e| Failure::Failed(format!("variables are not JSON: {e}")))?;
    let missing: Vec<String> = required
        .iter()
        .filter(|n| lookup(&vars, n).is_none())
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(Failure::MissingVariables(missing));
    }
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(Failure::Syntax {
                message: "unclosed {{".to_owned(),
                offset: template.len() - rest.len() + start,
            });
        };
        match lookup(&vars, after[..end].trim()) {
            Some(Value::String(s)) => out.push_str(s),
            Some(v) => out.push_str(&v.to_string()),
            None => {}
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(target_arch = "wasm32")]
mod glue;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_variables() {
        let vars = r#"{"who": "Ada", "n": 3, "user": {"city": "Lyon"}}"#;
        assert_eq!(
            render("Hi {{ who }} ({{n}}) from {{user.city}}{{nope}}!", vars, &[]).unwrap(),
            "Hi Ada (3) from Lyon!"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            render("{{a}}", "{}", &["a".to_owned()]),
            Err(Failure::MissingVariables(vec!["a".to_owned()]))
        );
        assert!(matches!(render("x {{a", "{}", &[]), Err(Failure::Syntax { offset: 2, .. })));
        assert!(matches!(render("", "[", &[]), Err(Failure::Failed(_))));
    }
}
