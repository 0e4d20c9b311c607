//! `waform webhook` (in progress).

pub fn run(_args: crate::cli::WebhookArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`waform webhook` is not implemented yet")
}
