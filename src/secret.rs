//! Secrets (API tokens, webhook secrets) live in a type that never prints
//! them, and one redaction function masks them wherever text leaves the
//! process or enters the ledger.
//!
//! Why a matcher rather than `str::replace`: the token reaches text in many
//! spellings — raw, percent-encoded the way the HTTP client sends it (`~`
//! as `%7E`, space as `+` or `%20`, either hex case), JSON-escaped (`\/`,
//! `\u00..`), YAML-escaped (`\x..`, `\U........`), HTML-escaped in the
//! status page — and mixtures of them. `redact` matches the token
//! character by character, each character in any of its spellings.

use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

/// Shortest token accepted: masking a very short secret would garble
/// ordinary words in every message (a token `t` masks every letter t), and
/// real 1msg tokens are far longer.
pub(crate) const MIN_SECRET_LEN: usize = 8;

/// A secret string whose `Display` and `Debug` print `***`.
///
/// The only way to read the value is [`Secret::expose`], which keeps every
/// place that handles the raw token greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value; nothing prints it from here on.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the one place that must send it (the HTTP query).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every spelling of this secret replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        redact(text, &self.0).into_owned()
    }
}

/// Every secret this process holds, for [`scrub`].
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Makes [`scrub`] mask `secret` from now on. Secrets shorter than
/// `MIN_SECRET_LEN` are not registered (callers refuse them first).
pub fn register(secret: &Secret) {
    register_text(secret.expose());
}

/// [`register`] for a secret found as plain text (a literal token in a
/// config file).
pub fn register_text(secret: &str) {
    if secret.chars().count() < MIN_SECRET_LEN {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_string());
    }
}

/// The one redaction applied at every boundary (stdout, stderr, plan files,
/// ledger reasons, webhook logs): every registered secret, in any spelling,
/// becomes `***`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if let Cow::Owned(changed) = redact(&out, secret) {
            out = Cow::Owned(changed);
        }
    }
    out
}

/// Whether `text` holds a registered secret in any spelling.
pub(crate) fn holds_secret(text: &str) -> bool {
    matches!(scrub(text), Cow::Owned(_))
}

/// `text` with every spelling of `secret` replaced by `***`.
pub(crate) fn redact<'t>(text: &'t str, secret: &str) -> Cow<'t, str> {
    let Some(first) = secret.chars().next() else {
        return Cow::Borrowed(text);
    };
    let wanted: Vec<char> = secret.chars().collect();
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Only these bytes can begin a spelling of the first character.
        let b = bytes[i];
        let may_start = text[i..].starts_with(first) || matches!(b, b'%' | b'+' | b'\\' | b'&');
        if may_start {
            if let Some(end) = match_at(text, i, &wanted) {
                out.push_str(&text[copied..i]);
                out.push_str("***");
                copied = end;
                i = end;
                continue;
            }
        }
        i += 1;
        while i < bytes.len() && !text.is_char_boundary(i) {
            i += 1;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Where a spelling of `wanted` starting at `start` ends (the longest one).
/// Some characters have spellings of different lengths at one position
/// (`%` raw or as `%25`), so every reachable position is followed.
fn match_at(text: &str, start: usize, wanted: &[char]) -> Option<usize> {
    let mut frontier = vec![start];
    let mut next = Vec::new();
    for &c in wanted {
        next.clear();
        for &at in &frontier {
            spellings(text, at, c, &mut next);
        }
        if next.is_empty() {
            return None;
        }
        next.sort_unstable();
        next.dedup();
        std::mem::swap(&mut frontier, &mut next);
    }
    frontier.last().copied()
}

/// Pushes the end of every spelling of `c` found at `at`.
fn spellings(text: &str, at: usize, c: char, ends: &mut Vec<usize>) {
    let rest = &text[at..];
    if rest.starts_with(c) {
        ends.push(at + c.len_utf8());
    }
    let Some(&lead) = rest.as_bytes().first() else {
        return;
    };
    match lead {
        b'+' if c == ' ' => ends.push(at + 1),
        b'%' => percent_spellings(text, at, c, ends),
        b'\\' => {
            if let Some(len) = escape_spelling(rest, c) {
                ends.push(at + len);
            }
        }
        b'&' => {
            if let Some(len) = html_spelling(rest, c) {
                ends.push(at + len);
            }
        }
        _ => {}
    }
}

fn hex_value(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Pushes the ends of `c` spelled as `%HH` per UTF-8 byte (either hex
/// case) or `%25HH` (encoded twice), starting at `at`.
fn percent_spellings(text: &str, at: usize, c: char, ends: &mut Vec<usize>) {
    let mut buf = [0u8; 4];
    let mut positions = vec![at];
    for &byte in c.encode_utf8(&mut buf).as_bytes() {
        let mut reached = Vec::new();
        for &p in &positions {
            for (prefix, len) in [("%", 3), ("%25", 5)] {
                let matched = text
                    .get(p..p + len)
                    .filter(|s| s.starts_with(prefix))
                    .and_then(|s| hex_value(&s[prefix.len()..]))
                    == Some(u32::from(byte));
                if matched {
                    reached.push(p + len);
                }
            }
        }
        if reached.is_empty() {
            return;
        }
        positions = reached;
    }
    ends.extend(positions);
}

/// JSON and YAML escapes: `\uHHHH` (surrogate pairs too), `\UHHHHHHHH`,
/// `\xHH`, and the one-letter escapes.
fn escape_spelling(rest: &str, c: char) -> Option<usize> {
    let kind = rest.as_bytes().get(1).copied()?;
    let code = u32::from(c);
    let fixed = |len: usize| -> Option<usize> {
        (hex_value(rest.get(2..2 + len)?)? == code).then_some(2 + len)
    };
    match kind {
        b'u' => {
            if code > 0xFFFF {
                let v = code - 0x10000;
                let (high, low) = (0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
                let first = hex_value(rest.get(2..6)?)?;
                if rest.get(6..8)? != "\\u" {
                    return None;
                }
                let second = hex_value(rest.get(8..12)?)?;
                return (first == high && second == low).then_some(12);
            }
            fixed(4)
        }
        b'U' => fixed(8),
        b'x' => fixed(2),
        other => {
            let meant = match other {
                b'/' => '/',
                b'"' => '"',
                b'\\' => '\\',
                b'\'' => '\'',
                b' ' => ' ',
                b't' => '\t',
                b'n' => '\n',
                b'r' => '\r',
                b'_' => '\u{a0}',
                _ => return None,
            };
            (meant == c).then_some(2)
        }
    }
}

/// HTML character references: named ones for the characters an HTML page
/// escapes, and numeric ones.
fn html_spelling(rest: &str, c: char) -> Option<usize> {
    let end = rest.get(..12.min(rest.len()))?.find(';')?;
    let entity = &rest[1..end];
    let meant = match entity {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let number = entity.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => hex_value(hex)?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    (meant == c).then_some(end + 1)
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Writes `text`, scrubbed, to stdout or stderr. A reader that went away
/// (`waform plan | head`) ends the process quietly with the status a
/// SIGPIPE death would give; SIGPIPE itself stays ignored, because hyper
/// writes to sockets with `writev`, and a server closing its end must be an
/// error to handle, not a silent death in the middle of an apply.
pub fn emit(to_stdout: bool, text: &str) {
    use std::io::Write;
    let text = scrub(text);
    let result = if to_stdout {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    } else {
        std::io::stderr().lock().write_all(text.as_bytes())
    };
    if let Err(e) = result {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
    }
}

/// A stderr writer for diagnostic logs (`tracing`): it buffers one log
/// record and writes it, scrubbed, when dropped. Logs are written by code far
/// from where secrets are handled, so they pass the same redaction as every
/// other line that leaves the process.
#[derive(Debug, Default)]
pub struct ScrubbedStderr(Vec<u8>);

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    /// Nothing: the record is written whole when dropped, so a secret can
    /// never be split across two scrubbed writes.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbedStderr {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            emit(false, &String::from_utf8_lossy(&self.0));
        }
    }
}

/// `println!` through [`scrub`]: what a command prints on stdout.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::secret::emit(true, &format!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` through [`scrub`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::secret::emit(true, &format!($($arg)*))
    };
}

/// `eprintln!` through [`scrub`]: what a command prints on stderr.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::secret::emit(false, &format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` through [`scrub`].
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::secret::emit(false, &format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("tok-12345");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(
            s.redact("https://x/y?token=tok-12345&a=1"),
            "https://x/y?token=***&a=1"
        );
    }

    #[test]
    fn every_spelling_is_masked() {
        let token = "a+b/c=d&e%f~g* h";
        let spellings = [
            token.to_string(),
            // reqwest's query encoding (form-urlencoded: `*` stays, `~` does not)
            "a%2Bb%2Fc%3Dd%26e%25f%7Eg*+h".to_string(),
            "a%2bb%2fc%3dd%26e%25f%7eg%2A%20h".to_string(),
            // JSON (`\/`), JSON \u escapes, YAML \x escapes
            "a+b\\/c=d&e%f~g* h".to_string(),
            "a\\u002Bb\\u002fc=d\\u0026e%f~g* h".to_string(),
            "a\\x2Bb/c=d&e%f~g*\\x20h".to_string(),
            // HTML
            "a+b/c=d&amp;e%f~g* h".to_string(),
            "a&#43;b/c&#x3D;d&amp;e%f~g* h".to_string(),
            // encoded twice
            "a%252Bb%252Fc%253Dd%2526e%2525f%257Eg*+h".to_string(),
        ];
        for spelled in spellings {
            let text = format!("before {spelled} after");
            assert_eq!(redact(&text, token), "before *** after", "{spelled}");
        }
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let text = "template t is pending; token=tokenless";
        assert!(matches!(redact(text, "s3cr3t-token"), Cow::Borrowed(_)));
        assert_eq!(
            redact("x\u{e9}y s3cr3t-token", "s3cr3t-token"),
            "x\u{e9}y ***"
        );
        assert_eq!(redact("%", "%%%%%%%%"), "%");
        assert_eq!(redact("%25%25%25%25%%%%", "%%%%%%%%"), "***");
    }

    #[test]
    fn non_bmp_characters_in_json_escapes() {
        let token = "key-\u{1F600}-long";
        assert_eq!(redact("\"key-\\ud83d\\ude00-long\"", token), "\"***\"");
    }

    #[test]
    fn short_secrets_are_not_registered() {
        register_text("t");
        assert_eq!(scrub("the text"), "the text");
    }
}
