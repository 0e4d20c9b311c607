//! `waform status` (in progress).

pub fn run(_args: crate::cli::StatusArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`waform status` is not implemented yet")
}
