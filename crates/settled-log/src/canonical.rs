//! A one-pass check that a text is canonical JSON in exactly the spelling
//! serde_json prints for a sorted map: no whitespace, object keys strictly
//! ascending (byte order, so no duplicates), integers only, and strings
//! escaped only where serde_json escapes them. It also hands back the
//! top-level members as borrowed `(key, value text)` pairs, so a payload is
//! read without building a `serde_json::Value`.
//!
//! Stricter than JSON on purpose: keys with escapes, fractions, exponents
//! and `-0` are refused, as none of them can occur in a payload we write.

/// At most this many top-level members (an event has far fewer).
pub const MAX_MEMBERS: usize = 24;

/// Nesting deeper than this is refused.
const MAX_DEPTH: usize = 32;

/// The first byte offset at which a text stops being canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotCanonical(pub usize);

/// The top-level members of a canonical object, in order.
#[derive(Debug)]
pub struct Members<'a> {
    items: [(&'a str, &'a str); MAX_MEMBERS],
    len: usize,
}

impl<'a> Members<'a> {
    /// `(key, value text)` pairs; keys are unescaped by construction.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.items[..self.len].iter().copied()
    }

    /// The value text of `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// Checks `text` is one canonical JSON object and returns its members.
pub fn object_members(text: &str) -> Result<Members<'_>, NotCanonical> {
    let mut scan = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let mut members = Members {
        items: [("", ""); MAX_MEMBERS],
        len: 0,
    };
    scan.object(0, &mut |key, value| {
        let slot = members.items.get_mut(members.len).ok_or(())?;
        *slot = (key, value);
        members.len += 1;
        Ok(())
    })?;
    if scan.pos != scan.bytes.len() {
        return Err(NotCanonical(scan.pos));
    }
    Ok(members)
}

/// Hex digit values; upper-case digits carry 0x10 so a caller can tell
/// them apart; 0xff is not a digit.
const HEX: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 0x10 | (10 + i as u8);
        i += 1;
    }
    table
};

/// Decodes exactly `N` bytes of hex; with `lower_only`, upper-case digits
/// are refused (one spelling per value).
pub fn hex_array<const N: usize>(text: &str, lower_only: bool) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut seen = 0u8;
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (hi, lo) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
        seen |= hi | lo;
        *byte = ((hi & 0x0f) << 4) | (lo & 0x0f);
    }
    let refused = if lower_only { 0xf0 } else { 0xe0 };
    (seen & refused == 0).then_some(out)
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn fail<T>(&self) -> Result<T, NotCanonical> {
        Err(NotCanonical(self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Result<(), NotCanonical> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            self.fail()
        }
    }

    /// An object; `member` sees each top-level key and value text (and may
    /// refuse with `Err(())`, e.g. when there are too many).
    fn object(
        &mut self,
        depth: usize,
        member: &mut dyn FnMut(&'a str, &'a str) -> Result<(), ()>,
    ) -> Result<(), NotCanonical> {
        if depth > MAX_DEPTH {
            return self.fail();
        }
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        let mut previous: Option<&str> = None;
        loop {
            let key_at = self.pos;
            let (key, escaped) = self.string()?;
            if escaped || previous.is_some_and(|p| p >= key) {
                return Err(NotCanonical(key_at));
            }
            previous = Some(key);
            self.eat(b':')?;
            let value_at = self.pos;
            self.value(depth + 1)?;
            member(key, &self.text[value_at..self.pos]).map_err(|()| NotCanonical(key_at))?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.fail(),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), NotCanonical> {
        if depth > MAX_DEPTH {
            return self.fail();
        }
        self.eat(b'[')?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.value(depth + 1)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.fail(),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), NotCanonical> {
        match self.peek() {
            Some(b'{') => self.object(depth, &mut |_, _| Ok(())),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(|_| ()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.integer(),
            _ => self.fail(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), NotCanonical> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            self.fail()
        }
    }

    /// An integer as serde_json prints an `i64` or `u64`.
    fn integer(&mut self) -> Result<(), NotCanonical> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let digits = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        let text = &self.text[digits..self.pos];
        let canonical = match text.as_bytes() {
            [] => false,
            [b'0'] => !negative,
            [b'0', ..] => false,
            _ if negative => self.text[start..self.pos].parse::<i64>().is_ok(),
            _ => text.parse::<u64>().is_ok(),
        };
        if !canonical {
            return Err(NotCanonical(start));
        }
        Ok(())
    }

    /// A string; returns its raw inner text and whether it has escapes.
    fn string(&mut self) -> Result<(&'a str, bool), NotCanonical> {
        self.eat(b'"')?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            // Plain bytes in a tight loop; stop at a quote, a backslash or
            // a control character.
            let rest = &self.bytes[self.pos..];
            let plain = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(rest.len());
            self.pos += plain;
            let Some(byte) = self.peek() else {
                return self.fail();
            };
            match byte {
                b'"' => {
                    let inner = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok((inner, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                0x00..=0x1f => return self.fail(),
                _ => self.pos += 1,
            }
        }
    }

    /// One escape, allowed only where serde_json writes it: `\"`, `\\`, the
    /// five short control escapes, and `\u00xx` (lower-case hex) for the
    /// other control characters.
    fn escape(&mut self) -> Result<(), NotCanonical> {
        let at = self.pos;
        match self.bytes.get(at + 1) {
            Some(b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r') => {
                self.pos += 2;
                Ok(())
            }
            Some(b'u') => {
                let code = self
                    .bytes
                    .get(at + 2..at + 6)
                    .and_then(|hex| match hex {
                        [
                            b'0',
                            b'0',
                            hi @ (b'0' | b'1'),
                            lo @ (b'0'..=b'9' | b'a'..=b'f'),
                        ] => {
                            let lo = if lo.is_ascii_digit() {
                                lo - b'0'
                            } else {
                                lo - b'a' + 10
                            };
                            Some((hi - b'0') * 16 + lo)
                        }
                        _ => None,
                    })
                    .ok_or(NotCanonical(at))?;
                if matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                    return Err(NotCanonical(at));
                }
                self.pos += 6;
                Ok(())
            }
            _ => Err(NotCanonical(at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> bool {
        object_members(text).is_ok()
    }

    /// What serde_json itself calls canonical: parse into a sorted map and
    /// print it back byte for byte.
    fn serde_says(text: &str) -> bool {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .filter(serde_json::Value::is_object)
            .and_then(|v| serde_json::to_string(&v).ok())
            .is_some_and(|back| back == text)
    }

    #[test]
    fn accepts_what_serde_json_prints() {
        let value = serde_json::json!({
            "z": [1, -2, 0, u64::MAX, i64::MIN, true, false, null, [], {}],
            "a": {"y": "x", "b": {"c": "d"}},
            "text": "quote \" backslash \\ slash / tab \t nl \n cr \r ff \u{c} bs \u{8} nul \u{0} us \u{1f} del \u{7f} é 日本 🎉",
            "m": "",
        });
        let text = serde_json::to_string(&value).expect("prints");
        let members = object_members(&text).expect("canonical");
        let keys: Vec<_> = members.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "m", "text", "z"]);
        assert_eq!(members.get("m"), Some("\"\""));
        assert_eq!(members.get("a"), Some(r#"{"b":{"c":"d"},"y":"x"}"#));
    }

    #[test]
    fn refuses_every_other_spelling_and_agrees_with_serde_json() {
        let cases = [
            r#"{"a":1}"#,
            r#"{"a":1,"b":2}"#,
            r#"{"b":2,"a":1}"#,
            r#"{"a":1,"a":1}"#,
            r#"{ "a":1}"#,
            r#"{"a": 1}"#,
            r#"{"a":1 }"#,
            "{\"a\":1}\n",
            r#"{"a":1.0}"#,
            r#"{"a":1e2}"#,
            r#"{"a":-0}"#,
            r#"{"a":01}"#,
            r#"{"a":+1}"#,
            r#"{"a":-1}"#,
            r#"{"a":18446744073709551615}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":-9223372036854775808}"#,
            r#"{"a":-9223372036854775809}"#,
            r#"{"a":"\u0041"}"#,
            r#"{"a":"\/"}"#,
            r#"{"a":"\n"}"#,
            r#"{"a":"\u000a"}"#,
            r#"{"a":"\u0001"}"#,
            r#"{"a":"\u001F"}"#,
            r#"{"a":"\u001f"}"#,
            r#"{"a":"\u007f"}"#,
            r#"{"a":"é"}"#,
            r#"{"a":"\u00e9"}"#,
            r#"{"a":[1,2]}"#,
            r#"{"a":[1, 2]}"#,
            r#"{"a":{"c":1,"b":2}}"#,
            r#"{"a":{"b":2,"c":1}}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{"a":null}"#,
            r#"{"a":1,}"#,
            r#"{"a"}"#,
            r#"{"a":"x"#,
            r#"[1]"#,
            r#""a""#,
            r#"{}"#,
            r#"{"a":1}{}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"":1}"#,
            r#"{"B":1,"a":1}"#,
            r#"{"é":1,"z":1}"#,
        ];
        // Floats print canonically in serde_json, but no payload has one.
        let stricter = [r#"{"a":1.0}"#];
        for case in cases {
            if stricter.contains(&case) {
                assert!(!canonical(case), "{case} is refused");
            } else {
                assert_eq!(canonical(case), serde_says(case), "disagree on {case}");
            }
        }
    }

    #[test]
    fn hex_has_one_spelling_when_asked() {
        let bytes = [0x00, 0x9f, 0xab, 0xff];
        assert_eq!(hex_array::<4>("009fabff", true), Some(bytes));
        assert_eq!(hex_array::<4>("009FABFF", true), None);
        assert_eq!(hex_array::<4>("009FABff", false), Some(bytes));
        assert_eq!(hex_array::<4>("009fab", true), None);
        assert_eq!(hex_array::<4>("009fabff00", true), None);
        assert_eq!(hex_array::<4>("009fabfg", false), None);
        assert_eq!(hex_array::<4>("009fab f", false), None);
        for b in 0..=255u8 {
            let lower = format!("{b:02x}");
            assert_eq!(hex_array::<1>(&lower, true), Some([b]));
            assert_eq!(hex_array::<1>(&lower.to_uppercase(), false), Some([b]));
        }
    }

    #[test]
    fn refuses_too_many_members_and_deep_nesting() {
        let many: Vec<String> = (0..30).map(|i| format!("\"k{i:02}\":{i}")).collect();
        let text = format!("{{{}}}", many.join(","));
        assert!(serde_says(&text));
        assert!(!canonical(&text), "more members than any event has");
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        assert!(!canonical(&deep));
    }
}
