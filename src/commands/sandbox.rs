//! `waform sandbox` (in progress).

pub fn run(_args: crate::cli::SandboxArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`waform sandbox` is not implemented yet")
}
