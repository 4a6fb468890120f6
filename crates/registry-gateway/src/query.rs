//! Query strings read exactly as Go's `net/url.ParseQuery` reads them, so the gateway decides on the
//! same parameters the upstream (`distribution`, written in Go) will act on, and forwards only a
//! canonical query it rebuilt itself.
//!
//! Why: matching literal keys is not enough. Go percent-decodes keys, so `%6Dount=` *is* `mount` to
//! the upstream; a gateway that strips `mount=` by string comparison lets the encoded spelling through.
//! Here every key and value is decoded with Go's rules (`+` → space, `%XX` → byte), decisions are made
//! on the decoded form, and what goes upstream is re-encoded by us from the decoded values, so the
//! upstream can never read anything other than what we checked.
//!
//! Where Go is lenient (it silently skips pieces with a `;` or a bad escape, and keeps non-UTF-8
//! bytes), we refuse the whole query instead: another reader in the chain (a proxy, a log pipeline,
//! an older Go) might read those pieces differently, and "could be read two ways" is exactly the
//! ambiguity this module exists to remove.

use std::collections::HashSet;

use url::form_urlencoded;

/// Why a query was refused. The message is meant for logs and error bodies; it quotes at most a
/// three-byte escape, never the whole (attacker-supplied) query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// Every (key, value) pair, decoded as Go does, in order. Unlike Go, anything Go would silently skip
/// (a `;`, a bad escape, non-UTF-8 after decoding) is an error: the gateway refuses what could be read two ways.
pub fn parse_go_query(raw: &str) -> Result<Vec<(String, String)>, QueryError> {
    let mut pairs = Vec::new();
    // Go (>= 1.17) splits on `&` only; `;` used to be a separator too, which is why Go now rejects
    // (and skips) any piece containing one rather than guessing. We reject the whole query.
    for piece in raw.split('&') {
        if piece.contains(';') {
            return Err(QueryError(
                "invalid semicolon separator in query".to_owned(),
            ));
        }
        // Go skips empty pieces (`a=1&&b=2`, a trailing `&`) without error, so do we: they carry
        // nothing either reader could act on.
        if piece.is_empty() {
            continue;
        }
        // Split at the *first* `=`: later ones belong to the value (`_state=abc==` keeps its padding).
        // No `=` at all means a key with an empty value, as in Go.
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        pairs.push((query_unescape(key)?, query_unescape(value)?));
    }
    Ok(pairs)
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` (either case) is a byte, a `%` without two hex
/// digits after it is an error, and every other byte is kept as is (Go does not reject raw spaces or
/// control characters here, so neither do we: refusing them would not change what upstream reads).
fn query_unescape(s: &str) -> Result<String, QueryError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    // Same snippet Go's EscapeError carries: the `%` and up to two bytes after it.
                    let end = (i + 3).min(bytes.len());
                    let snippet = String::from_utf8_lossy(&bytes[i..end]);
                    return Err(QueryError(format!(
                        "invalid URL escape {snippet:?} in query"
                    )));
                };
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    // Go would hand the upstream these raw bytes; Rust strings cannot hold them, and a key like
    // `mount\xff` is meaningless to us anyway. Refuse rather than lossily map it to something else.
    String::from_utf8(out)
        .map_err(|_| QueryError("query parameter is not valid UTF-8 after decoding".to_owned()))
}

/// Go's `unhex`, restricted to what `ishex` accepts.
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A query reduced to the parameters one route forwards.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CanonicalQuery {
    /// Kept pairs (decoded), in the order of `allowed`.
    pub values: Vec<(String, String)>,
    /// Decoded keys that were present but not allowed (each once), for logging.
    pub dropped: Vec<String>,
}

impl CanonicalQuery {
    /// The decoded value of a kept key (keys are unique in `values`, see [`canonical_query`]).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The query to send upstream, re-encoded by us (`application/x-www-form-urlencoded` serializer
    /// from the `url` crate's `form_urlencoded`), or `None` when nothing is kept.
    ///
    /// Re-encoding (instead of forwarding the client's bytes) is the point: the serializer escapes
    /// every byte outside `[A-Za-z0-9*-._]` (space as `+`), which Go decodes back to exactly these
    /// values, so the upstream reads what we checked and nothing else.
    pub fn encoded(&self) -> Option<String> {
        if self.values.is_empty() {
            return None;
        }
        Some(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(self.values.iter())
                .finish(),
        )
    }

    /// `path` plus `?encoded` when there is a query.
    pub fn with_path(&self, path: &str) -> String {
        match self.encoded() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        }
    }
}

/// Parses `raw` (the request's raw query, `None` when absent) and keeps only keys in `allowed` (exact,
/// case-sensitive match after decoding, as Go's map lookup is). A kept key given more than once is an
/// error (Go takes the first, other readers the last). Keys not allowed are dropped (listed in `dropped`).
pub fn canonical_query(raw: Option<&str>, allowed: &[&str]) -> Result<CanonicalQuery, QueryError> {
    let pairs = match raw {
        Some(raw) => parse_go_query(raw)?,
        None => Vec::new(),
    };

    let mut canonical = CanonicalQuery::default();
    for &key in allowed {
        // Tolerate a route listing a key twice rather than emitting it twice.
        if canonical.values.iter().any(|(k, _)| k == key) {
            continue;
        }
        let mut matching = pairs.iter().filter(|(k, _)| k == key);
        if let Some((_, value)) = matching.next() {
            // `Get` in Go returns the first value; many other parsers return the last. Whichever one
            // we checked, the other might be what acts, so a repeated kept key is refused outright.
            if matching.next().is_some() {
                return Err(QueryError(format!(
                    "query parameter {key:?} given more than once"
                )));
            }
            canonical.values.push((key.to_owned(), value.clone()));
        }
    }

    // Dropped keys never reach the upstream, so repeats are harmless; list each once. A set keeps this
    // linear in the number of (client-controlled) pairs.
    let mut seen = HashSet::new();
    for (key, _) in &pairs {
        if !allowed.contains(&key.as_str()) && seen.insert(key.as_str()) {
            canonical.dropped.push(key.clone());
        }
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(raw: &str) -> Vec<(String, String)> {
        parse_go_query(raw).unwrap()
    }

    fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn literal_and_encoded_keys_decode_to_the_same_word() {
        for raw in [
            "mount=a",
            "%6Dount=a",
            "%6dount=a",
            "m%6Funt=a",
            "%6D%6F%75%6E%74=a",
        ] {
            assert_eq!(pairs(raw), owned(&[("mount", "a")]), "{raw}");
        }
        // `+` is a space: `mount+` is the key "mount ", which the upstream does not read as mount.
        assert_eq!(pairs("mount+=a"), owned(&[("mount ", "a")]));
    }

    #[test]
    fn encoded_mount_and_from_are_dropped() {
        let q = canonical_query(
            Some("%6Dount=sha256:x&fr%6Fm=other/repo&digest=d"),
            &["digest"],
        )
        .unwrap();
        assert_eq!(q.values, owned(&[("digest", "d")]));
        assert_eq!(q.dropped, vec!["mount".to_owned(), "from".to_owned()]);
        assert_eq!(q.encoded().as_deref(), Some("digest=d"));
    }

    #[test]
    fn keys_match_case_sensitively() {
        // Go's map lookup is exact, so `Digest` is not `digest` upstream either.
        let q = canonical_query(Some("Digest=d"), &["digest"]).unwrap();
        assert_eq!(q.get("digest"), None);
        assert_eq!(q.dropped, vec!["Digest".to_owned()]);
    }

    #[test]
    fn percent_2b_is_plus_and_plus_is_space() {
        assert_eq!(
            pairs("a=%2B&b=+&c=%2b"),
            owned(&[("a", "+"), ("b", " "), ("c", "+")])
        );
    }

    #[test]
    fn semicolon_is_refused() {
        for raw in ["a=1;b=2", "digest=x&mount=y;", ";", "a%3Bb=1&c=2;"] {
            assert!(parse_go_query(raw).is_err(), "{raw}");
        }
        // An encoded semicolon is just a byte of a value, as in Go.
        assert_eq!(pairs("a=%3B"), owned(&[("a", ";")]));
    }

    #[test]
    fn bad_escapes_are_refused() {
        for raw in ["a=%", "a=%4", "a=%zz", "%=a", "m%6ount=a", "a=%4g", "a=%g4"] {
            let err = parse_go_query(raw).unwrap_err();
            assert!(err.0.contains("invalid URL escape"), "{raw}: {err}");
        }
        assert!(canonical_query(Some("digest=x&junk=%"), &["digest"]).is_err());
    }

    #[test]
    fn non_utf8_is_refused() {
        assert!(parse_go_query("a=%ff").is_err());
        assert!(parse_go_query("mount%ff=a").is_err());
        assert!(parse_go_query("a=%C3").is_err());
        // A complete multi-byte sequence is fine.
        assert_eq!(pairs("a=%C3%A9"), owned(&[("a", "é")]));
    }

    #[test]
    fn repeated_allowed_key_is_refused() {
        let err = canonical_query(Some("digest=a&digest=b"), &["digest"]).unwrap_err();
        assert!(err.0.contains("more than once"), "{err}");
        // Also when the repeats are spelled differently.
        assert!(canonical_query(Some("digest=a&%64igest=b"), &["digest"]).is_err());
    }

    #[test]
    fn repeated_dropped_key_is_fine() {
        let q = canonical_query(Some("mount=a&digest=d&mount=b&%6Dount=c"), &["digest"]).unwrap();
        assert_eq!(q.values, owned(&[("digest", "d")]));
        assert_eq!(q.dropped, vec!["mount".to_owned()]);
    }

    #[test]
    fn empty_pieces_are_skipped() {
        assert_eq!(pairs("&&digest=x&"), owned(&[("digest", "x")]));
        assert_eq!(pairs(""), Vec::new());
        assert_eq!(
            canonical_query(None, &["digest"]).unwrap(),
            CanonicalQuery::default()
        );
        assert_eq!(
            canonical_query(Some(""), &["digest"]).unwrap(),
            CanonicalQuery::default()
        );
    }

    #[test]
    fn key_without_equals_has_empty_value() {
        assert_eq!(
            pairs("mount&digest"),
            owned(&[("mount", ""), ("digest", "")])
        );
        assert_eq!(pairs("=v"), owned(&[("", "v")]));
        let q = canonical_query(Some("digest"), &["digest"]).unwrap();
        assert_eq!(q.get("digest"), Some(""));
        assert_eq!(q.encoded().as_deref(), Some("digest="));
    }

    #[test]
    fn values_keep_everything_after_the_first_equals() {
        assert_eq!(
            pairs("_state=abc==&x=a=b"),
            owned(&[("_state", "abc=="), ("x", "a=b")])
        );
    }

    #[test]
    fn state_values_round_trip() {
        let raw = "_state=ab%2Bc%2Fd%3D%3D&digest=sha256%3Aabc&other=x+y";
        let first = canonical_query(Some(raw), &["digest", "_state", "other"]).unwrap();
        assert_eq!(first.get("_state"), Some("ab+c/d=="));
        assert_eq!(first.get("digest"), Some("sha256:abc"));
        assert_eq!(first.get("other"), Some("x y"));
        // Kept in the order of `allowed`, not of the request.
        let keys: Vec<&str> = first.values.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["digest", "_state", "other"]);

        let encoded = first.encoded().unwrap();
        let second = canonical_query(Some(&encoded), &["digest", "_state", "other"]).unwrap();
        assert_eq!(second.values, first.values);
        assert_eq!(second.encoded().unwrap(), encoded);
    }

    #[test]
    fn with_path_appends_only_a_non_empty_query() {
        let q = canonical_query(Some("digest=sha256%3Aab&mount=x"), &["digest"]).unwrap();
        assert_eq!(
            q.with_path("/v2/t/blobs/uploads/u"),
            "/v2/t/blobs/uploads/u?digest=sha256%3Aab"
        );
        let empty = canonical_query(Some("mount=x&from=y"), &["digest"]).unwrap();
        assert_eq!(empty.encoded(), None);
        assert_eq!(
            empty.with_path("/v2/t/blobs/uploads/"),
            "/v2/t/blobs/uploads/"
        );
    }

    /// Spells `word` with each character either literal or `%XX` in upper or lower case hex.
    fn spell(word: &str, choices: &[u8]) -> String {
        word.bytes()
            .zip(choices.iter().cycle())
            .map(|(b, choice)| match choice {
                0 => (b as char).to_string(),
                1 => format!("%{b:02X}"),
                _ => format!("%{b:02x}"),
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn form_urlencoded_pairs_parse_back_exactly(
            input in prop::collection::vec((".*", ".*"), 0..8)
        ) {
            let raw = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(input.iter())
                .finish();
            prop_assert_eq!(parse_go_query(&raw).unwrap(), input);
        }

        #[test]
        fn every_spelling_of_mount_from_digest_decodes_to_the_word(
            mount in prop::collection::vec(0u8..3, 5),
            from in prop::collection::vec(0u8..3, 4),
            digest in prop::collection::vec(0u8..3, 6),
        ) {
            let (m, f, d) = (spell("mount", &mount), spell("from", &from), spell("digest", &digest));
            let raw = format!("{m}=sha256:x&{f}=other/repo&{d}=sha256:y");
            prop_assert_eq!(
                parse_go_query(&raw).unwrap(),
                owned(&[("mount", "sha256:x"), ("from", "other/repo"), ("digest", "sha256:y")])
            );
            let q = canonical_query(Some(&raw), &["digest"]).unwrap();
            prop_assert_eq!(q.values, owned(&[("digest", "sha256:y")]));
            prop_assert_eq!(q.dropped, vec!["mount".to_owned(), "from".to_owned()]);
        }
    }
}
