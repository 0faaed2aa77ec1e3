//! What the generated router needs that is not specific to one document.

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed<O> {
    /// A described operation, with its path parameters as sent (still
    /// percent-encoded), in path order.
    Operation(O, Vec<String>),
    /// A described path that does not serve this method: 405, with the
    /// methods it does serve for `Allow`.
    MethodNotAllowed(&'static str),
    /// A path the document does not describe: 404.
    NotFound,
}

/// Splits an absolute path at `/` into `segments`, returning how many there
/// are; `None` when there are more than fit, which no described path has.
///
/// Empty segments are kept: `/login/` is not `/login`, as for the reference
/// server.
pub fn split_path<'a>(path: &'a str, segments: &mut [&'a str]) -> Option<usize> {
    let path = path.strip_prefix('/')?;
    let mut count = 0;
    for segment in path.split('/') {
        *segments.get_mut(count)? = segment;
        count += 1;
    }
    Some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_every_slash() {
        let mut segments = [""; 4];
        assert_eq!(split_path("/_matrix/client/v3", &mut segments), Some(3));
        assert_eq!(segments[..3], ["_matrix", "client", "v3"]);
        assert_eq!(split_path("/a/b/", &mut segments), Some(3));
        assert_eq!(segments[..3], ["a", "b", ""]);
        assert_eq!(split_path("/a/b/c/d/e", &mut segments), None);
        assert_eq!(split_path("no-slash", &mut segments), None);
    }
}
