//! Finding decision references (`ARCH-42`, or a permalink ending in it) in
//! pull request text.

use std::collections::BTreeSet;

/// The numbers of `key`'s decisions that `text` names as whole words:
/// `ARCH-42` preceded and followed by neither a letter, digit, `-` nor `_`.
/// Permalinks (`…/d/ARCH-42`) match the same way. Other keys never match.
pub fn references(text: &str, key: &str) -> BTreeSet<i64> {
    let mut found = BTreeSet::new();
    let prefix = format!("{key}-");
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut start = 0;
    while let Some(at) = text[start..].find(&prefix) {
        let begin = start + at;
        start = begin + prefix.len();
        if text[..begin].chars().next_back().is_some_and(word) {
            continue;
        }
        let digits: String = text[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let after = text[start + digits.len()..].chars().next();
        if digits.is_empty() || digits.starts_with('0') || after.is_some_and(word) {
            continue;
        }
        if let Ok(n) = digits.parse::<i64>() {
            found.insert(n);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_word_references_and_permalinks_of_this_key_only() {
        let text = "Implements ARCH-12, see https://settled.example/d/ARCH-7 and (ARCH-12). \
                    Not XARCH-3, ARCH-4x, ARCH-05, ARCH-, OPS-9 or ARCH-8-2.";
        assert_eq!(references(text, "ARCH"), BTreeSet::from([7, 12]));
        assert_eq!(references(text, "OPS"), BTreeSet::from([9]));
        assert!(references("", "ARCH").is_empty());
        assert_eq!(references("ARCH-1", "ARCH"), BTreeSet::from([1]));
        assert_eq!(references("ärger ARCH-2 ü", "ARCH"), BTreeSet::from([2]));
    }
}
