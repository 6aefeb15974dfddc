//! How `vigil` ends: one exit code per kind of outcome (docs/spec.md §9).

/// The exit codes of `vigil`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Done = 0,
    /// 1: something did not verify (a receipt, a checkpoint, an audit) or was not confirmed.
    VerificationFailed = 1,
    /// 2: usage or local setup (flags, files, pinned keys).
    Usage = 2,
    /// 3: the appliance refused (a 4xx other than 429).
    Refused = 3,
    /// 4: the appliance was not reached, or was overloaded (429, 503) past the retries.
    Unreachable = 4,
}

impl Exit {
    /// Every code, in order.
    pub const ALL: [Exit; 5] = [
        Exit::Done,
        Exit::VerificationFailed,
        Exit::Usage,
        Exit::Refused,
        Exit::Unreachable,
    ];

    /// The process exit status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// A few words for `--help`.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Done => "done",
            Exit::VerificationFailed => "verification failed",
            Exit::Usage => "usage or setup",
            Exit::Refused => "refused by the appliance (4xx)",
            Exit::Unreachable => "not reached or overloaded",
        }
    }

    /// The exit for an HTTP answer that was not a success: 429 and 5xx are the appliance being
    /// busy or down, other 4xx a refusal.
    pub fn for_status(status: u16) -> Exit {
        match status {
            429 | 500.. => Exit::Unreachable,
            400..=499 => Exit::Refused,
            _ => Exit::Unreachable,
        }
    }
}

/// The `--help` line listing every exit code.
pub const HELP: &str = "Exit codes: 0 done, 1 verification failed, 2 usage or setup, 3 refused by the appliance (4xx), 4 not reached or overloaded.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_line_lists_every_code_with_its_meaning() {
        let listed: Vec<String> = Exit::ALL
            .iter()
            .map(|e| format!("{} {}", e.code(), e.meaning()))
            .collect();
        assert_eq!(HELP, format!("Exit codes: {}.", listed.join(", ")));
        let spec = include_str!("../../../docs/spec.md").replace("\n  ", " ");
        assert!(spec.contains(HELP), "docs/spec.md §9 lists the same codes");
    }

    #[test]
    fn answers_map_to_refused_or_unreachable() {
        assert_eq!(Exit::for_status(403), Exit::Refused);
        assert_eq!(Exit::for_status(409), Exit::Refused);
        assert_eq!(Exit::for_status(429), Exit::Unreachable);
        assert_eq!(Exit::for_status(503), Exit::Unreachable);
    }
}
