//! `${...}` interpolation: `${env.NAME}` in `provider`/`state`,
//! `${recipient.COLUMN}` and `${send.name}` in send fields. An unknown
//! variable is an error, never an empty string.

/// A variable reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Var {
    Env(String),
    Recipient(String),
    SendName,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Var(Var),
}

/// A string with its variables parsed once, rendered per recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interp {
    pieces: Vec<Piece>,
}

impl Interp {
    /// Parses `text`. The error says what is wrong with which `${...}`.
    pub(crate) fn parse(text: &str) -> Result<Interp, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                pieces.push(Piece::Lit(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!("`${{` without a closing `}}` in \"{text}\""));
            };
            let name = after[..end].trim();
            pieces.push(Piece::Var(parse_var(name)?));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Lit(rest.to_string()));
        }
        Ok(Interp { pieces })
    }

    pub(crate) fn vars(&self) -> impl Iterator<Item = &Var> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(v) => Some(v),
            Piece::Lit(_) => None,
        })
    }

    /// Renders with `lookup` answering each variable; `None` from lookup is
    /// an error naming the variable.
    pub(crate) fn render<'a>(
        &self,
        mut lookup: impl FnMut(&Var) -> Option<&'a str>,
    ) -> Result<String, Var> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var(v) => out.push_str(lookup(v).ok_or_else(|| v.clone())?),
            }
        }
        Ok(out)
    }
}

fn parse_var(name: &str) -> Result<Var, String> {
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if let Some(env) = name.strip_prefix("env.") {
        if valid(env) {
            return Ok(Var::Env(env.to_string()));
        }
    } else if let Some(col) = name.strip_prefix("recipient.") {
        if valid(col) {
            return Ok(Var::Recipient(col.to_string()));
        }
    } else if name == "send.name" {
        return Ok(Var::SendName);
    }
    Err(format!(
        "unknown variable `${{{name}}}`: use `${{env.NAME}}` (provider/state), `${{recipient.COLUMN}}` or `${{send.name}}` (sends)"
    ))
}

impl std::fmt::Display for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Var::Env(n) => write!(f, "${{env.{n}}}"),
            Var::Recipient(c) => write!(f, "${{recipient.{c}}}"),
            Var::SendName => f.write_str("${send.name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders() {
        let t = Interp::parse("spring-${recipient.phone}-${send.name}").expect("parses");
        let out = t.render(|v| match v {
            Var::Recipient(c) if c == "phone" => Some("155"),
            Var::SendName => Some("s"),
            _ => None,
        });
        assert_eq!(out, Ok("spring-155-s".to_string()));
    }

    #[test]
    fn unknown_and_unterminated_are_errors() {
        assert!(Interp::parse("${foo.bar}").is_err());
        assert!(Interp::parse("${recipient.x").is_err());
        assert!(Interp::parse("${recipient.}").is_err());
    }
}
