//! The process exit status every command returns, typed so a command
//! cannot invent a code: 0 success, 1 failure, 2 changes
//! (`plan --detailed-exitcode`), 130/143 interrupted by SIGINT/SIGTERM
//! (128 + the signal, as shells report it).

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything asked for was done (0).
    Success,
    /// An error, a rejected template, a blocked or stale send (1).
    Failure,
    /// `plan --detailed-exitcode`: the plan has changes (2).
    Changes,
    /// Stopped by SIGINT (130).
    Interrupted,
    /// Stopped by SIGTERM (143).
    Terminated,
}

impl ExitStatus {
    /// The status for a run stopped by `signal` (SIGTERM: [`Terminated`],
    /// anything else: [`Interrupted`]).
    ///
    /// [`Terminated`]: ExitStatus::Terminated
    /// [`Interrupted`]: ExitStatus::Interrupted
    pub fn from_signal(signal: i32) -> ExitStatus {
        if signal == SIGTERM {
            ExitStatus::Terminated
        } else {
            ExitStatus::Interrupted
        }
    }

    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Changes => 2,
            ExitStatus::Interrupted => 130,
            ExitStatus::Terminated => 143,
        }
    }

    /// Whether this is [`ExitStatus::Success`].
    pub fn is_success(self) -> bool {
        self == ExitStatus::Success
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

/// SIGTERM's number (15 on every Unix; no libc needed to name it).
const SIGTERM: i32 = 15;

#[cfg(test)]
mod tests {
    use super::ExitStatus;

    #[test]
    fn codes_match_the_shell_conventions() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Failure.code(), 1);
        assert_eq!(ExitStatus::Changes.code(), 2);
        assert_eq!(ExitStatus::from_signal(2), ExitStatus::Interrupted);
        assert_eq!(ExitStatus::from_signal(2).code(), 130);
        assert_eq!(ExitStatus::from_signal(15).code(), 143);
    }
}
