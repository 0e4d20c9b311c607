//! `waform plan` (in progress).

pub fn run(_args: crate::cli::PlanArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`waform plan` is not implemented yet")
}
