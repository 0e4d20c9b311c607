//! Which lines of a config file may hold a secret, so that no diagnostic
//! ever echoes them — whichever error points there, a YAML syntax error
//! included (the file may not even parse, so this reads text, not YAML).

use std::collections::HashSet;

/// 1-based numbers of the lines that must not be shown: in the `provider`
/// section, a `token` line whose value is anything but `${env.NAME}`, and
/// the more-indented lines that continue it.
pub(crate) fn sensitive_lines(text: &str) -> HashSet<usize> {
    let mut hidden = HashSet::new();
    let mut in_provider = false;
    // Indentation of a `token` key whose value may go on below it.
    let mut token_indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let content = line.trim_start();
        let indent = line.len() - content.len();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if let Some(key_indent) = token_indent {
            if indent > key_indent {
                hidden.insert(number);
                continue;
            }
            token_indent = None;
        }
        if indent == 0 && !content.starts_with('-') {
            in_provider = content
                .trim_start_matches(['"', '\''])
                .starts_with("provider");
        }
        if !in_provider || !content.to_ascii_lowercase().contains("token") {
            continue;
        }
        if !is_env_token_line(content) {
            hidden.insert(number);
        }
        if content.trim_start_matches(['"', '\'']).starts_with("token") {
            token_indent = Some(indent);
        }
    }
    hidden
}

/// `token: ${env.NAME}` (quotes and a trailing comment allowed).
fn is_env_token_line(content: &str) -> bool {
    let Some(rest) = content
        .trim_start_matches(['"', '\''])
        .strip_prefix("token")
    else {
        return false;
    };
    let Some(value) = rest
        .trim_start_matches(['"', '\''])
        .trim_start()
        .strip_prefix(':')
    else {
        return false;
    };
    let value = match value.find(" #") {
        Some(cut) => &value[..cut],
        None => value,
    };
    let value = value.trim().trim_matches(['"', '\'']).trim();
    let Some(inner) = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) else {
        return false;
    };
    inner.trim().strip_prefix("env.").is_some_and(|name| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_tokens_and_their_continuations_are_hidden() {
        let text = "version: 1\nprovider:\n  kind: onemsg\n  token: abc\"def\n  instance: x\nsends:\n  s:\n    flow_button:\n      token: \"spring-${recipient.phone}\"\n";
        let hidden = sensitive_lines(text);
        assert_eq!(hidden, HashSet::from([4]));
        let text = "provider:\n  token:\n    s3cr3t-value\n    more\n  kind: onemsg\n";
        assert_eq!(sensitive_lines(text), HashSet::from([2, 3, 4]));
        let text = "provider: { token: abcdefgh }\n";
        assert_eq!(sensitive_lines(text), HashSet::from([1]));
    }

    #[test]
    fn env_references_are_shown() {
        let text =
            "provider:\n  token: ${env.WAFORM_TOKEN}   # from CI\n  \"token\": '${ env.X }'\n";
        assert!(sensitive_lines(text).is_empty());
    }
}
