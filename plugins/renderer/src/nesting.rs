//! A cheap lexical bound on block nesting, checked before a template is parsed.
//!
//! The handlebars parser, its renderer and even dropping a parsed template recurse once per
//! nesting level, and the guest runs on a 256 KiB stack: a template with thousands of nested
//! `{{#if}}` blocks (or a long `{{else if}}` chain, which nests in the parsed tree) would
//! overflow it and trap. This scan runs before any of that. It over-approximates the depth
//! of the parsed tree (it ignores comments, raw blocks and escapes), which only matters for
//! templates that are absurd anyway.

/// How deeply blocks may nest within one template or partial.
pub const MAX_BLOCK_DEPTH: usize = 64;

/// What a `{{` tag does to block nesting.
#[derive(Debug, PartialEq, Eq)]
enum Tag {
    /// `{{#...}}`: opens a block (helper, decorator or partial block).
    Open,
    /// `{{else x}}` / `{{^x}}`: a chained inverse, nested inside the block it continues.
    Chain,
    /// `{{/...}}`: closes the innermost open block with its whole chain.
    Close,
    /// Anything else.
    Other,
}

/// Returns the deepest block nesting found in `source`, stopping early once it exceeds
/// `limit` (so the result is `> limit` exactly when the template nests too deeply).
pub fn block_depth(source: &str, limit: usize) -> usize {
    // Depth before each open block, so that a close also unwinds the chain inside it.
    let mut open: Vec<usize> = Vec::new();
    let mut depth = 0;
    let mut deepest = 0;
    let mut rest = source;
    while let Some(at) = rest.find("{{") {
        rest = &rest[at + 2..];
        match classify(rest) {
            Tag::Open => {
                open.push(depth);
                depth += 1;
            }
            Tag::Chain => depth += 1,
            Tag::Close => depth = open.pop().unwrap_or(0),
            Tag::Other => {}
        }
        deepest = deepest.max(depth);
        if deepest > limit {
            break;
        }
    }
    deepest
}

/// Classifies the tag whose text starts right after `{{`.
fn classify(after_braces: &str) -> Tag {
    // The grammar allows a `~` and whitespace between `{{` and the tag's sigil.
    let tag = after_braces
        .trim_start_matches('~')
        .trim_start_matches([' ', '\t', '\r', '\n']);
    if tag.starts_with('#') {
        Tag::Open
    } else if tag.starts_with('/') {
        Tag::Close
    } else if is_chain(tag) {
        Tag::Chain
    } else {
        Tag::Other
    }
}

/// `else` or `^` followed by an expression (a bare `{{else}}` / `{{^}}` does not nest).
fn is_chain(tag: &str) -> bool {
    let rest = if let Some(rest) = tag.strip_prefix("else") {
        // `{{elsewhere}}` is a variable, not an `else`.
        if !rest.starts_with([' ', '\t', '\r', '\n']) {
            return false;
        }
        rest
    } else if let Some(rest) = tag.strip_prefix('^') {
        rest
    } else {
        return false;
    };
    let rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
    !(rest.starts_with('~') || rest.starts_with("}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nested_blocks() {
        assert_eq!(block_depth("plain {{x}}", 10), 0);
        assert_eq!(block_depth("{{#if a}}{{#each b}}{{/each}}{{/if}}", 10), 2);
        assert_eq!(block_depth("{{#if a}}{{/if}}{{#if b}}{{/if}}", 10), 1);
        assert_eq!(block_depth("{{~ #if a ~}}{{~/if~}}", 10), 1);
    }

    #[test]
    fn else_chains_nest_until_closed() {
        let chain = "{{#if a}}{{else if b}}{{else if c}}{{else}}{{/if}}{{#if d}}{{/if}}";
        assert_eq!(block_depth(chain, 10), 3);
        assert_eq!(block_depth("{{#if a}}{{^}}{{/if}}{{elsewhere}}", 10), 1);
    }

    #[test]
    fn stops_past_the_limit() {
        let deep = "{{#if a}}".repeat(10_000);
        assert_eq!(block_depth(&deep, MAX_BLOCK_DEPTH), MAX_BLOCK_DEPTH + 1);
    }
}
