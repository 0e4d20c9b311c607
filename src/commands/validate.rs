//! `waform validate` (in progress).

pub fn run(_args: crate::cli::ValidateArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`waform validate` is not implemented yet")
}
