//! Prometheus text metrics: ingest outcomes, queue depth, commit latency, log size.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the commit-latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The daemon's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    outcomes: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    commit_buckets: [AtomicU64; BUCKETS.len()],
    commit_count: AtomicU64,
    commit_sum_us: AtomicU64,
    committed_entries: AtomicU64,
    redraws: AtomicU64,
}

impl Metrics {
    /// Counts one request outcome: `endpoint` (`alerts`, `admin`) and a stable code
    /// (`created`, `duplicate`, or an error code).
    pub fn outcome(&self, endpoint: &'static str, code: &'static str) {
        *self
            .outcomes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((endpoint, code))
            .or_default() += 1;
    }

    /// Records one commit of `entries` submissions taking `took`.
    pub fn commit(&self, entries: usize, took: Duration) {
        let s = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.commit_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.commit_count.fetch_add(1, Ordering::Relaxed);
        self.commit_sum_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.committed_entries
            .fetch_add(entries as u64, Ordering::Relaxed);
    }

    /// Counts one redraw of the display (the screen changed and was rendered).
    pub fn redrawn(&self) {
        self.redraws.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders the Prometheus text exposition.
    pub fn render(
        &self,
        queue_depth: usize,
        queue_capacity: usize,
        log_size: u64,
        writable: bool,
        panel: &crate::display::PanelState,
    ) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP vigil_ingest_total Statements received, by endpoint and outcome."
        );
        let _ = writeln!(s, "# TYPE vigil_ingest_total counter");
        for ((ep, code), n) in self
            .outcomes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                s,
                "vigil_ingest_total{{endpoint=\"{ep}\",outcome=\"{code}\"}} {n}"
            );
        }
        let _ = writeln!(
            s,
            "# HELP vigil_queue_depth Statements waiting to be committed."
        );
        let _ = writeln!(s, "# TYPE vigil_queue_depth gauge");
        let _ = writeln!(s, "vigil_queue_depth {queue_depth}");
        let _ = writeln!(s, "# HELP vigil_queue_capacity Bound of the ingest queue.");
        let _ = writeln!(s, "# TYPE vigil_queue_capacity gauge");
        let _ = writeln!(s, "vigil_queue_capacity {queue_capacity}");
        let _ = writeln!(
            s,
            "# HELP vigil_commit_seconds Time to commit one batch durably."
        );
        let _ = writeln!(s, "# TYPE vigil_commit_seconds histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "vigil_commit_seconds_bucket{{le=\"{b}\"}} {}",
                self.commit_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.commit_count.load(Ordering::Relaxed);
        let _ = writeln!(s, "vigil_commit_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            s,
            "vigil_commit_seconds_sum {}",
            self.commit_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "vigil_commit_seconds_count {count}");
        let _ = writeln!(
            s,
            "# HELP vigil_committed_entries_total Submissions processed by commits."
        );
        let _ = writeln!(s, "# TYPE vigil_committed_entries_total counter");
        let _ = writeln!(
            s,
            "vigil_committed_entries_total {}",
            self.committed_entries.load(Ordering::Relaxed)
        );
        let _ = writeln!(s, "# HELP vigil_log_size Entries in the log.");
        let _ = writeln!(s, "# TYPE vigil_log_size gauge");
        let _ = writeln!(s, "vigil_log_size {log_size}");
        let _ = writeln!(s, "# HELP vigil_log_writable 1 while the log takes writes.");
        let _ = writeln!(s, "# TYPE vigil_log_writable gauge");
        let _ = writeln!(s, "vigil_log_writable {}", u8::from(writable));
        let _ = writeln!(
            s,
            "# HELP vigil_display_redraws_total Screens rendered (coalesced: a few per second at most)."
        );
        let _ = writeln!(s, "# TYPE vigil_display_redraws_total counter");
        let _ = writeln!(
            s,
            "vigil_display_redraws_total {}",
            self.redraws.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP vigil_display_panel The panel showing the picture (gfxhat or png) and why (docs/hardware.md); /healthz gives the details."
        );
        let _ = writeln!(s, "# TYPE vigil_display_panel gauge");
        let _ = writeln!(
            s,
            "vigil_display_panel{{panel=\"{}\",reason=\"{}\"}} 1",
            panel.reason.panel(),
            panel.reason.code()
        );
        s
    }
}
