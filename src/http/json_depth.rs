//! How deep a JSON text nests, measured before it is parsed.
//!
//! serde_json stops typed values at 128 levels, but a value it skips (a member no field
//! takes) is read by a loop with no depth limit: a body of 100,000 nested `[` was accepted.
//! Every JSON body is scanned first ([`too_deep`], one pass, no allocation) and refused past
//! [`MAX_DEPTH`] levels, wherever the nesting is.

/// The deepest nesting a JSON body may have: the top-level object counts as 1. procura's
/// bodies nest three levels at most.
pub const MAX_DEPTH: usize = 32;

/// The byte offset of the first `[` or `{` that opens level `max + 1`, if any. Brackets
/// inside strings do not count; the text need not be valid JSON (the parser judges that).
pub fn too_deep(text: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (at, &b) in text.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(at);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_brackets_outside_strings() {
        assert_eq!(too_deep(br#"{"a": [[1]]}"#, 3), None);
        assert_eq!(too_deep(br#"{"a": [[1]]}"#, 2), Some(7));
        assert_eq!(too_deep(br#"{"a": [{"b": {}}]}"#, 3), Some(13));
        // Brackets in strings, escaped quotes included, are text.
        assert_eq!(too_deep(br#"{"a": "[[[[\"[[[[", "b": []}"#, 2), None);
        assert_eq!(too_deep(br#"{"a": "\\", "b": [[]]}"#, 2), Some(18));
        // Siblings do not add up.
        assert_eq!(too_deep(br#"[[],[],[[]],[]]"#, 3), None);
    }

    #[test]
    fn a_hundred_thousand_levels_stop_at_the_first_past_the_limit() {
        let deep = format!("{{\"x\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            too_deep(deep.as_bytes(), MAX_DEPTH),
            Some(6 + MAX_DEPTH - 1)
        );
    }
}
