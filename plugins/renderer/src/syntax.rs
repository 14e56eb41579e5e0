//! Short, readable messages for template syntax errors.
//!
//! For malformed input the handlebars parser reports the grammar rules it expected
//! (`expected escape, expression, html_expression, ... or hbs_comment_compact`), which
//! means nothing to a prompt author. The position is reported separately, so the
//! message only has to say what is wrong.

use handlebars::{TemplateError, TemplateErrorReason};

/// A one-line message for `error`, which occurred while parsing `source`.
pub fn message(error: &TemplateError, source: &str) -> String {
    match error.reason() {
        TemplateErrorReason::InvalidSyntax(detail) => {
            if error.pos().is_some_and(|pos| pos == end_position(source)) {
                // Only an unclosed block, tag or comment makes the parser run out of input.
                "unexpected end of template: a block, tag or comment is not closed".to_owned()
            } else {
                invalid_tag(detail)
            }
        }
        // Mismatched closing tags and the like already read well.
        other => other.to_string(),
    }
}

/// The 1-based `(line, column)` just past the last character, as the parser counts.
fn end_position(source: &str) -> (usize, usize) {
    let line = source.matches('\n').count() + 1;
    let last_line = source.rsplit('\n').next().unwrap_or_default();
    (line, last_line.chars().count() + 1)
}

/// Rewrites a pest message such as `unexpected X; expected A, B, or C` in plain words.
fn invalid_tag(detail: &str) -> String {
    let (unexpected, expected) = match detail.split_once("; ") {
        Some((unexpected, expected)) => (Some(unexpected), Some(expected)),
        None if detail.starts_with("unexpected") => (Some(detail), None),
        None => (None, Some(detail)),
    };
    let mut message = "invalid tag".to_owned();
    if unexpected.is_some_and(|text| text.contains("invert_tag_item")) {
        message.push_str(": unexpected \"else\"");
        return message;
    }
    let wanted = expected.map(expected_phrases).unwrap_or_default();
    if !wanted.is_empty() {
        message.push_str(": expected ");
        message.push_str(&join_alternatives(&wanted));
    }
    message
}

/// Plain-word names for the grammar rules in an `expected ...` list, deduplicated.
fn expected_phrases(expected: &str) -> Vec<&'static str> {
    let list = expected.trim_start_matches("expected ");
    let mut phrases: Vec<&'static str> = Vec::new();
    for rule in list.split(", ").map(|rule| rule.trim_start_matches("or ")) {
        let phrase = match rule.trim() {
            "identifier" | "opt_identifier" | "path_inline" | "path_id" | "reference"
            | "partial_identifier" => "a name",
            "helper_parameter" | "hash" | "literal" | "subexpression" => "a parameter",
            "trailing_tilde_to_omit_whitespace" => "\"}}\"",
            // Optional tokens (`~`) and block-level alternatives add nothing useful.
            _ => continue,
        };
        if !phrases.contains(&phrase) {
            phrases.push(phrase);
        }
    }
    phrases
}

fn join_alternatives(phrases: &[&str]) -> String {
    match phrases {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use handlebars::template::Template;

    use super::*;

    fn message_for(source: &str) -> String {
        match Template::compile(source) {
            Ok(_) => panic!("{source:?} parsed"),
            Err(error) => message(&error, source),
        }
    }

    #[test]
    fn unclosed_blocks_are_named() {
        let expected = "unexpected end of template: a block, tag or comment is not closed";
        assert_eq!(message_for("{{#if x}}abc"), expected);
        assert_eq!(
            message_for("a\n{{#each xs}}\n  é{{#if x}}{{/if}}"),
            expected
        );
    }

    #[test]
    fn malformed_tags_say_what_was_expected() {
        assert_eq!(
            message_for("{{oops} more"),
            "invalid tag: expected a name, a parameter or \"}}\""
        );
        assert_eq!(
            message_for("{{> }}"),
            "invalid tag: expected a name or a parameter"
        );
        assert_eq!(message_for("{{else}}"), "invalid tag: unexpected \"else\"");
    }

    #[test]
    fn other_reasons_keep_their_message() {
        assert_eq!(
            message_for("{{#if x}}{{/each}}"),
            "helper \"if\" was opened, but \"each\" is closing"
        );
    }
}
