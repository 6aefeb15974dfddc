//! Screens pinned by golden PNGs (rendered through embedded-graphics-simulator without SDL), and
//! the pad-driven UI state machine. `VIGIL_BLESS=1 cargo test -p vigil-display` rewrites the
//! goldens and the README pictures in docs/screens/; a missing golden fails the test.

use std::path::PathBuf;

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics_simulator::{OutputSettings, SimulatorDisplay};
use vigil_core::{ClockState, Entry, Kind, Projection, SigningKey, Statement, sig};
use vigil_display::render::{truncate, wrap};
use vigil_display::ui::{ACK_CONFIRM_MS, DIM_AFTER_MS};
use vigil_display::{Command, Pad, Screen, Status, Ui, panel, render};

const T0: u64 = 1_795_349_600_000;

/// Entry `i`, signed by `nas`, of a statement of `kind` with these fields and body.
fn entry(i: u64, received: u64, kind: Kind, fields: &[(&str, &str)], body: &str) -> Entry {
    let key = SigningKey::from_bytes(&[3; 32]);
    let st = fields
        .iter()
        .fold(
            Statement::builder(kind, "o/log", 1, &format!("{i:032x}")),
            |b, (k, v)| b.header(k, v),
        )
        .body(body)
        .build()
        .unwrap_or_else(|e| panic!("{e}: {fields:?}"));
    let v = sig::sign(st, "nas", &key).expect("verifies");
    Entry::new(i, received, ClockState::Synced, &v)
}

/// An alert entry.
fn alert(i: u64, received: u64, severity: &str, title: &str, topic: &str, body: &str) -> Entry {
    let fields = [("severity", severity), ("title", title), ("topic", topic)];
    entry(i, received, Kind::Alert, &fields, body)
}

/// An acknowledgement of entry `r`.
fn ack(i: u64, received: u64, r: &str) -> Entry {
    entry(i, received, Kind::Ack, &[("ref", r)], "")
}

fn sample() -> Projection {
    let mut p = Projection::new();
    p.apply(&alert(
        0,
        T0 - 3_600_000,
        "warning",
        "disk 91% on nas",
        "disk",
        "",
    ));
    p.apply(&alert(
        1,
        T0 - 300_000,
        "critical",
        "UPS on battery, 12 min left of runtime remaining now",
        "power",
        "mains lost at 14:02; load 310 W.\nBattery at 64% and falling. Shut down the NAS before it goes below 20%.\n",
    ));
    p.apply(&alert(
        2,
        T0 - 20_000,
        "info",
        "Sicherung läuft ☃ über Nacht",
        "backup",
        "",
    ));
    p
}

fn status() -> Status {
    Status {
        first_boot: false,
        ca_fingerprint: "SHA256:p3XxftQNb5f0w3ZutwIzkv5F5/tIi0XSKsByGjDIK4A".into(),
        log_fingerprint: "SHA256:8Mwngp2h4SvL9hAmBZnd0GGB6ekv/0Sr/wc6lbFxEzo".into(),
        not_writable: None,
        root_b64: "fdcUR/MYJcZwgsW5IdnX/BwGvk2RWGZKbegQf4VcicY=".into(),
        size: 1234,
        checks_on_hold: false,
    }
}

fn golden(name: &str, screen: &Screen) {
    let frame = panel::frame(screen);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let path = dir.join(format!("{name}.png"));
    if std::env::var_os("VIGIL_BLESS").is_some() {
        frame
            .to_rgb_output_image(&OutputSettings::default())
            .save_png(&path)
            .expect("save golden");
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screens");
        std::fs::create_dir_all(&docs).expect("mkdir");
        std::fs::write(docs.join(format!("{name}.png")), panel::png(&frame)).expect("save picture");
    }
    let want: SimulatorDisplay<BinaryColor> = SimulatorDisplay::load_png(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with VIGIL_BLESS=1 to create)", path.display()));
    if let Some(diff) = frame.diff(&want) {
        let on = diff
            .bounding_box()
            .points()
            .filter(|p| diff.get_pixel(*p) == BinaryColor::On)
            .count();
        panic!("{name}: {on} pixels differ from {}", path.display());
    }
}

#[test]
fn golden_screens() {
    let p = sample();
    let mut ui = Ui::new(T0);
    let s = ui.screen(&p, &status(), T0);
    assert!(
        matches!(&s, Screen::List { rows, selected: 0, .. } if rows.len() == 3 && rows[0].title.starts_with("UPS"))
    );
    golden("list", &s);
    ui.press(Pad::Down, &p, T0);
    golden("list-second-selected", &ui.screen(&p, &status(), T0));
    ui.press(Pad::Up, &p, T0);
    ui.press(Pad::Select, &p, T0);
    let d = ui.screen(&p, &status(), T0);
    assert!(matches!(&d, Screen::Detail { row, .. } if row.title.starts_with("UPS")));
    golden("detail", &d);
    golden(
        "idle",
        &Ui::new(T0).screen(&Projection::new(), &status(), T0),
    );
    golden(
        "idle-checks-on-hold",
        &Ui::new(T0).screen(
            &Projection::new(),
            &Status {
                checks_on_hold: true,
                ..status()
            },
            T0,
        ),
    );
    let mut fb = Projection::new();
    fb.apply(&entry(
        0,
        T0,
        Kind::Boot,
        &[("version", "0.1.0"), ("image", "dev")],
        "",
    ));
    golden(
        "first-boot",
        &Ui::new(T0).screen(
            &fb,
            &Status {
                first_boot: true,
                ..status()
            },
            T0,
        ),
    );
    golden(
        "not-writable",
        &Ui::new(T0).screen(
            &p,
            &Status {
                not_writable: Some("stored hash (0, 3) does not match the entries".into()),
                ..status()
            },
            T0,
        ),
    );
    golden(
        "acked",
        &Screen::Acked {
            title: "UPS on battery, 12 min left".into(),
        },
    );
}

#[test]
fn pads_drive_the_ui_and_hold_acknowledges() {
    let mut p = sample();
    let mut ui = Ui::new(T0);
    // Selection stays within the list.
    ui.press(Pad::Up, &p, T0);
    assert!(matches!(
        ui.screen(&p, &status(), T0),
        Screen::List { selected: 0, .. }
    ));
    for _ in 0..5 {
        ui.press(Pad::Down, &p, T0);
    }
    assert!(matches!(
        ui.screen(&p, &status(), T0),
        Screen::List { selected: 2, .. }
    ));
    // Select opens the detail of the selected alert; back returns.
    ui.press(Pad::Select, &p, T0);
    assert!(
        matches!(ui.screen(&p, &status(), T0), Screen::Detail { ref row, .. } if row.title.starts_with("Sicherung"))
    );
    ui.press(Pad::Back, &p, T0);
    assert!(matches!(
        ui.screen(&p, &status(), T0),
        Screen::List { selected: 2, .. }
    ));
    // Holding select acknowledges the selected alert (entry 2) and confirms for 2 s.
    assert_eq!(ui.hold_select(&p, T0), Some(Command::Ack(2)));
    assert!(matches!(
        ui.screen(&p, &status(), T0 + 1),
        Screen::Acked { .. }
    ));
    assert!(matches!(
        ui.screen(&p, &status(), T0 + ACK_CONFIRM_MS),
        Screen::List { .. }
    ));
    // Once the ack is logged, holding again does nothing.
    p.apply(&ack(3, T0, "2"));
    assert_eq!(ui.hold_select(&p, T0 + 5000), None);
}

#[test]
fn backlight_follows_severity_and_dims_when_idle() {
    let mut p = sample();
    let ui = Ui::new(T0);
    assert_eq!(
        ui.backlight(&p.counts(T0), T0),
        (255, 0, 0),
        "unacknowledged critical: red"
    );
    p.apply(&ack(3, T0, "1"));
    assert_eq!(
        ui.backlight(&p.counts(T0), T0),
        (255, 110, 0),
        "then amber for the warning"
    );
    assert_eq!(
        ui.backlight(&p.counts(T0), T0 + DIM_AFTER_MS),
        (255, 110, 0),
        "urgent: never dims"
    );
    p.apply(&ack(4, T0, "0"));
    assert_eq!(
        ui.backlight(&p.counts(T0), T0),
        (255, 255, 255),
        "all acknowledged: white"
    );
    assert_eq!(
        ui.backlight(&p.counts(T0), T0 + DIM_AFTER_MS),
        (16, 16, 16),
        "idle: dimmed"
    );
}

#[test]
fn text_fits_the_panel() {
    assert_eq!(truncate("short", 10), "short");
    assert_eq!(truncate("a rather long title", 10), "a rather ~");
    assert_eq!(
        truncate("ääääääääääää", 5).chars().count(),
        5,
        "counts characters, not bytes"
    );
    assert_eq!(wrap("one two three four", 9), ["one two", "three", "four"]);
    assert_eq!(wrap("abcdefghijkl", 5), ["abcde", "fghij", "kl"]);
    assert_eq!(wrap("a\n\nb", 5), ["a", "", "b"]);
    for line in wrap(&"word ".repeat(100), render::COLS) {
        assert!(line.chars().count() <= render::COLS);
    }
    // Non-ASCII draws as the font's replacement glyph: the same pixels as '?'.
    let a = panel::frame(&Screen::Acked { title: "ü".into() });
    let b = panel::frame(&Screen::Acked { title: "?".into() });
    assert!(a.diff(&b).is_none());
}

#[test]
fn shows_text_finds_what_the_panel_draws_and_nothing_else() {
    let p = sample();
    let mut ui = Ui::new(T0);
    let list = panel::png(&panel::frame(&ui.screen(&p, &status(), T0)));
    // The selected row is drawn light on dark, the others dark on light.
    assert_eq!(panel::shows_text(&list, "UPS on battery"), Ok(true));
    assert_eq!(panel::shows_text(&list, "disk 91% on nas"), Ok(true));
    assert_eq!(panel::shows_text(&list, "disk 92% on nas"), Ok(false));
    assert_eq!(panel::shows_text(&list, "UPS on batterz"), Ok(false));
    ui.press(Pad::Down, &p, T0);
    let second = panel::png(&panel::frame(&ui.screen(&p, &status(), T0)));
    assert_eq!(panel::shows_text(&second, "disk 91% on nas"), Ok(true));
    let idle = panel::png(&panel::frame(&Ui::new(T0).screen(
        &Projection::new(),
        &status(),
        T0,
    )));
    assert_eq!(panel::shows_text(&idle, "UPS on battery"), Ok(false));
    assert_eq!(panel::shows_text(&idle, "all clear"), Ok(true));
    assert!(panel::shows_text(b"not a png", "x").is_err());
}

/// A list longer than the screen, scrolled: the header counts every active alert, the rows are
/// the window around the selection (this golden was made by the renderer that drew every row).
#[test]
fn golden_scrolled_list() {
    let mut p = Projection::new();
    for i in 0..12u64 {
        let sev = ["info", "warning", "critical"][(i % 3) as usize];
        p.apply(&alert(
            i,
            T0 - 60_000 * (12 - i),
            sev,
            &format!("check {i} failed"),
            &format!("t{i}"),
            "",
        ));
    }
    let mut ui = Ui::new(T0);
    for _ in 0..9 {
        ui.press(Pad::Down, &p, T0);
    }
    let s = ui.screen(&p, &status(), T0);
    golden("list-scrolled", &s);
    ui.press(Pad::Select, &p, T0);
    assert!(
        matches!(ui.screen(&p, &status(), T0), Screen::Detail { ref row, .. } if row.title == "check 6 failed"),
        "the tenth in display order (critical 11 8 5 2, warning 10 7 4 1, info 9 6 3 0) is check 6: {:?}",
        ui.screen(&p, &status(), T0)
    );
}

#[test]
fn characters_outside_the_font_are_drawn_visibly_never_as_nothing() {
    let blank = panel::frame(&Screen::Acked {
        title: String::new(),
    });
    let question = panel::frame(&Screen::Acked { title: "?".into() });
    assert!(
        question.diff(&blank).is_some(),
        "the replacement glyph shows"
    );
    // A combining accent, a symbol, a CJK character: one visible replacement cell each.
    for c in ["\u{0301}", "\u{2603}", "\u{30C7}"] {
        let f = panel::frame(&Screen::Acked { title: c.into() });
        assert!(
            f.diff(&question).is_none(),
            "{c:?} draws as the replacement glyph"
        );
    }
}
