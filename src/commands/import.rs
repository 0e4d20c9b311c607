//! `waform import` (in progress).

pub fn run(_args: crate::cli::ImportArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`waform import` is not implemented yet")
}
