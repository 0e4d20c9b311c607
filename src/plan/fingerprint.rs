//! Fingerprints that bind a plan file to what it was made from: the config
//! with every recipient file, and the account as observed.

use sha2::{Digest, Sha256};

use super::Observed;
use crate::config::types::RecipientSource;
use crate::config::Config;

/// Fingerprint of the config: its merged content and every recipient file.
///
/// # Errors
/// A recipient file cannot be read.
pub(crate) fn config(cfg: &Config) -> std::io::Result<String> {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&cfg.raw).map_err(std::io::Error::other)?);
    for send in cfg.raw.sends.values() {
        for source in send.recipients.iter().chain(&send.exclude) {
            if let RecipientSource::Csv(csv) = source {
                let mut f = crate::limits::open_regular(&cfg.base_dir.join(&csv.csv))?;
                std::io::copy(&mut f, &mut h)?;
            }
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// Fingerprint of the observed account (templates and Flows, sorted).
pub(crate) fn account(identity: &str, observed: &Observed) -> String {
    let mut items: Vec<String> = observed
        .templates
        .iter()
        .map(|t| {
            format!(
                "{}|{}|{:?}|{}",
                t.name,
                t.language,
                t.status,
                serde_json::Value::Array(t.components.clone())
            )
        })
        .collect();
    items.sort();
    let mut h = Sha256::new();
    h.update(identity.as_bytes());
    h.update(b"\n");
    for i in items {
        h.update(i.as_bytes());
        h.update(b"\n");
    }
    h.update(format!("{:?}", observed.flows).as_bytes());
    hex::encode(h.finalize())
}
