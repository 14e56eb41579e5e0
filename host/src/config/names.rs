//! Syntax rules for values that several tables share: names that end up in storage keys,
//! browser origins and `host[:port]` authorities.

/// Name rules shared by tenants, plugins, namespaces and buckets: they end up in storage
/// keys and file names, so keep them to a safe alphabet.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// An origin as browsers serialize it: `scheme://host[:port]`, nothing else.
pub(super) fn is_valid_origin(o: &str) -> bool {
    let Some(rest) = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
    else {
        return false;
    };
    is_valid_authority(rest)
}

/// `host[:port]` without user info, path, query or fragment.
pub(super) fn is_valid_authority(a: &str) -> bool {
    !a.is_empty()
        && !a.contains(['/', '?', '#', '@', '\\'])
        && a.parse::<http::uri::Authority>()
            .is_ok_and(|x| !x.host().is_empty())
}
