//! ZooKeeper paths: `PathUtils` validation and the parent/name helpers the tree and the
//! request pipeline share.
//!
//! Owns: what a valid znode path is (§5.3 of zk-protocol.md) and how a path splits into
//! parent and last segment, and the sequential-name suffix format.
//!
//! Invariants:
//! - Every path stored in the tree passes [`validate_path`], so [`parent`] and [`name`] never
//!   see an empty segment or a trailing `/` (except the root `/` itself).
//! - Java checks UTF-16 code units; Rust strings hold scalar values. The two agree because every
//!   scalar ≥ U+10000 (which Java sees as a surrogate pair) is rejected, exactly as the
//!   surrogates are in Java.

use jute::ErrorCode;

/// Validates `path` as ZooKeeper's `PathUtils.validatePath` does. Any violation is
/// `BadArguments`, the code ZooKeeper's prep stage answers with.
pub fn validate_path(path: &str) -> Result<(), ErrorCode> {
    if path.is_empty() || !path.starts_with('/') {
        return Err(ErrorCode::BadArguments);
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(ErrorCode::BadArguments);
    }
    // `path[1..]` is a '/'-separated list of segments: none may be empty, "." or "..".
    for segment in path[1..].split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(ErrorCode::BadArguments);
        }
        if segment.chars().any(is_invalid_char) {
            return Err(ErrorCode::BadArguments);
        }
    }
    Ok(())
}

/// The characters `PathUtils` rejects, as Unicode scalar values (see the module doc for why
/// everything above the BMP is included).
fn is_invalid_char(c: char) -> bool {
    matches!(c as u32,
        0x0000..=0x001f
        | 0x007f..=0x009f
        | 0xd800..=0xf8ff
        | 0xfff0..=0xffff
        | 0x1_0000..)
}

/// The parent of `path`: `"/a/b"` → `"/a"`, `"/a"` → `"/"`, `"/"` → `""` (the root has no parent).
/// Assumes a valid path (see [`validate_path`]); a path without `/` yields `""`.
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => "/",
        Some(0) | None => "",
        Some(i) => &path[..i],
    }
}

/// The last segment of `path`: `"/a/b"` → `"b"`, `"/"` → `""`.
pub fn name(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// The full path of child `name` under `parent` (`"/"` + `"a"` → `"/a"`).
pub fn join(parent: &str, name: &str) -> String {
    let mut s = String::with_capacity(parent.len() + 1 + name.len());
    if parent != "/" {
        s.push_str(parent);
    }
    s.push('/');
    s.push_str(name);
    s
}

/// The name a sequential create gets: the request path verbatim followed by the parent's stored
/// cversion (taken before the increment) formatted as Java's `%010d` — zero padded to 10
/// characters, with the sign counted in the width (`-000000005`, `-2147483648`). Rust's `{:010}`
/// has the same rules.
pub fn sequential_name(path: &str, parent_cversion: i32) -> String {
    format!("{path}{parent_cversion:010}")
}

/// The length of `s` as Java's `String.length()` counts it (UTF-16 code units); ZooKeeper's
/// `approximateDataSize` is measured in these.
pub fn java_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().map(char::len_utf16).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table_of_5_3() {
        let valid = [
            "/",
            "/a",
            "/a/b",
            "/..a",
            "/a...",
            "/...",
            "/a.",
            "/.a",
            "/zookeeper/quota",
            "/\u{00a0}x",
            "/\u{f900}",
            "/\u{ffef}",
            "/seq/0000000000",
            "/ä/ö",
        ];
        for p in valid {
            assert_eq!(validate_path(p), Ok(()), "{p:?} should be valid");
        }
        let invalid = [
            "",
            "t",
            "a/b",
            "/t/",
            "/a//b",
            "//",
            "/a/.",
            "/a/..",
            "/..",
            "/.",
            "/./a",
            "/../a",
            "/a\0b",
            "/a\u{1}b",
            "/a\u{1f}b",
            "/a\u{7f}b",
            "/a\u{9f}b",
            "/\u{e000}",
            "/\u{f8ff}",
            "/\u{fff0}",
            "/\u{fffd}",
            "/\u{ffff}",
            "/\u{1f600}",
        ];
        for p in invalid {
            assert_eq!(
                validate_path(p),
                Err(ErrorCode::BadArguments),
                "{p:?} should be invalid"
            );
        }
    }

    #[test]
    fn parent_and_name() {
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/"), "");
        assert_eq!(parent(""), "");
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(name("/a/b"), "b");
        assert_eq!(name("/a"), "a");
        assert_eq!(name("/"), "");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }

    #[test]
    fn sequential_names_match_java_format() {
        assert_eq!(sequential_name("/seq/", 0), "/seq/0000000000");
        assert_eq!(sequential_name("/t/s-", 3), "/t/s-0000000003");
        assert_eq!(sequential_name("/x", i32::MAX), "/x2147483647");
        assert_eq!(sequential_name("/x", i32::MIN), "/x-2147483648");
        assert_eq!(sequential_name("/x", -5), "/x-000000005");
        assert_eq!(sequential_name("/x", -1), "/x-000000001");
        assert_eq!(validate_path(&sequential_name("/seq/", 0)), Ok(()));
    }

    #[test]
    fn java_length_counts_utf16_units() {
        assert_eq!(java_len("/abc"), 4);
        assert_eq!(java_len("/ä"), 2);
        assert_eq!(java_len("/\u{1f600}"), 3);
    }
}
