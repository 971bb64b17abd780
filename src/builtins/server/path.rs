//! Request paths as Go's `ServeMux` sees them, made stricter where Go lets a path confuse a
//! handler (SPEC §12): routing uses the percent-decoded path with `.`/`..` segments and empty
//! segments removed; a path that is not already clean is answered with 301 to its clean form. An
//! encoded slash (`%2F`) stays inside its segment, so a segment that would hide a `..` behind one
//! is refused outright: no wildcard value can ever contain a `..` segment.

/// Why a path was refused (the client gets 400).
pub type Bad = &'static str;

/// What to do with a request path.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// Already clean: route it. Segments are decoded; a trailing slash is a final empty segment,
    /// and the root is one empty segment (as `"/a/"` splits into `a`, ``).
    Clean(Vec<Vec<u8>>),
    /// Not clean: redirect to this path (percent-encoded, without the query).
    Redirect(String),
    Bad(Bad),
}

/// Checks the path part of a request target (it starts with `/`; the query is already split off).
pub fn check(raw: &[u8]) -> Checked {
    let Some(rest) = raw.strip_prefix(b"/") else {
        return Checked::Bad("the request target must start with '/'");
    };
    let mut decoded = Vec::new();
    for seg in rest.split(|&b| b == b'/') {
        let d = match decode(seg) {
            Ok(d) => d,
            Err(e) => return Checked::Bad(e),
        };
        if d.contains(&b'/') && d.split(|&b| b == b'/').any(|p| p == b"." || p == b"..") {
            return Checked::Bad("an encoded slash next to a '.' or '..' segment");
        }
        decoded.push(d);
    }
    let clean = clean(&decoded);
    if clean == decoded {
        Checked::Clean(decoded)
    } else {
        Checked::Redirect(encode(&clean))
    }
}

/// Go's `cleanPath` on decoded segments: `.` and empty segments go, `..` removes the one before
/// (never above the root), and a trailing slash stays only if the path ended with one.
fn clean(segments: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(segments.len());
    for seg in segments {
        match seg.as_slice() {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            _ => out.push(seg.clone()),
        }
    }
    if segments.last().is_some_and(|s| s.is_empty()) || out.is_empty() {
        out.push(Vec::new());
    }
    out
}

/// Decodes `%XX` escapes in one segment. A malformed escape or an encoded NUL is refused.
pub fn decode(seg: &[u8]) -> Result<Vec<u8>, Bad> {
    if !seg.contains(&b'%') {
        return Ok(seg.to_vec());
    }
    let mut out = Vec::with_capacity(seg.len());
    let mut i = 0;
    while i < seg.len() {
        if seg[i] != b'%' {
            out.push(seg[i]);
            i += 1;
            continue;
        }
        let hex = |at: usize| seg.get(at).and_then(|&c| (c as char).to_digit(16));
        match (hex(i + 1), hex(i + 2)) {
            (Some(h), Some(l)) => {
                let b = (h * 16 + l) as u8;
                if b == 0 {
                    return Err("an encoded NUL in the path");
                }
                out.push(b);
                i += 3;
            }
            _ => return Err("a malformed percent-escape in the path"),
        }
    }
    Ok(out)
}

/// The path of `segments` as it is written in a URL: bytes outside RFC 3986's `pchar` (and `/`
/// inside a segment) percent-encoded.
pub fn encode(segments: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for seg in segments {
        out.push('/');
        for &b in seg {
            let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b);
            if keep {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// The decoded path a handler sees as `req.path`: the segments joined with `/`.
pub fn joined(segments: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(segments.iter().map(|s| s.len() + 1).sum());
    for seg in segments {
        out.push(b'/');
        out.extend_from_slice(seg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(raw: &str) -> String {
        match check(raw.as_bytes()) {
            Checked::Clean(s) => format!("ok {}", String::from_utf8_lossy(&joined(&s))),
            Checked::Redirect(to) => format!("301 {to}"),
            Checked::Bad(why) => format!("400 {why}"),
        }
    }

    #[test]
    fn clean_paths_route_as_they_are() {
        assert_eq!(c("/"), "ok /");
        assert_eq!(c("/a/b"), "ok /a/b");
        assert_eq!(c("/a/b/"), "ok /a/b/");
        assert_eq!(c("/caf%C3%A9/x%20y"), "ok /café/x y");
        // `://` is ordinary path bytes; its `//` is cleaned like any other.
        assert_eq!(c("/a/x://y/admin"), "301 /a/x:/y/admin");
        assert_eq!(c("/a/x:/y/admin"), "ok /a/x:/y/admin");
        assert_eq!(c("/a.b/..c/c.."), "ok /a.b/..c/c..");
    }

    #[test]
    fn dot_segments_and_double_slashes_redirect_to_the_clean_path() {
        // Go's cleanPath cases, on decoded segments.
        assert_eq!(c("/public/../admin"), "301 /admin");
        assert_eq!(c("/a/./b"), "301 /a/b");
        assert_eq!(c("/a//b"), "301 /a/b");
        assert_eq!(c("//a"), "301 /a");
        assert_eq!(c("/a/."), "301 /a");
        assert_eq!(c("/a/b/.."), "301 /a");
        assert_eq!(c("/a/b/../"), "301 /a/");
        assert_eq!(c("/.."), "301 /");
        assert_eq!(c("/../../etc/passwd"), "301 /etc/passwd");
        assert_eq!(c("/a/%2e%2e/b"), "301 /b");
        assert_eq!(
            c("/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
            "301 /etc/passwd"
        );
        assert_eq!(c("/a/%2E/b%20c/"), "301 /a/b%20c/");
        assert_eq!(c("/x//"), "301 /x/");
    }

    #[test]
    fn encoded_slashes_stay_in_their_segment() {
        assert_eq!(
            check(b"/files/a%2Fb/c"),
            Checked::Clean(vec![b"files".to_vec(), b"a/b".to_vec(), b"c".to_vec()])
        );
        assert!(c("/files/..%2F..%2Fetc").starts_with("400"));
        assert!(c("/files/a%2F.").starts_with("400"));
        assert!(c("/files/%2E%2E%2fx").starts_with("400"));
        assert_eq!(c("/a/%2Fb/.."), "301 /a");
    }

    #[test]
    fn bad_escapes_and_nul_are_refused() {
        assert!(c("/a%zz").starts_with("400"));
        assert!(c("/a%2").starts_with("400"));
        assert!(c("/a%").starts_with("400"));
        assert!(c("/a%00b").starts_with("400"));
        assert!(c("a/b").starts_with("400"));
    }

    #[test]
    fn redirect_targets_are_encoded() {
        let segs = vec![b"a b".to_vec(), "é".as_bytes().to_vec(), b"x/y%".to_vec()];
        assert_eq!(encode(&segs), "/a%20b/%C3%A9/x%2Fy%25");
        // What is encoded decodes back to the same segments.
        match check(encode(&segs).as_bytes()) {
            Checked::Clean(s) => assert_eq!(s, segs),
            other => panic!("{other:?}"),
        }
    }
}
