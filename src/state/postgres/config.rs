//! A `postgres://` state URL: parsed, its password found, and shown
//! without it.
//!
//! The password comes from the URL itself (normally through
//! `${env.NAME}` interpolation, so the config holds no secret), else from
//! `PGPASSWORD`, else from the password file (`PGPASSFILE` or `~/.pgpass`),
//! like libpq. It is never printed: [`redact`] is the only way a URL
//! reaches a message.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::Config;

use super::super::StateError;

/// Parses `url` into a driver config with the password filled in.
pub(crate) fn parse(url: &str) -> Result<Config, StateError> {
    let mut config = Config::from_str(url).map_err(|e| StateError::Open {
        location: redact(url),
        // The driver's message names the bad part, never the password.
        source: Box::new(e),
    })?;
    if config.get_user().is_none() {
        if let Ok(user) = std::env::var("PGUSER").or_else(|_| std::env::var("USER")) {
            config.user(user);
        }
    }
    if config.get_password().is_none() {
        if let Some(pw) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
            config.password(pw);
        } else if let Some(pw) = pgpass(&config) {
            config.password(pw);
        }
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    // Keepalives find a dead server or cut network while the lock is held.
    config.keepalives_idle(Duration::from_secs(15));
    config.application_name("waform");
    Ok(config)
}

/// The URL with any password replaced by `***` (in the authority, in a
/// `password=` parameter, and in a `key=value` connection string).
///
/// Errs on the side of hiding: a password written without percent-encoding
/// may hold `/`, `?`, `@`, `#` or `&`, so the user part runs to the last `@`
/// of the URL and a `password=` value to the end of it. Only a display
/// string loses detail that way; the URL itself is never changed.
pub(crate) fn redact(url: &str) -> String {
    let mut out = url.to_string();
    // Where the user part starts: after `://`, or after a `postgres:`
    // written without it (refused, but shown in the refusal).
    let authority = out.find("://").map(|i| i + 3).or_else(|| {
        let lower = out.to_ascii_lowercase();
        ["postgresql:", "postgres:"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| p.len() + out[p.len()..].len() - out[p.len()..].trim_start_matches('/').len())
    });
    if let Some(authority) = authority {
        let rest = &out[authority..];
        if let Some(at) = rest.rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                out.replace_range(authority + colon + 1..authority + at, "***");
            }
        }
    }
    // `password=` as a query parameter (`?password=`, `&password=`) or a
    // keyword of a `key=value` string: everything after it is hidden.
    let lower = out.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("password") {
        let i = from + i;
        let boundary = i == 0 || matches!(lower.as_bytes()[i - 1], b'?' | b'&' | b' ' | b'\t');
        let value = lower[i + "password".len()..].trim_start();
        if boundary && value.starts_with('=') {
            let eq = i + lower[i..].find('=').unwrap_or(0);
            out.replace_range(eq + 1.., "***");
            break;
        }
        from = i + "password".len();
    }
    out
}

/// The matching password from the password file, libpq's format:
/// `host:port:database:user:password`, `*` matching anything.
fn pgpass(config: &Config) -> Option<String> {
    let path = std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(_)) | None => "localhost".to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or_default().to_string();
    let db = config.get_dbname().unwrap_or(&user).to_string();
    pgpass_lookup(&text, &[&host, &port, &db, &user])
}

fn pgpass_lookup(text: &str, want: &[&str; 4]) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass(line);
        if fields.len() != 5 {
            continue;
        }
        if fields[..4]
            .iter()
            .zip(want)
            .all(|(f, w)| f == "*" || f == w)
        {
            return Some(fields[4].clone());
        }
    }
    None
}

/// Splits on `:`, honouring `\:` and `\\` escapes.
fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    if let Some(f) = fields.last_mut() {
                        f.push(next)
                    }
                }
            }
            ':' => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c)
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_in_authority_and_query() {
        assert_eq!(
            redact("postgres://u:s3cr%40t@db:5432/app?sslmode=require"),
            "postgres://u:***@db:5432/app?sslmode=require"
        );
        assert_eq!(
            redact("postgres://u@db/app?password=x&sslmode=disable"),
            "postgres://u@db/app?password=***"
        );
        assert_eq!(redact("postgres://db/app"), "postgres://db/app");
    }

    /// Passwords typed without percent-encoding: whatever they hold, no
    /// part of them is shown.
    #[test]
    fn unencoded_passwords_are_redacted_whole() {
        for (url, shown) in [
            (
                "postgres://bob:Pa/ss9Z@db:1/app",
                "postgres://bob:***@db:1/app",
            ),
            (
                "postgres://bob:Pa?ss9Z@db:1/app",
                "postgres://bob:***@db:1/app",
            ),
            ("postgres://bob:P@ss9Z@db/app", "postgres://bob:***@db/app"),
            ("postgres://bob:Pa#ss9Z@db/app", "postgres://bob:***@db/app"),
            (
                "postgres://db/app?sslmode=disable&password=Pa&ss9Z",
                "postgres://db/app?sslmode=disable&password=***",
            ),
            (
                "postgres://db/app?user=u&PASSWORD=ss9Z",
                "postgres://db/app?user=u&PASSWORD=***",
            ),
            (
                "host=db user=u password = ss9Z dbname=app",
                "host=db user=u password =***",
            ),
            ("mysql://bob:ss9Z@db/app", "mysql://bob:***@db/app"),
            ("postgres:bob:ss9Z@db/app", "postgres:bob:***@db/app"),
        ] {
            let got = redact(url);
            assert_eq!(got, shown, "{url}");
            assert!(!got.contains("ss9Z"), "{url}");
        }
    }

    #[test]
    fn pgpass_matches_with_wildcards_and_escapes() {
        let text = "# comment\nother:5432:*:u:no\ndb:*:app:u:pa\\:ss\n";
        assert_eq!(
            pgpass_lookup(text, &["db", "5433", "app", "u"]).as_deref(),
            Some("pa:ss")
        );
        assert_eq!(pgpass_lookup(text, &["x", "5432", "app", "u"]), None);
    }
}
