//! Best-effort scan of the variable names a Handlebars template refers to.
//!
//! Only used to report `applied-variables`; rendering itself is the renderer plugin's
//! job, so this does not need to be a parser. It may over-report names used inside
//! `{{#each}}` blocks (item fields look like top-level variables), which is harmless:
//! a name is reported only if the caller supplied a value for it.

use std::collections::BTreeSet;

/// Names referenced by `{{...}}` tags in `template`: for `{{a.b}}` both `a.b` and `a`.
pub fn referenced_names(template: &str, out: &mut BTreeSet<String>) {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        scan_tag(&after[..end], out);
        rest = &after[end + 2..];
    }
}

fn scan_tag(tag: &str, out: &mut BTreeSet<String>) {
    // `{{{raw}}}`, `{{~trim~}}`, `{{&unescaped}}`.
    let tag = tag.trim_matches(|c: char| c == '{' || c == '}' || c == '~' || c.is_whitespace());
    let (sigil, body) = match tag.chars().next() {
        Some(c @ ('#' | '^' | '/' | '>' | '!' | '&')) => (Some(c), &tag[c.len_utf8()..]),
        _ => (None, tag),
    };
    // Comments, partials (fetched separately) and block ends reference nothing new.
    if matches!(sigil, Some('!' | '>' | '/')) {
        return;
    }
    let tokens: Vec<&str> = body.split_whitespace().collect();
    // `{{x}}` / `{{#x}}`: the token is the variable; `{{helper a b=c}}`: the arguments.
    let args: &[&str] = match tokens.as_slice() {
        [] => &[],
        [single] => std::slice::from_ref(single),
        [_helper, args @ ..] => args,
    };
    for arg in args {
        // `(helper x)`: the first word of a subexpression is a helper, not a variable.
        if arg.starts_with('(') {
            continue;
        }
        let arg = arg.rsplit('=').next().unwrap_or(arg);
        let arg = arg.trim_matches(|c| c == '(' || c == ')');
        add_path(arg, out);
    }
}

fn add_path(path: &str, out: &mut BTreeSet<String>) {
    if path.is_empty()
        || matches!(
            path,
            "else" | "this" | "true" | "false" | "null" | "undefined"
        )
        || path.starts_with(['@', '.', '"', '\''])
        || path.starts_with(|c: char| c.is_ascii_digit() || c == '-')
    {
        return;
    }
    if !path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
    {
        return;
    }
    let root = path.split(['.', '/']).next().unwrap_or(path);
    out.insert(root.to_owned());
    out.insert(path.to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(t: &str) -> Vec<String> {
        let mut set = BTreeSet::new();
        referenced_names(t, &mut set);
        set.into_iter().collect()
    }

    #[test]
    fn finds_variables_in_common_tags() {
        assert_eq!(
            names("Hi {{name}}, {{ task }} {{{raw}}} {{~trim~}}"),
            ["name", "raw", "task", "trim"]
        );
        assert_eq!(
            names("{{#if flag}}a{{else}}b{{/if}} {{#each items}}{{this}} {{@index}}{{/each}}"),
            ["flag", "items"]
        );
        assert_eq!(names("{{user.name}}"), ["user", "user.name"]);
        assert_eq!(
            names("{{> header}} {{! note}} {{!-- x --}}"),
            Vec::<String>::new()
        );
        assert_eq!(
            names("{{upper who}} {{join list sep=\", \"}}"),
            ["list", "who"]
        );
        assert_eq!(names("{{#section}}x{{/section}}"), ["section"]);
        assert_eq!(names("unterminated {{x"), Vec::<String>::new());
        assert_eq!(names("{{#if (eq a \"b\")}}{{/if}}"), ["a"]);
    }
}
