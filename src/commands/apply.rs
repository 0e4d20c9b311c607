//! `waform apply` (in progress).

pub fn run(_args: crate::cli::ApplyArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`waform apply` is not implemented yet")
}
