//! Where to send a user after login: only to a path on this site, never to another origin.

use percent_encoding::percent_decode_str;

/// The longest `next` kept; anything longer is not a link a user followed.
const MAX_LEN: usize = 2048;

/// Returns `raw` when it is a same-site relative path (`/dashboard?tab=1`), else `None`.
///
/// Refused: absolute and scheme-relative URLs (`https://x`, `//x`, `/\x`), any backslash (browsers
/// read it as a slash), control characters and whitespace (browsers strip tabs and newlines, which
/// turns `/\t/x` into `//x`), anything that is not printable ASCII, and values whose percent-decoded
/// form would be one of those (`/%2F%2Fevil.example`), decoded repeatedly in case of double encoding.
pub fn safe_next(raw: &str) -> Option<String> {
    if raw.len() > MAX_LEN || !is_safe_path(raw) {
        return None;
    }
    let mut current = raw.to_owned();
    for _ in 0..3 {
        // Invalid UTF-8 once decoded is not a path any page of ours links to.
        let decoded = percent_decode_str(&current).decode_utf8().ok()?.into_owned();
        if decoded == current {
            return Some(raw.to_owned());
        }
        if !starts_safely(&decoded)
            || decoded.contains('\\')
            || decoded.chars().any(char::is_control)
            || has_dot_segment(&decoded)
        {
            return None;
        }
        current = decoded;
    }
    // Still changing after three decodings: nobody links like that but an attacker.
    None
}

fn is_safe_path(path: &str) -> bool {
    starts_safely(path)
        && path.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'\\' | b'"' | b'<' | b'>'))
        && !has_dot_segment(path)
}

/// A `.` or `..` segment: a browser resolves `/..//evil.example` to `//evil.example`, which a proxy
/// that normalises paths could turn into another origin. No page of ours links with one.
fn has_dot_segment(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.split('/').any(|segment| matches!(segment, "." | ".."))
}

fn starts_safely(path: &str) -> bool {
    let mut chars = path.chars();
    chars.next() == Some('/') && !matches!(chars.next(), Some('/' | '\\'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dot_segments_and_markup_characters_are_refused_raw_or_encoded() {
        for bad in [
            "/..//evil.example",
            "/%2e%2e//evil.example",
            "/%2E%2E/%2Fevil.example",
            "/./dashboard",
            "/a/../b",
            "/a/%2e/b",
            "/\"onmouseover=x",
            "/<script>",
            "/a>b",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(
            safe_next("/a..b/c.d?x=../y").as_deref(),
            Some("/a..b/c.d?x=../y"),
            "dots inside names are fine"
        );
    }

    #[test]
    fn plain_paths_with_queries_are_kept() {
        for ok in ["/", "/dashboard", "/account?tab=sessions", "/a/b/c?x=1&y=%20z#frag", "/a%20b"] {
            assert_eq!(safe_next(ok).as_deref(), Some(ok), "{ok}");
        }
    }

    #[test]
    fn absolute_and_scheme_relative_urls_are_refused() {
        for bad in [
            "https://evil.example/",
            "http://evil.example",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "evil.example",
            "dashboard",
            "",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            " /dashboard",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn backslashes_control_characters_and_whitespace_are_refused() {
        for bad in ["/\t/evil.example", "/\n/evil.example", "/a\\b", "/a b", "/\r\n", "/\u{0}", "/caf\u{e9}"]
        {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn encoded_forms_of_unsafe_paths_are_refused() {
        for bad in [
            "/%2F%2Fevil.example",
            "/%2fevil.example",
            "/%5Cevil.example",
            "/%09/evil.example",
            "/%0a",
            "/%252F%252Fevil.example",
            "/%25252F/evil.example",
            "/%ff",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn whatever_is_accepted_is_a_single_slash_path_of_printable_ascii(raw in any::<String>()) {
            if let Some(path) = safe_next(&raw) {
                prop_assert_eq!(&path, &raw);
                prop_assert!(path.starts_with('/'));
                prop_assert!(!path.starts_with("//"));
                prop_assert!(path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\'));
            }
        }

        #[test]
        fn anything_with_a_scheme_or_authority_is_refused(
            scheme in "[a-zA-Z][a-zA-Z0-9+.-]{0,10}",
            host in "[a-z0-9.-]{1,20}",
            rest in "[ -~]{0,20}",
        ) {
            let scheme_url = format!("{scheme}:{rest}");
            let authority_url = format!("//{host}/{rest}");
            prop_assert_eq!(safe_next(&scheme_url), None);
            prop_assert_eq!(safe_next(&authority_url), None);
        }

        #[test]
        fn percent_encoding_a_leading_slash_never_smuggles_an_authority(
            host in "[a-z0-9.-]{1,20}",
            encoded_slash in prop::sample::select(vec!["%2F", "%2f", "%5C", "%5c", "%252F", "%09"]),
        ) {
            let candidate = format!("/{encoded_slash}{host}");
            prop_assert_eq!(safe_next(&candidate), None);
        }

        #[test]
        fn ordinary_site_paths_survive(segments in prop::collection::vec("[a-z0-9_-]{1,12}", 1..5)) {
            let path = format!("/{}", segments.join("/"));
            prop_assert_eq!(safe_next(&path), Some(path.clone()));
        }
    }
}
