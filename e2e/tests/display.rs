//! The display wired into the daemon: the projection follows commits, `GET /v1/display.png`
//! serves what the panel shows (auditors only), `DIR/display.png` is rewritten on change, and a
//! touch-pad hold logs a device-signed acknowledgement.

use vigil_display::{Screen, panel};
use vigil_e2e::{AUDITOR, Appliance, SOURCE};

fn wait_for(mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn display_png_follows_the_log_and_is_for_auditors() {
    let a = Appliance::start();
    let now = a.clock_ms();
    let d = &a.daemon().state.display;
    assert!(
        matches!(d.screen(now), Screen::FirstBoot { .. }),
        "first boot shows fingerprints"
    );
    assert_eq!(a.client.get("/v1/display.png").expect("reach").status, 401);
    assert_eq!(a.read("/v1/display.png", SOURCE).status, 403);
    let st = a.alert("critical", "power", "UPS on battery");
    assert_eq!(a.post_signed("/v1/alerts", &st, SOURCE).status, 201);
    wait_for(|| matches!(d.screen(now), Screen::List { .. }));
    let Screen::List { rows, .. } = d.screen(now) else {
        unreachable!()
    };
    assert_eq!(rows[0].title, "UPS on battery");
    let ans = a.read("/v1/display.png", AUDITOR);
    assert_eq!(ans.status, 200);
    assert_eq!(ans.content_type.as_deref(), Some("image/png"));
    assert_eq!(
        ans.body,
        panel::png(&panel::frame(&d.screen(now))),
        "serves exactly what the panel shows"
    );
    let file = a.dir.path().join("state/display.png");
    wait_for(|| std::fs::read(&file).is_ok_and(|b| b == ans.body));
}

#[test]
fn a_touch_pad_hold_logs_a_device_ack() {
    let a = Appliance::start();
    let now = a.clock_ms();
    let st = a.alert("critical", "power", "UPS on battery");
    let ans = a.post_signed("/v1/alerts", &st, SOURCE);
    let index = a.verify_receipt(&ans.body);
    let d = a.daemon().state.display.clone();
    wait_for(|| matches!(d.screen(now), Screen::List { .. }));
    let cmd = d
        .hold_select(now)
        .expect("an unacknowledged alert is selected");
    assert_eq!(cmd, vigil_display::Command::Ack(index));
    let before = a.log_size();
    vigild::button_ack(&a.daemon().state, index);
    wait_for(|| a.log_size() == before + 1);
    let entry = a.entry_text(before);
    assert!(
        entry.contains("kind: ack\nsigner: device\n") && entry.contains(&format!("ref: {index}")),
        "{entry}"
    );
    wait_for(|| matches!(d.screen(now + 3000), Screen::List { ref rows, .. } if rows[0].acked));
    assert_eq!(d.hold_select(now + 3000), None, "already acknowledged");
    d.refresh(now + 3000);
    assert_eq!(d.backlight(), Some((255, 255, 255)), "acknowledged: white");
}
