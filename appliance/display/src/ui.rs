//! What the display shows and how the pads move through it: a small state machine over the
//! projection. Pure: time is a parameter.

use vigil_core::projection::{AlertView, Counts, Projection};
use vigil_core::statement::Severity;

/// Rows a list or detail screen holds: 8 px each below the 8 px header of the 64 px LCD.
pub const LIST_ROWS: usize = 7;

/// The six touch pads, left to right as printed on the GFX HAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pad {
    /// Move up (scroll up in detail).
    Up,
    /// Move down (scroll down in detail).
    Down,
    /// Back to the list.
    Back,
    /// Unused (echoed on its LED).
    Minus,
    /// Open detail; hold 1 s to acknowledge.
    Select,
    /// Unused (echoed on its LED).
    Plus,
}

impl Pad {
    /// All pads in CAP1166 input order.
    pub const ALL: [Pad; 6] = [
        Pad::Up,
        Pad::Down,
        Pad::Back,
        Pad::Minus,
        Pad::Select,
        Pad::Plus,
    ];
}

/// One row of the list screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Severity.
    pub severity: Severity,
    /// Acknowledged.
    pub acked: bool,
    /// Title.
    pub title: String,
    /// Age, short (`5m`, `3h`, `2d`).
    pub age: String,
}

/// A screen to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// First boot: fingerprints to compare with `vigil trust` and the vkey.
    FirstBoot {
        /// CA certificate fingerprint.
        ca: String,
        /// Log key fingerprint.
        log: String,
    },
    /// Nothing active.
    Idle {
        /// `HH:MM` (UTC).
        clock: String,
        /// Log size.
        size: u64,
        /// First 8 base64 characters of the root.
        root: String,
        /// Checks are on hold (no synchronised clock to judge deadlines by).
        checks_on_hold: bool,
    },
    /// Active alerts.
    List {
        /// The rows on screen: at most [`LIST_ROWS`], from position `top` of the
        /// display order (scrolled so that `selected` is visible).
        rows: Vec<Row>,
        /// Position of `rows[0]` among all active alerts.
        top: usize,
        /// Selected position among all active alerts.
        selected: usize,
        /// Counts for the header (`counts.total()` alerts are active).
        counts: Counts,
    },
    /// One alert.
    Detail {
        /// The row.
        row: Row,
        /// Body.
        body: String,
        /// First body line shown.
        scroll: usize,
    },
    /// The acknowledgement was logged.
    Acked {
        /// Title of the acknowledged alert.
        title: String,
    },
    /// The start-up self-check failed.
    NotWritable {
        /// Why.
        reason: String,
    },
}

/// Short age: seconds, minutes, hours, days.
pub fn age(now_ms: u64, then_ms: u64) -> String {
    let s = now_ms.saturating_sub(then_ms) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn row(a: &AlertView, now_ms: u64) -> Row {
    Row {
        severity: a.severity,
        acked: a.acked,
        title: a.title.clone(),
        age: age(now_ms, a.received_ms),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    List,
    Detail { index: u64, scroll: usize },
    Acked { title: String, until_ms: u64 },
}

/// What the caller must do after a pad event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Append a device-signed `ack/v1` for this entry.
    Ack(u64),
}

/// The UI state.
#[derive(Debug, Clone)]
pub struct Ui {
    mode: Mode,
    selected: usize,
    last_input_ms: u64,
}

/// How long the "acknowledged" confirmation stays.
pub const ACK_CONFIRM_MS: u64 = 2000;
/// Idle time after which the backlight dims (when nothing urgent is active).
pub const DIM_AFTER_MS: u64 = 60_000;

/// Status the idle and error screens need besides the projection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// First boot (fingerprints shown until the first alert).
    pub first_boot: bool,
    /// CA fingerprint.
    pub ca_fingerprint: String,
    /// Log key fingerprint.
    pub log_fingerprint: String,
    /// `Some(reason)` when the log refuses writes.
    pub not_writable: Option<String>,
    /// Base64 of the root hash.
    pub root_b64: String,
    /// Log size.
    pub size: u64,
    /// Checks exist but no miss is recorded: the appliance clock is not synchronised.
    pub checks_on_hold: bool,
}

impl Ui {
    /// A fresh UI at `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        Ui {
            mode: Mode::List,
            selected: 0,
            last_input_ms: now_ms,
        }
    }

    /// The screen for the projection at `now_ms`.
    pub fn screen(&mut self, p: &Projection, status: &Status, now_ms: u64) -> Screen {
        if let Some(reason) = &status.not_writable {
            return Screen::NotWritable {
                reason: reason.clone(),
            };
        }
        if let Mode::Acked { title, until_ms } = &self.mode {
            if now_ms < *until_ms {
                return Screen::Acked {
                    title: title.clone(),
                };
            }
            self.mode = Mode::List;
        }
        if let Mode::Detail { index, scroll } = &self.mode {
            match p.find_active(*index, now_ms) {
                Some(a) => {
                    return Screen::Detail {
                        row: row(a, now_ms),
                        body: a.body.replace('\t', " "),
                        scroll: *scroll,
                    };
                }
                None => self.mode = Mode::List,
            }
        }
        let counts = p.counts(now_ms);
        if counts.total() == 0 {
            self.selected = 0;
            if status.first_boot && p.entries_seen() > 0 && !p_has_alerts(p) {
                return Screen::FirstBoot {
                    ca: status.ca_fingerprint.clone(),
                    log: status.log_fingerprint.clone(),
                };
            }
            let secs = now_ms / 1000;
            return Screen::Idle {
                clock: format!("{:02}:{:02}", (secs / 3600) % 24, (secs / 60) % 60),
                size: status.size,
                root: status.root_b64.chars().take(8).collect(),
                checks_on_hold: status.checks_on_hold,
            };
        }
        self.selected = self.selected.min(counts.total() - 1);
        let top = self.selected.saturating_sub(LIST_ROWS - 1);
        Screen::List {
            rows: p
                .window(now_ms, top, LIST_ROWS)
                .iter()
                .map(|a| row(a, now_ms))
                .collect(),
            top,
            selected: self.selected,
            counts,
        }
    }

    /// A short press.
    pub fn press(&mut self, pad: Pad, p: &Projection, now_ms: u64) {
        self.last_input_ms = now_ms;
        match (&mut self.mode, pad) {
            (Mode::List, Pad::Up) => self.selected = self.selected.saturating_sub(1),
            (Mode::List, Pad::Down) => {
                let total = p.counts(now_ms).total();
                self.selected = (self.selected + 1).min(total.saturating_sub(1))
            }
            (Mode::List, Pad::Select) => {
                if let Some(a) = p.nth_active(now_ms, self.selected) {
                    self.mode = Mode::Detail {
                        index: a.index,
                        scroll: 0,
                    };
                }
            }
            (Mode::Detail { scroll, .. }, Pad::Up) => *scroll = scroll.saturating_sub(1),
            (Mode::Detail { scroll, .. }, Pad::Down) => *scroll = (*scroll + 1).min(64),
            (Mode::Detail { .. } | Mode::Acked { .. }, Pad::Back) => self.mode = Mode::List,
            _ => {}
        }
    }

    /// Select held for a second: acknowledge the selected (or open) alert if it is not yet.
    pub fn hold_select(&mut self, p: &Projection, now_ms: u64) -> Option<Command> {
        self.last_input_ms = now_ms;
        let target = match &self.mode {
            Mode::Detail { index, .. } => p.find_active(*index, now_ms),
            Mode::List => p.nth_active(now_ms, self.selected),
            Mode::Acked { .. } => None,
        }?;
        if target.acked {
            return None;
        }
        let cmd = Command::Ack(target.index);
        self.mode = Mode::Acked {
            title: target.title.clone(),
            until_ms: now_ms + ACK_CONFIRM_MS,
        };
        Some(cmd)
    }

    /// Backlight colour (r, g, b) for all six zones: red while an unacknowledged critical is
    /// active, amber for warning, white otherwise; dimmed after [`DIM_AFTER_MS`] without input
    /// unless something unacknowledged is active.
    pub fn backlight(&self, counts: &Counts, now_ms: u64) -> (u8, u8, u8) {
        let (rgb, urgent) = if counts.unacked_critical > 0 {
            ((255, 0, 0), true)
        } else if counts.unacked_warning > 0 {
            ((255, 110, 0), true)
        } else {
            ((255, 255, 255), false)
        };
        if !urgent && now_ms.saturating_sub(self.last_input_ms) >= DIM_AFTER_MS {
            let dim = |c: u8| (u16::from(c) * 16 / 255) as u8;
            return (dim(rgb.0), dim(rgb.1), dim(rgb.2));
        }
        rgb
    }
}

fn p_has_alerts(p: &Projection) -> bool {
    // Any alert ever folded shows up either active or not; first-boot ends at the first alert.
    p.has_seen_alert()
}
