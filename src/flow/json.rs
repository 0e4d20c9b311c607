//! JSON → `serde_json::Value` plus where every node starts.
//!
//! serde_json forgets positions once it has parsed, and a Flow JSON error is
//! only useful at its line and column, so Flow files are read here: a small
//! recursive-descent reader that records, for each document path
//! (`screens[0].layout.children[2].label`), the file, line and column — the
//! same path shape and [`SpanMap`] the YAML config uses. Depth and size are
//! bounded so a hostile file cannot exhaust the stack or memory.

use std::sync::Arc;

use serde_json::{Map, Number, Value};

use crate::config::spans::SpanMap;
use crate::diag::{Diagnostic, Location};

/// Deepest nesting accepted; real Flows stay far below it.
pub(crate) const MAX_DEPTH: usize = 128;
/// Largest Flow JSON file accepted, in bytes (Meta's own asset limit is
/// lower; this only keeps a stray huge file from being read into memory).
pub(crate) const MAX_BYTES: usize = 10 * 1024 * 1024;

/// One parsed JSON file.
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) value: Value,
    pub(crate) spans: SpanMap,
}

/// Parses `source` (the text of `file`). A syntax error, a duplicate key, too
/// deep a nesting or too large a file is one diagnostic at its position.
pub(crate) fn parse(file: &Arc<str>, source: &str) -> Result<Document, Box<Diagnostic>> {
    if source.len() > MAX_BYTES {
        return Err(Box::new(
            Diagnostic::error(format!(
                "the Flow JSON file is {} bytes; waform reads at most {MAX_BYTES}",
                source.len()
            ))
            .at(Location::new(file.clone(), 1, 1))
            .help("a Flow JSON this large is certainly not a Flow: check the path"),
        ));
    }
    let mut reader = Reader {
        file: file.clone(),
        src: source.as_bytes(),
        pos: 0,
        line: 1,
        col: 1,
        spans: SpanMap::default(),
    };
    reader.skip_ws();
    if source.starts_with('\u{feff}') {
        reader.advance(3);
        reader.skip_ws();
    }
    let value = reader.value(String::new(), None, 0)?;
    reader.skip_ws();
    if reader.pos < reader.src.len() {
        return Err(reader.error("unexpected text after the JSON document", "remove it"));
    }
    Ok(Document {
        value,
        spans: reader.spans,
    })
}

struct Reader<'a> {
    file: Arc<str>,
    src: &'a [u8],
    pos: usize,
    line: usize,
    /// Column in characters, 1-based.
    col: usize,
    spans: SpanMap,
}

impl Reader<'_> {
    fn here(&self) -> Location {
        Location::new(self.file.clone(), self.line, self.col)
    }

    fn error(&self, summary: &str, help: &str) -> Box<Diagnostic> {
        Box::new(
            Diagnostic::error(format!("JSON syntax error: {summary}"))
                .at(self.here())
                .help(help.to_string()),
        )
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    /// Moves `n` bytes forward, keeping line and character column.
    fn advance(&mut self, n: usize) {
        for _ in 0..n {
            let Some(&b) = self.src.get(self.pos) else {
                return;
            };
            self.pos += 1;
            if b == b'\n' {
                self.line += 1;
                self.col = 1;
            } else if b & 0xC0 != 0x80 {
                self.col += 1;
            }
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.advance(1);
            } else {
                break;
            }
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), Box<Diagnostic>> {
        if self.peek() == Some(byte) {
            self.advance(1);
            Ok(())
        } else {
            Err(self.error(&format!("expected {what}"), "fix the JSON syntax here"))
        }
    }

    /// Reads one value at `path`. `key_at` is where its member key starts: a
    /// container is located at its key, where a reader looks for it.
    fn value(
        &mut self,
        path: String,
        key_at: Option<Location>,
        depth: usize,
    ) -> Result<Value, Box<Diagnostic>> {
        if depth > MAX_DEPTH {
            return Err(Box::new(
                Diagnostic::error(format!("the JSON nests deeper than {MAX_DEPTH} levels"))
                    .at(self.here())
                    .help("a Flow never nests this deep: check the file"),
            ));
        }
        let start = self.here();
        match self.peek() {
            Some(b'{') => {
                self.spans.insert(path.clone(), key_at.unwrap_or(start));
                self.object(path, depth)
            }
            Some(b'[') => {
                self.spans.insert(path.clone(), key_at.unwrap_or(start));
                self.array(path, depth)
            }
            Some(b'"') => {
                self.spans.insert(path, start);
                Ok(Value::String(self.string()?))
            }
            Some(b't') => self.literal(path, start, "true", Value::Bool(true)),
            Some(b'f') => self.literal(path, start, "false", Value::Bool(false)),
            Some(b'n') => self.literal(path, start, "null", Value::Null),
            Some(b'-' | b'0'..=b'9') => {
                self.spans.insert(path, start);
                self.number()
            }
            Some(_) => Err(self.error(
                "expected a value (object, array, string, number, true, false or null)",
                "fix the JSON syntax here",
            )),
            None => Err(self.error(
                "the file ends where a value was expected",
                "the JSON is cut short: close every `{` and `[`",
            )),
        }
    }

    fn literal(
        &mut self,
        path: String,
        start: Location,
        word: &str,
        value: Value,
    ) -> Result<Value, Box<Diagnostic>> {
        if self.src[self.pos..].starts_with(word.as_bytes()) {
            self.spans.insert(path, start);
            self.advance(word.len());
            Ok(value)
        } else {
            Err(self.error(
                "expected a value",
                "strings need double quotes; literals are true, false and null",
            ))
        }
    }

    fn object(&mut self, path: String, depth: usize) -> Result<Value, Box<Diagnostic>> {
        self.advance(1);
        let mut map = Map::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.advance(1);
            return Ok(Value::Object(map));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error(
                    "expected a member name in double quotes",
                    "JSON keys are double-quoted and there is no comma after the last member",
                ));
            }
            let key_at = self.here();
            let key = self.string()?;
            let child = join(&path, &key);
            if map.contains_key(&key) {
                let mut diag = Diagnostic::error(format!("key `{key}` is defined twice"))
                    .at(key_at)
                    .path(child.clone())
                    .help("remove one of the two definitions");
                if let Some(first) = self.spans.get(&child) {
                    diag = diag.note(format!("first defined at {first}"));
                }
                return Err(Box::new(diag));
            }
            self.skip_ws();
            self.expect(b':', "`:` after the member name")?;
            self.skip_ws();
            let value = self.value(child, Some(key_at), depth + 1)?;
            map.insert(key, value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.advance(1),
                Some(b'}') => {
                    self.advance(1);
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.error("expected `,` or `}`", "separate members with commas")),
            }
        }
    }

    fn array(&mut self, path: String, depth: usize) -> Result<Value, Box<Diagnostic>> {
        self.advance(1);
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.advance(1);
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            let item = self.value(format!("{path}[{}]", items.len()), None, depth + 1)?;
            items.push(item);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.advance(1),
                Some(b']') => {
                    self.advance(1);
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected `,` or `]`", "separate items with commas")),
            }
        }
    }

    fn string(&mut self) -> Result<String, Box<Diagnostic>> {
        self.advance(1);
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.advance(1);
            }
            // The source is a &str and the run stops only at ASCII bytes, so
            // the slice is whole characters.
            out.push_str(&String::from_utf8_lossy(&self.src[run_start..self.pos]));
            match self.peek() {
                Some(b'"') => {
                    self.advance(1);
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.advance(1);
                    self.escape(&mut out)?;
                }
                Some(_) => {
                    return Err(self.error(
                        "a control character (such as a line break) inside a string",
                        "write line breaks as \\n",
                    ))
                }
                None => {
                    return Err(self.error(
                        "the file ends inside a string",
                        "close the string with `\"`",
                    ))
                }
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), Box<Diagnostic>> {
        let Some(b) = self.peek() else {
            return Err(self.error("the file ends inside a string", "close the string"));
        };
        self.advance(1);
        match b {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let first = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&first) {
                    if self.src[self.pos..].starts_with(b"\\u") {
                        self.advance(2);
                        let second = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&second) {
                            return Err(self.error(
                                "invalid surrogate pair in a \\u escape",
                                "write the character itself",
                            ));
                        }
                        0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                    } else {
                        return Err(self.error(
                            "lone surrogate in a \\u escape",
                            "write the character itself",
                        ));
                    }
                } else {
                    first
                };
                match char::from_u32(code) {
                    Some(c) => out.push(c),
                    None => {
                        return Err(self.error("invalid \\u escape", "write the character itself"))
                    }
                }
            }
            _ => {
                return Err(self.error(
                    "invalid escape in a string",
                    "valid escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX",
                ))
            }
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, Box<Diagnostic>> {
        let digits = self
            .src
            .get(self.pos..self.pos + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok());
        match digits {
            Some(v) => {
                self.advance(4);
                Ok(v)
            }
            None => Err(self.error("a \\u escape needs four hex digits", "write it as \\u00e9")),
        }
    }

    fn number(&mut self) -> Result<Value, Box<Diagnostic>> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                self.advance(1);
            } else {
                break;
            }
        }
        let text = std::str::from_utf8(&self.src[start..self.pos]).unwrap_or("");
        match serde_json::from_str::<Number>(text) {
            Ok(n) => Ok(Value::Number(n)),
            Err(_) => Err(self.error(
                &format!("`{text}` is not a JSON number"),
                "write numbers like 12, -3.5 or 1e3",
            )),
        }
    }
}

/// `parent.key`, or `key` at the top.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(src: &str) -> Document {
        parse(&Arc::from("f.json"), src).expect("parses")
    }

    #[test]
    fn values_and_positions_match_serde_json() {
        let src = "{\n  \"a\": [1, {\"b\": \"h\\u00e9\\n\"}],\n  \"é\": true, \"n\": null, \"x\": -1.5e2\n}";
        let d = doc(src);
        let expected: Value = serde_json::from_str(src).expect("serde_json");
        assert_eq!(d.value, expected);
        let b = d.spans.get("a[1].b").expect("span");
        assert_eq!((b.line, b.column), (2, 18));
        let a = d.spans.get("a").expect("span");
        assert_eq!((a.line, a.column), (2, 3));
        // Columns count characters, not bytes.
        let n = d.spans.get("n").expect("span");
        assert_eq!((n.line, n.column), (3, 19));
    }

    #[test]
    fn errors_name_their_position() {
        let err = parse(&Arc::from("f.json"), "{\n  \"a\": 1,\n}").expect_err("trailing comma");
        assert_eq!(
            err.location.as_ref().map(|l| (l.line, l.column)),
            Some((3, 1))
        );
        let err = parse(&Arc::from("f.json"), "{\"a\": 1, \"a\": 2}").expect_err("dup");
        assert!(err.summary.contains("defined twice"));
        let err = parse(&Arc::from("f.json"), "{\"a\": \"x").expect_err("cut");
        assert!(err.summary.contains("ends inside a string"));
        let err = parse(&Arc::from("f.json"), "[1] 2").expect_err("trailing");
        assert!(err.summary.contains("after the JSON"));
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        let err = parse(&Arc::from("f.json"), &deep).expect_err("too deep");
        assert!(err.summary.contains("nests deeper"));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&Arc::from("f.json"), &ok).is_ok());
    }
}
