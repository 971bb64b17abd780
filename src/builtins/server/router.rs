//! Request routing with Go 1.22 `ServeMux` semantics: exact paths, `/prefix/` subtrees, `/` as the
//! catch-all, `{name}` and `{name...}` wildcards, `{$}` to anchor a trailing slash, an optional method
//! (`"POST /items"`, where `GET` also serves `HEAD`). The most specific matching pattern wins; a path
//! that only matches under other methods is a 405, nothing at all a 404.

/// One piece of a pattern's path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}`: exactly one non-empty segment.
    Wild(String),
    /// `{name...}` or a trailing `/`: the rest of the path (possibly empty). The name is empty for
    /// the anonymous trailing-slash form.
    Rest(String),
    /// `{$}`: the path ends here, after a trailing slash.
    End,
}

/// A parsed pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    pub text: String,
    method: Option<String>,
    segments: Vec<Segment>,
}

impl Pattern {
    /// Parses `"[METHOD ]/path"`; the error says what is wrong with the pattern.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let trimmed = text.trim();
        let (method, path) = match trimmed.split_once([' ', '\t']) {
            Some((m, p)) => (Some(m.to_string()), p.trim()),
            None => (None, trimmed),
        };
        if let Some(m) = &method {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(format!("invalid method '{m}' in pattern '{text}'"));
            }
        }
        if !path.starts_with('/') {
            return Err(format!(
                "pattern '{text}' must start with '/' (after an optional method)"
            ));
        }
        let parts: Vec<&str> = path[1..].split('/').collect();
        let mut segments = Vec::new();
        let mut names = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if part.is_empty() {
                if last {
                    segments.push(Segment::Rest(String::new()));
                    continue;
                }
                if i + 1 < parts.len() {
                    return Err(format!("pattern '{text}' has an empty segment"));
                }
            }
            if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if inner == "$" {
                    if !last {
                        return Err(format!(
                            "'{{$}}' must be the last segment of pattern '{text}'"
                        ));
                    }
                    segments.push(Segment::End);
                    continue;
                }
                let (name, rest) = match inner.strip_suffix("...") {
                    Some(n) => (n, true),
                    None => (inner, false),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    return Err(format!("bad wildcard '{{{inner}}}' in pattern '{text}'"));
                }
                if names.contains(&name.to_string()) {
                    return Err(format!(
                        "wildcard '{name}' appears twice in pattern '{text}'"
                    ));
                }
                names.push(name.to_string());
                if rest {
                    if !last {
                        return Err(format!(
                            "'{{{inner}}}' must be the last segment of pattern '{text}'"
                        ));
                    }
                    segments.push(Segment::Rest(name.to_string()));
                } else {
                    segments.push(Segment::Wild(name.to_string()));
                }
            } else if part.contains('{') || part.contains('}') {
                return Err(format!(
                    "a wildcard must be a whole segment in pattern '{text}'"
                ));
            } else {
                segments.push(Segment::Literal(percent_decode(part, false)));
            }
        }
        Ok(Pattern {
            text: text.to_string(),
            method,
            segments,
        })
    }

    /// Whether two patterns match exactly the same requests (Go refuses to register both).
    fn same_as(&self, other: &Pattern) -> bool {
        let shape = |p: &Pattern| {
            p.segments
                .iter()
                .map(|s| match s {
                    Segment::Literal(l) => format!("L{l}"),
                    Segment::Wild(_) => "W".into(),
                    Segment::Rest(_) => "R".into(),
                    Segment::End => "E".into(),
                })
                .collect::<Vec<_>>()
        };
        self.method == other.method && shape(self) == shape(other)
    }

    /// Matches the path's decoded segments; returns the bound wildcards.
    fn match_path(&self, segs: &[Vec<u8>]) -> Option<Params> {
        let mut params = Vec::new();
        let mut i = 0;
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => {
                    if segs.get(i).map(Vec::as_slice) != Some(l.as_bytes()) {
                        return None;
                    }
                    i += 1;
                }
                Segment::Wild(name) => {
                    let s = segs.get(i).filter(|s| !s.is_empty())?;
                    params.push((name.clone(), s.clone()));
                    i += 1;
                }
                Segment::Rest(name) => {
                    if i >= segs.len() {
                        // "/a/" must not match "/a".
                        return None;
                    }
                    if !name.is_empty() {
                        params.push((name.clone(), segs[i..].join(&b'/')));
                    }
                    return Some(params);
                }
                Segment::End => {
                    return (i + 1 == segs.len() && segs[i].is_empty()).then_some(params);
                }
            }
        }
        (i == segs.len()).then_some(params)
    }

    /// Specificity for ranking matches of the same path: segment kinds in order (literal beats a
    /// wildcard beats the rest), then a method beats none.
    fn rank(&self) -> (Vec<u8>, bool) {
        let kinds = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) | Segment::End => 3,
                Segment::Wild(_) => 2,
                Segment::Rest(_) => 1,
            })
            .collect();
        (kinds, self.method.is_some())
    }

    fn allows(&self, method: &str) -> bool {
        match &self.method {
            None => true,
            Some(m) => m == method || m == "GET" && method == "HEAD",
        }
    }
}

/// Wildcard names and the (decoded) path pieces they bound.
pub type Params = Vec<(String, Vec<u8>)>;

/// What routing decided.
#[derive(Debug, PartialEq)]
pub enum Route<'a, T> {
    Found {
        target: &'a T,
        params: Params,
        pattern: &'a str,
    },
    NotFound,
    /// The path exists under other methods (listed for the `Allow` header).
    MethodNotAllowed(Vec<String>),
    /// A subtree is registered and the request named its root without the slash: the path to
    /// redirect to (percent-encoded).
    Redirect(String),
}

/// Patterns and what each leads to.
#[derive(Clone, Debug)]
pub struct Router<T> {
    routes: Vec<(Pattern, T)>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router { routes: Vec::new() }
    }
}

impl<T> Router<T> {
    /// Adds a pattern; an invalid pattern or one already registered is an error.
    pub fn add(&mut self, pattern: &str, target: T) -> Result<(), String> {
        let p = Pattern::parse(pattern)?;
        if let Some((old, _)) = self.routes.iter().find(|(o, _)| o.same_as(&p)) {
            return Err(format!(
                "pattern '{pattern}' conflicts with '{}', registered before",
                old.text
            ));
        }
        self.routes.push((p, target));
        Ok(())
    }

    /// Routes `method` and a clean path's decoded segments (`path::check`).
    pub fn route(&self, method: &str, segs: &[Vec<u8>]) -> Route<'_, T> {
        let mut best: Option<(&Pattern, &T, Params)> = None;
        let mut allowed: Vec<String> = Vec::new();
        for (p, t) in &self.routes {
            let Some(params) = p.match_path(segs) else {
                continue;
            };
            if !p.allows(method) {
                if let Some(m) = &p.method {
                    allowed.push(m.clone());
                    if m == "GET" {
                        allowed.push("HEAD".into());
                    }
                }
                continue;
            }
            if best.as_ref().is_none_or(|(b, _, _)| p.rank() > b.rank()) {
                best = Some((p, t, params));
            }
        }
        let ends_with_slash = segs.last().is_some_and(|s| s.is_empty());
        let with_slash = || {
            let mut w = segs.to_vec();
            w.push(Vec::new());
            w
        };
        if let Some((p, t, params)) = best {
            // A subtree pattern reached only through its catch-all parent: Go redirects "/dir" to
            // "/dir/" when "/dir/" is registered.
            if !ends_with_slash {
                let wsegs = with_slash();
                let better = self.routes.iter().any(|(q, _)| {
                    q.allows(method)
                        && q.rank() > p.rank()
                        && matches!(q.segments.last(), Some(Segment::Rest(n)) if n.is_empty())
                        && q.match_path(&wsegs).is_some()
                });
                if better {
                    return Route::Redirect(super::path::encode(&wsegs));
                }
            }
            return Route::Found {
                target: t,
                params,
                pattern: &p.text,
            };
        }
        if !allowed.is_empty() {
            allowed.sort();
            allowed.dedup();
            return Route::MethodNotAllowed(allowed);
        }
        if !ends_with_slash {
            let wsegs = with_slash();
            if self
                .routes
                .iter()
                .any(|(q, _)| q.allows(method) && q.match_path(&wsegs).is_some())
            {
                return Route::Redirect(super::path::encode(&wsegs));
            }
        }
        Route::NotFound
    }

    /// Every method some pattern names (`OPTIONS *` lists them); `None` when a pattern without a
    /// method makes every method possible.
    pub fn methods(&self) -> Option<Vec<String>> {
        let mut all = Vec::new();
        for (p, _) in &self.routes {
            match &p.method {
                None => return None,
                Some(m) => {
                    all.push(m.clone());
                    if m == "GET" {
                        all.push("HEAD".into());
                    }
                }
            }
        }
        all.push("OPTIONS".into());
        all.sort();
        all.dedup();
        Some(all)
    }
}

/// Decodes `%XX` escapes (and `+` as a space when `plus` is set, for query strings). Invalid escapes
/// stay as they are; invalid UTF-8 is replaced.
pub fn percent_decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a query string into decoded `(name, value)` pairs, in order.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split(['&', ';'])
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k, true), percent_decode(v, true)),
            None => (percent_decode(p, true), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(patterns: &[&str]) -> Router<String> {
        let mut r = Router::default();
        for p in patterns {
            r.add(p, p.to_string()).unwrap();
        }
        r
    }

    fn segs(path: &str) -> Vec<Vec<u8>> {
        match crate::builtins::server::path::check(path.as_bytes()) {
            crate::builtins::server::path::Checked::Clean(s) => s,
            other => panic!("{path}: {other:?}"),
        }
    }

    fn found(r: &Router<String>, method: &str, path: &str) -> String {
        match r.route(method, &segs(path)) {
            Route::Found { target, .. } => target.clone(),
            Route::NotFound => "404".into(),
            Route::MethodNotAllowed(m) => format!("405 {}", m.join(",")),
            Route::Redirect(to) => format!("301 {to}"),
        }
    }

    #[test]
    fn patterns_times_paths() {
        let r = router(&[
            "/",
            "/about",
            "/static/",
            "/static/css/",
            "/users/{id}",
            "/users/{id}/posts/{post}",
            "/users/me",
            "POST /items",
            "GET /items",
            "DELETE /items/{id}",
            "/files/{path...}",
            "/exact/{$}",
            "/home/{$}",
        ]);
        let cases = [
            ("GET", "/", "/"),
            ("GET", "/nothing/here", "/"),
            ("GET", "/about", "/about"),
            ("GET", "/about/", "/"),
            ("GET", "/static/", "/static/"),
            ("GET", "/static/a/b.js", "/static/"),
            ("GET", "/static/css/x.css", "/static/css/"),
            ("GET", "/static", "301 /static/"),
            ("GET", "/users/42", "/users/{id}"),
            ("GET", "/users/me", "/users/me"),
            ("GET", "/users/42/posts/7", "/users/{id}/posts/{post}"),
            ("POST", "/items", "POST /items"),
            ("GET", "/items", "GET /items"),
            ("HEAD", "/items", "GET /items"),
            ("PUT", "/items", "/"), // the catch-all takes any method, as in Go
            ("DELETE", "/items/3", "DELETE /items/{id}"),
            ("GET", "/items/3", "/"),
            ("GET", "/files/a/b/c.txt", "/files/{path...}"),
            ("GET", "/exact/", "/exact/{$}"),
            ("GET", "/exact/more", "/"),
            ("GET", "/home/", "/home/{$}"),
        ];
        for (m, p, want) in cases {
            assert_eq!(found(&r, m, p), want, "{m} {p}");
        }
    }

    #[test]
    fn without_a_catch_all_unmatched_is_404() {
        let r = router(&["/{$}", "/a", "/b/{x}", "POST /items", "GET /items"]);
        assert_eq!(found(&r, "GET", "/"), "/{$}");
        assert_eq!(found(&r, "GET", "/x"), "404");
        assert_eq!(found(&r, "GET", "/c"), "404");
        assert_eq!(found(&r, "PUT", "/items"), "405 GET,HEAD,POST");
        assert_eq!(found(&r, "GET", "/b/"), "404");
        assert_eq!(found(&r, "GET", "/a/b"), "404");
    }

    #[test]
    fn params_are_bound_and_decoded() {
        let r = router(&["/users/{id}/files/{rest...}"]);
        match r.route("GET", &segs("/users/J%C3%BCrgen/files/a/b%20c")) {
            Route::Found { params, .. } => assert_eq!(
                params,
                vec![
                    ("id".to_string(), "Jürgen".as_bytes().to_vec()),
                    ("rest".to_string(), b"a/b c".to_vec())
                ]
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_and_duplicate_patterns_are_refused() {
        let mut r: Router<()> = Router::default();
        assert!(r.add("about", ()).is_err());
        assert!(r.add("/a/{x", ()).is_err());
        assert!(r.add("/a/{x}/{x}", ()).is_err());
        assert!(r.add("/a/{rest...}/b", ()).is_err());
        r.add("/a/{x}", ()).unwrap();
        assert!(r.add("/a/{y}", ()).unwrap_err().contains("conflicts"));
        r.add("POST /a/{x}", ()).unwrap();
    }

    #[test]
    fn query_strings() {
        assert_eq!(
            parse_query("a=1&b=hello+world&c=%2F%zz&d"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "hello world".into()),
                ("c".into(), "/%zz".into()),
                ("d".into(), String::new())
            ]
        );
        assert_eq!(percent_decode("100%", false), "100%");
    }
}
