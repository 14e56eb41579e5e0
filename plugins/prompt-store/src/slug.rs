//! Deriving an id from a prompt name.

/// Longest id the store accepts (see `validate`).
pub const MAX_ID_LEN: usize = 128;

/// Lowercases `name`, turns every run of non-alphanumeric characters into one `-` and
/// trims dashes from both ends, e.g. "Exclusive: Code Review ➜ Memory" becomes
/// "exclusive-code-review-memory". Only ASCII letters and digits survive because ids are
/// ASCII (they are kv keys and URL path segments). May return an empty string, e.g. for
/// a name made only of punctuation or non-Latin script; the caller reports that.
pub fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(MAX_ID_LEN));
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= MAX_ID_LEN {
            break;
        }
    }
    // `out` is ASCII, so truncating at a byte index is safe.
    out.truncate(MAX_ID_LEN);
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Basic Template"), "basic-template");
        assert_eq!(
            slugify("Exclusive: Code Review ➜ Memory ➜ Audio Summary"),
            "exclusive-code-review-memory-audio-summary"
        );
        assert_eq!(slugify("  --Hello,   World!!  "), "hello-world");
        assert_eq!(slugify("v2.0_beta"), "v2-0-beta");
        assert_eq!(slugify("!!!"), "");
        assert_eq!(slugify("Žluťoučký kůň"), "lu-ou-k-k");
        assert_eq!(slugify(""), "");
    }

    #[test]
    fn long_names_are_truncated_without_trailing_dash() {
        let name = format!("{} tail", "a".repeat(127));
        let s = slugify(&name);
        assert_eq!(s, "a".repeat(127));
        let s = slugify(&"ab ".repeat(100));
        assert_eq!(s.len(), MAX_ID_LEN);
        assert!(s.ends_with('b'));
    }
}
