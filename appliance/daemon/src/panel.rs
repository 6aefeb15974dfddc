//! Which panel shows the picture: the GFX HAT (when built with `hw` and it answers) or the PNG
//! panel, and why (docs/hardware.md).

use crate::StartError;
use crate::config::Settings;
use crate::display;

#[cfg(feature = "hw")]
type Hat = vigil_display::hw::GfxHat;
#[cfg(not(feature = "hw"))]
type Hat = std::convert::Infallible;

/// Picks the panel: the GFX HAT when asked for (`hat`: its LCD must open, else the start is
/// refused) or (`auto`) when its touch controller answers; else the PNG panel, and why.
pub(crate) fn choose_panel(
    settings: &Settings,
) -> Result<Result<Hat, display::PanelState>, StartError> {
    use display::{PanelKind, PanelReason, PanelState};
    if settings.display == PanelKind::Png {
        return Ok(Err(PanelState::new(
            PanelReason::Configured,
            "display = \"png\"",
        )));
    }
    #[cfg(feature = "hw")]
    {
        let hat = &settings.hat;
        if settings.display == PanelKind::Auto
            && let Err(why) = vigil_display::hw::detect(hat)
        {
            return Ok(Err(PanelState::new(
                PanelReason::NotDetected,
                format!("display = \"auto\" and no GFX HAT answers: {why}"),
            )));
        }
        match vigil_display::hw::GfxHat::open(hat) {
            Ok(h) => Ok(Ok(h)),
            Err(e) if settings.display == PanelKind::Hat => {
                Err(StartError::Other(format!("display = \"hat\": {e}")))
            }
            // Auto: the appliance still serves, on the PNG panel.
            Err(e) => Ok(Err(PanelState::new(
                PanelReason::OpenFailed,
                format!("the GFX HAT answers but its LCD cannot be opened: {e}"),
            ))),
        }
    }
    #[cfg(not(feature = "hw"))]
    {
        if settings.display == PanelKind::Hat {
            return Err(StartError::Other(
                "display = \"hat\" but vigild was built without the hw feature".into(),
            ));
        }
        Ok(Err(PanelState::new(
            PanelReason::NotBuilt,
            "vigild was built without the hw feature (no GFX HAT support)",
        )))
    }
}

/// The display on the panel [`choose_panel`] picked.
pub(crate) fn open_display(
    settings: &Settings,
    model: vigil_core::Projection,
    status: vigil_display::Status,
    now_ms: u64,
) -> Result<display::Display, StartError> {
    let png_path = settings.state_dir.join("display.png");
    match choose_panel(settings)? {
        Err(panel) => {
            if panel.reason == display::PanelReason::OpenFailed {
                tracing::error!(detail = %panel.detail, "display: PNG panel");
            } else {
                tracing::info!(path = %png_path.display(), reason = panel.reason.code(), detail = %panel.detail, "display: PNG panel");
            }
            Ok(display::Display::new(
                model,
                status,
                Some(png_path),
                panel,
                now_ms,
            ))
        }
        #[cfg(feature = "hw")]
        Ok(hat) => {
            let d = display::Display::on_hat(model, status, hat, now_ms);
            let p = d.panel();
            if p.reason == display::PanelReason::Ok {
                tracing::info!(detail = %p.detail, "display: GFX HAT");
            } else {
                tracing::warn!(detail = %p.detail, "display: GFX HAT, degraded");
            }
            Ok(d)
        }
        #[cfg(not(feature = "hw"))]
        Ok(never) => match never {},
    }
}
