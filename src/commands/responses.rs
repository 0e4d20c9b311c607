//! `waform responses` (in progress).

pub fn run(_args: crate::cli::ResponsesArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`waform responses` is not implemented yet")
}
