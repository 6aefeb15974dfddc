//! Admission: the one decision whether a verified statement may be logged (docs/spec.md §1, §5).
//!
//! The daemon's pre-check (before a statement waits for the writer), its gate at the log's
//! serialization point, and the offline audit all call [`admit`], so the appliance and its
//! auditors judge the log by the same rules, and a refusal has one type whatever its timing.

use crate::registry::{Denied, Registry};
use crate::sig::Verified;

/// The time window a statement's `ts` must fall in: `now_secs` ± `skew_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The appliance clock when the statement arrived, unix seconds.
    pub now_secs: u64,
    /// The allowed distance either side.
    pub skew_secs: u64,
}

/// What a decision is taken against besides the enrolled keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules<'a> {
    /// This log's origin: the only audience accepted.
    pub origin: &'a str,
    /// The `ts` window; `None` while the appliance clock is not synchronised (nothing to judge
    /// `ts` against), and for audits (the allowed skew is a device setting the log does not
    /// record; each entry was judged against it when it arrived).
    pub window: Option<Window>,
}

/// May `v` be appended to a log whose enrolments are `registry`? Checked in this order, the
/// first failure deciding: an active signer whose key matches, its role may send this kind, the
/// audience, the `ts` window, and for enrolments and revocations a valid change.
pub fn admit(registry: &Registry, v: &Verified, rules: &Rules<'_>) -> Result<(), Denied> {
    registry.authorize(v)?;
    let st = v.statement();
    if st.to() != rules.origin {
        return Err(Denied::WrongAudience {
            to: st.to().to_owned(),
            origin: rules.origin.to_owned(),
        });
    }
    if let Some(w) = rules.window {
        let off = w.now_secs.abs_diff(st.ts());
        if off > w.skew_secs {
            return Err(Denied::Stale {
                off_secs: off,
                allowed_secs: w.skew_secs,
            });
        }
    }
    registry.check_change(st)
}
