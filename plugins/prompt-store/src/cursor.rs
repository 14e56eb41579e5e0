//! The opaque list cursor handed to clients.
//!
//! It records the last id returned and the kv cursor of the kv page that id was read
//! from. Resuming re-reads that kv page and skips every key up to and including the last
//! id, so a page that stopped in the middle of a kv page neither repeats nor skips items
//! (kv keys come back in ascending order). Both parts are hex-encoded: the result is
//! URL-safe and clients have no reason to look inside.
//!
//! Format: `hex(last_id)` or `hex(last_id) "." hex(kv_cursor)`.

use crate::validate::is_valid_id;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    /// Where to resume the kv query (`None`: from the start of the prefix).
    pub kv_cursor: Option<String>,
    /// The last id already returned.
    pub after_id: String,
}

pub fn encode(cursor: &ListCursor) -> String {
    let mut out = hex(cursor.after_id.as_bytes());
    if let Some(kv) = &cursor.kv_cursor {
        out.push('.');
        out.push_str(&hex(kv.as_bytes()));
    }
    out
}

/// `None` for anything this plugin did not produce.
pub fn decode(text: &str) -> Option<ListCursor> {
    let (id_part, kv_part) = match text.split_once('.') {
        Some((id, kv)) => (id, Some(kv)),
        None => (text, None),
    };
    let after_id = String::from_utf8(unhex(id_part)?).ok()?;
    if !is_valid_id(&after_id) {
        return None;
    }
    let kv_cursor = match kv_part {
        Some(kv) => Some(String::from_utf8(unhex(kv)?).ok()?),
        None => None,
    };
    Some(ListCursor {
        kv_cursor,
        after_id,
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for kv_cursor in [None, Some(String::new()), Some("opaque/ü.|x".to_owned())] {
            let c = ListCursor {
                kv_cursor,
                after_id: "basic-template".into(),
            };
            let text = encode(&c);
            assert!(
                text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.'),
                "{text}"
            );
            assert_eq!(decode(&text), Some(c));
        }
    }

    #[test]
    fn rejects_garbage() {
        let valid = encode(&ListCursor {
            kv_cursor: Some("k".into()),
            after_id: "a".into(),
        });
        assert!(decode(&valid).is_some());
        for bad in [
            "",
            "zz",
            "abc",
            "61.6",
            "61.zz",
            "61.62.63",
            &hex(b"a/b"),
            &hex(b"-a"),
            &hex(&[0xff, 0xfe]),
            "6A", // upper case is not what we emit
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
