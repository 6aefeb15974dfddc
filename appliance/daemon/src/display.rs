//! The display service: the projection of the log (updated by the commit path), the UI state,
//! and the panel it is shown on — the PNG panel (rewrites `DIR/display.png` when the screen
//! changes, at the redraw task's bounded rate; `GET /v1/display.png` renders on demand) or,
//! with the `hw` feature on a Pi with the HAT, the GFX HAT.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use vigil_core::{Entry, Projection};
use vigil_display::{Screen, Status, Ui, panel};

/// Which panel shows the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelKind {
    /// The GFX HAT when present, else PNG.
    Auto,
    /// PNG only.
    Png,
    /// The GFX HAT (refuse to start without it).
    Hat,
}

/// Why the picture is where it is: which panel follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelReason {
    /// The GFX HAT, every part open.
    Ok,
    /// The GFX HAT's LCD, with the backlight or touch controller not answering.
    Degraded,
    /// PNG: `display = "png"`.
    Configured,
    /// PNG: vigild was built without the `hw` feature.
    NotBuilt,
    /// PNG: `display = "auto"` and no HAT answers.
    NotDetected,
    /// PNG: a HAT answers but its LCD cannot be opened.
    OpenFailed,
}

impl PanelReason {
    /// The stable code (`/metrics`, `/healthz`).
    pub fn code(self) -> &'static str {
        match self {
            PanelReason::Ok => "ok",
            PanelReason::Degraded => "degraded",
            PanelReason::Configured => "configured",
            PanelReason::NotBuilt => "not_built",
            PanelReason::NotDetected => "not_detected",
            PanelReason::OpenFailed => "open_failed",
        }
    }

    /// The panel: `gfxhat` or `png`.
    pub fn panel(self) -> &'static str {
        match self {
            PanelReason::Ok | PanelReason::Degraded => "gfxhat",
            _ => "png",
        }
    }
}

/// Which panel shows the picture, and why: `/healthz`, `/metrics` and the start-up message say
/// it, so a person whose LCD is dark finds out why without a serial console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelState {
    /// Why (and so which panel).
    pub reason: PanelReason,
    /// The whole story in words (which device or line, what the kernel answered).
    pub detail: String,
}

impl PanelState {
    /// The panel for `reason`, with `detail`.
    pub fn new(reason: PanelReason, detail: impl Into<String>) -> PanelState {
        PanelState {
            reason,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for PanelState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.reason;
        write!(f, "{} ({}: {})", r.panel(), r.code(), self.detail)
    }
}

struct Inner {
    projection: Projection,
    ui: Ui,
    status: Status,
    /// The screen last shown on the panels.
    screen: Option<Screen>,
    backlight: Option<(u8, u8, u8)>,
}

/// A rendered picture and the screen it shows.
struct Picture {
    screen: Screen,
    png: Arc<Vec<u8>>,
}

/// The display.
///
/// The model (projection, UI state) sits behind one short lock that the commit path takes to
/// fold entries in; rendering, PNG encoding, the file and the HAT happen outside it, so a
/// redraw never holds up the writer.
pub struct Display {
    inner: Mutex<Inner>,
    picture: Mutex<Option<Picture>>,
    png_path: Option<PathBuf>,
    panel: PanelState,
    #[cfg(feature = "hw")]
    hat: Option<Mutex<vigil_display::hw::GfxHat>>,
}

impl std::fmt::Debug for Display {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Display")
            .field("png_path", &self.png_path)
            .finish_non_exhaustive()
    }
}

use crate::locks::lock;

impl Display {
    /// A display over `projection` on the PNG panel (`panel` says why); `png_path` is where it
    /// writes (None: no file).
    pub fn new(
        projection: Projection,
        status: Status,
        png_path: Option<PathBuf>,
        panel: PanelState,
        now_ms: u64,
    ) -> Display {
        Display {
            inner: Mutex::new(Inner {
                projection,
                ui: Ui::new(now_ms),
                status,
                screen: None,
                backlight: None,
            }),
            picture: Mutex::new(None),
            png_path,
            panel,
            #[cfg(feature = "hw")]
            hat: None,
        }
    }

    /// A display over `projection` on the GFX HAT (no PNG file is written then;
    /// `GET /v1/display.png` still renders the same picture).
    #[cfg(feature = "hw")]
    pub fn on_hat(
        projection: Projection,
        status: Status,
        hat: vigil_display::hw::GfxHat,
        now_ms: u64,
    ) -> Display {
        let panel = if hat.problems().is_empty() {
            PanelState::new(PanelReason::Ok, "LCD, backlight and touch pads open")
        } else {
            PanelState::new(
                PanelReason::Degraded,
                format!("the LCD works; {}", hat.problems().join("; ")),
            )
        };
        let mut d = Display::new(projection, status, None, panel, now_ms);
        d.hat = Some(Mutex::new(hat));
        d
    }

    /// Which panel shows the picture, and why.
    pub fn panel(&self) -> &PanelState {
        &self.panel
    }

    /// Whether the HAT's touch pads work (the pad poller runs only then).
    #[cfg(feature = "hw")]
    pub fn has_touch(&self) -> bool {
        self.hat.as_ref().is_some_and(|h| lock(h).has_touch())
    }

    /// The projection's snapshot (what a restart rebuilds it from).
    pub fn snapshot(&self) -> vigil_core::projection::Snapshot {
        lock(&self.inner).projection.snapshot()
    }

    /// Folds committed entries in (called by the commit path; O(log n) per entry, no I/O).
    pub fn apply(&self, entries: &[Entry]) {
        let mut i = lock(&self.inner);
        for e in entries {
            i.projection.apply(e);
        }
    }

    /// Updates the log head and writability shown on screen.
    pub fn set_head(&self, size: u64, root: &[u8; 32], not_writable: Option<String>) {
        let mut i = lock(&self.inner);
        i.status.size = size;
        i.status.root_b64 = base64::engine::general_purpose::STANDARD.encode(root);
        i.status.not_writable = not_writable;
    }

    /// Whether the screen says checks are on hold (no synchronised clock).
    pub fn set_checks_on_hold(&self, hold: bool) {
        lock(&self.inner).status.checks_on_hold = hold;
    }

    /// Brings the panels up to date: when the screen changed, renders it, rewrites the PNG file
    /// (derived state: no fsync) and refreshes the HAT. Returns whether the screen changed.
    /// Callers rate-limit it (the daemon's redraw task); it blocks on file and bus I/O.
    pub fn refresh(&self, now_ms: u64) -> bool {
        let (screen, backlight) = {
            let mut guard = lock(&self.inner);
            let i = &mut *guard;
            let screen = i.ui.screen(&i.projection, &i.status, now_ms);
            let counts = i.projection.counts(now_ms);
            let rgb = i.ui.backlight(&counts, now_ms);
            let backlight = (i.backlight != Some(rgb)).then_some(rgb);
            i.backlight = Some(rgb);
            if i.screen.as_ref() == Some(&screen) {
                (None, backlight)
            } else {
                i.screen = Some(screen.clone());
                (Some(screen), backlight)
            }
        };
        #[cfg(feature = "hw")]
        if let Some(rgb) = backlight
            && let Some(hat) = &self.hat
            && let Err(e) = lock(hat).backlight(rgb)
        {
            tracing::warn!(error = %e, "GFX HAT backlight update failed");
        }
        #[cfg(not(feature = "hw"))]
        let _ = backlight;
        let Some(screen) = screen else {
            return false;
        };
        let png = self.render(&screen);
        if let Some(p) = &self.png_path
            && let Err(e) = crate::files::write_derived(p, &png)
        {
            tracing::warn!(error = %e, "cannot write the display picture");
        }
        #[cfg(feature = "hw")]
        if let Some(hat) = &self.hat {
            let mut fb = vigil_display::st7567::Framebuffer::default();
            let _ = vigil_display::render::draw(&screen, &mut fb);
            if let Err(e) = lock(hat).show(&fb) {
                tracing::warn!(error = %e, "GFX HAT update failed");
            }
        }
        true
    }

    /// The PNG of `screen`, encoded once per distinct screen.
    fn render(&self, screen: &Screen) -> Arc<Vec<u8>> {
        if let Some(p) = lock(&self.picture).as_ref()
            && p.screen == *screen
        {
            return p.png.clone();
        }
        let png = Arc::new(panel::png(&panel::frame(screen)));
        *lock(&self.picture) = Some(Picture {
            screen: screen.clone(),
            png: png.clone(),
        });
        png
    }

    /// The picture at `now_ms` as PNG, rendered on demand (the same frame the panels show).
    pub fn png(&self, now_ms: u64) -> Arc<Vec<u8>> {
        let screen = self.screen(now_ms);
        self.render(&screen)
    }

    /// The backlight colour last set (what the HAT shows).
    pub fn backlight(&self) -> Option<(u8, u8, u8)> {
        lock(&self.inner).backlight
    }

    /// The current screen.
    pub fn screen(&self, now_ms: u64) -> Screen {
        let mut i = lock(&self.inner);
        let Inner {
            ui,
            projection,
            status,
            ..
        } = &mut *i;
        ui.screen(projection, status, now_ms)
    }

    /// A pad press (hw loop and tests).
    pub fn press(&self, pad: vigil_display::Pad, now_ms: u64) {
        let mut i = lock(&self.inner);
        let Inner { ui, projection, .. } = &mut *i;
        ui.press(pad, projection, now_ms);
    }

    /// Select held: the ack to log, if any.
    pub fn hold_select(&self, now_ms: u64) -> Option<vigil_display::Command> {
        let mut i = lock(&self.inner);
        let Inner { ui, projection, .. } = &mut *i;
        ui.hold_select(projection, now_ms)
    }

    /// Polls the HAT's pads once: presses move the UI, a held select returns the ack to log.
    #[cfg(feature = "hw")]
    pub fn poll_pads(
        &self,
        pads: &mut vigil_display::cap1166::Pads,
        now_ms: u64,
    ) -> Option<vigil_display::Command> {
        use vigil_display::cap1166::PadEvent;
        let hat = self.hat.as_ref()?;
        let bits = lock(hat).pads().ok()?;
        let mut cmd = None;
        for ev in pads.sample(bits, now_ms) {
            match ev {
                PadEvent::Press(p) => self.press(p, now_ms),
                PadEvent::Hold(vigil_display::Pad::Select) => {
                    cmd = self.hold_select(now_ms).or(cmd)
                }
                PadEvent::Hold(_) => {}
            }
        }
        let _ = lock(hat).pad_leds(pads.down_mask());
        cmd
    }
}
