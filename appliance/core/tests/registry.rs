//! Admission: who may log what, enrolment and revocation as a fold over entries.

use vigil_core::admission::{self, Rules, Window};
use vigil_core::registry::{DEVICE, Denied};
use vigil_core::statement::Kind;
use vigil_core::{ClockState, Entry, Registry, SigningKey, Statement, sig};

/// A statement of `kind` to `o/log` at ts 1 with nonce `n` and these fields.
fn text(kind: Kind, n: u32, fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .fold(
            Statement::builder(kind, "o/log", 1, &format!("{n:032x}")),
            |b, (k, v)| b.header(k, v),
        )
        .text()
}

fn verified(text: &str, signer: &str, key: &SigningKey) -> vigil_core::Verified {
    let st = Statement::parse(text.as_bytes()).expect("parses");
    sig::sign(st, signer, key).expect("verifies")
}

fn enroll_text(n: u32, name: &str, role: &str, key: &SigningKey) -> String {
    let line = sig::openssh_public_key_line(&key.verifying_key(), "");
    text(
        Kind::KeyEnroll,
        n,
        &[("name", name), ("role", role), ("public-key", &line)],
    )
}

/// The decision under the rules of a log `o/log` whose clock is not synchronised.
fn w_admit(reg: &Registry, v: &vigil_core::Verified) -> Result<(), Denied> {
    admission::admit(
        reg,
        v,
        &Rules {
            origin: "o/log",
            window: None,
        },
    )
}

struct World {
    device: SigningKey,
    reg: Registry,
    next: u64,
}

impl World {
    fn new() -> World {
        let device = SigningKey::from_bytes(&[1; 32]);
        World {
            reg: Registry::new(device.verifying_key()),
            device,
            next: 0,
        }
    }
    fn commit(&mut self, v: &vigil_core::Verified) {
        w_admit(&self.reg, v).expect("admitted");
        let e = Entry::new(self.next, 0, ClockState::Synced, v);
        self.next += 1;
        self.reg.apply(&e);
    }
}

#[test]
fn device_enrols_then_roles_decide() {
    let mut w = World::new();
    let admin = SigningKey::from_bytes(&[2; 32]);
    let src = SigningKey::from_bytes(&[3; 32]);
    let dev = w.device.clone();
    w.commit(&verified(
        &enroll_text(1, "ops", "admin", &admin),
        DEVICE,
        &dev,
    ));
    w.commit(&verified(
        &enroll_text(2, "nas", "source", &src),
        "ops",
        &admin,
    ));
    let alert = text(Kind::Alert, 3, &[("severity", "info"), ("title", "t")]);
    assert_eq!(w_admit(&w.reg, &verified(&alert, "nas", &src)), Ok(()));
    assert_eq!(
        w_admit(&w.reg, &verified(&alert, "ops", &admin)),
        Err(Denied::Role {
            role: "admin",
            kind: Kind::Alert
        })
    );
    let ack = text(Kind::Ack, 4, &[("ref", "0")]);
    assert_eq!(
        w_admit(&w.reg, &verified(&ack, "nas", &src)),
        Err(Denied::Role {
            role: "source",
            kind: Kind::Ack
        })
    );
    assert_eq!(w_admit(&w.reg, &verified(&ack, DEVICE, &dev)), Ok(()));
    let boot = text(Kind::Boot, 5, &[("version", "1"), ("image", "x")]);
    assert_eq!(
        w_admit(&w.reg, &verified(&boot, "ops", &admin)),
        Err(Denied::Role {
            role: "admin",
            kind: Kind::Boot
        })
    );
    // A stranger, and someone claiming an enrolled name with another key.
    let stranger = SigningKey::from_bytes(&[9; 32]);
    assert_eq!(
        w_admit(&w.reg, &verified(&alert, "ghost", &stranger)),
        Err(Denied::Unknown)
    );
    assert_eq!(
        w_admit(&w.reg, &verified(&alert, "nas", &stranger)),
        Err(Denied::Unknown)
    );
}

#[test]
fn revocation_and_no_reuse() {
    let mut w = World::new();
    let admin = SigningKey::from_bytes(&[2; 32]);
    let src = SigningKey::from_bytes(&[3; 32]);
    let dev = w.device.clone();
    w.commit(&verified(
        &enroll_text(1, "ops", "admin", &admin),
        DEVICE,
        &dev,
    ));
    w.commit(&verified(
        &enroll_text(2, "nas", "source", &src),
        "ops",
        &admin,
    ));
    // Same name again, same key under another name: conflicts.
    let other = SigningKey::from_bytes(&[4; 32]);
    assert!(matches!(
        w_admit(
            &w.reg,
            &verified(&enroll_text(3, "nas", "source", &other), "ops", &admin)
        ),
        Err(Denied::Conflict(_))
    ));
    assert!(matches!(
        w_admit(
            &w.reg,
            &verified(&enroll_text(4, "nas2", "source", &src), "ops", &admin)
        ),
        Err(Denied::Conflict(_))
    ));
    assert!(matches!(
        w_admit(
            &w.reg,
            &verified(&enroll_text(5, "x", "source", &dev), "ops", &admin)
        ),
        Err(Denied::Conflict(_))
    ));
    let revoke = text(Kind::KeyRevoke, 6, &[("name", "nas"), ("comment", "lost")]);
    w.commit(&verified(&revoke, "ops", &admin));
    let alert = text(Kind::Alert, 7, &[("severity", "info"), ("title", "t")]);
    assert_eq!(
        w_admit(&w.reg, &verified(&alert, "nas", &src)),
        Err(Denied::Revoked("nas".into()))
    );
    assert!(
        matches!(
            w_admit(&w.reg, &verified(&revoke, "ops", &admin)),
            Err(Denied::Invalid(_))
        ),
        "already revoked"
    );
    // A revoked name cannot be enrolled again.
    assert!(matches!(
        w_admit(
            &w.reg,
            &verified(&enroll_text(8, "nas", "source", &other), "ops", &admin)
        ),
        Err(Denied::Conflict(_))
    ));
    let unknown = text(Kind::KeyRevoke, 9, &[("name", "nobody"), ("comment", "x")]);
    assert!(matches!(
        w_admit(&w.reg, &verified(&unknown, "ops", &admin)),
        Err(Denied::Invalid(_))
    ));
}

#[test]
fn audience_and_window_are_part_of_the_decision() {
    let w = World::new();
    let dev = w.device.clone();
    let boot = &Statement::builder(Kind::Boot, "o/log", 1000, &format!("{:032x}", 1))
        .header("version", 1)
        .header("image", "t")
        .text();
    let v = verified(boot, DEVICE, &dev);
    let rules = |origin, window| Rules { origin, window };
    assert_eq!(admission::admit(&w.reg, &v, &rules("o/log", None)), Ok(()));
    assert_eq!(
        admission::admit(&w.reg, &v, &rules("other/log", None)),
        Err(Denied::WrongAudience {
            to: "o/log".into(),
            origin: "other/log".into()
        })
    );
    let window = |now_secs| {
        Some(Window {
            now_secs,
            skew_secs: 300,
        })
    };
    assert_eq!(
        admission::admit(&w.reg, &v, &rules("o/log", window(1300))),
        Ok(()),
        "300 s off is inside"
    );
    assert_eq!(
        admission::admit(&w.reg, &v, &rules("o/log", window(1301))),
        Err(Denied::Stale {
            off_secs: 301,
            allowed_secs: 300
        })
    );
    assert_eq!(
        admission::admit(&w.reg, &v, &rules("o/log", window(699))),
        Err(Denied::Stale {
            off_secs: 301,
            allowed_secs: 300
        }),
        "early as well as late"
    );
    // The signer is judged before the audience: a stranger's statement to another log is unknown.
    let stranger = SigningKey::from_bytes(&[42; 32]);
    assert_eq!(
        admission::admit(
            &w.reg,
            &verified(boot, "ghost", &stranger),
            &rules("other/log", None)
        ),
        Err(Denied::Unknown)
    );
}

#[test]
fn check_ins_are_sources_misses_the_devices_and_check_changes_the_admins() {
    let mut w = World::new();
    let admin = SigningKey::from_bytes(&[2; 32]);
    let src = SigningKey::from_bytes(&[3; 32]);
    let dev = w.device.clone();
    w.commit(&verified(
        &enroll_text(1, "ops", "admin", &admin),
        DEVICE,
        &dev,
    ));
    w.commit(&verified(
        &enroll_text(2, "nas", "source", &src),
        "ops",
        &admin,
    ));
    let checkin = text(Kind::Checkin, 3, &[("check", "backup"), ("every", "1d")]);
    let missed = text(
        Kind::Missed,
        4,
        &[
            ("signer", "nas"),
            ("check", "backup"),
            ("deadline", "1"),
            ("last", "2"),
            ("reason", "late"),
            ("severity", "critical"),
            ("title", "backup"),
        ],
    );
    let pause = text(
        Kind::Check,
        5,
        &[("signer", "nas"), ("check", "backup"), ("action", "pause")],
    );
    let role = |role, kind| Err(Denied::Role { role, kind });
    assert_eq!(w_admit(&w.reg, &verified(&checkin, "nas", &src)), Ok(()));
    assert_eq!(
        w_admit(&w.reg, &verified(&checkin, "ops", &admin)),
        role("admin", Kind::Checkin)
    );
    assert_eq!(
        w_admit(&w.reg, &verified(&checkin, DEVICE, &dev)),
        role("device", Kind::Checkin)
    );
    assert_eq!(w_admit(&w.reg, &verified(&missed, DEVICE, &dev)), Ok(()));
    assert_eq!(
        w_admit(&w.reg, &verified(&missed, "nas", &src)),
        role("source", Kind::Missed)
    );
    assert_eq!(
        w_admit(&w.reg, &verified(&missed, "ops", &admin)),
        role("admin", Kind::Missed)
    );
    assert_eq!(w_admit(&w.reg, &verified(&pause, "ops", &admin)), Ok(()));
    assert_eq!(
        w_admit(&w.reg, &verified(&pause, "nas", &src)),
        role("source", Kind::Check)
    );
    assert_eq!(
        w_admit(&w.reg, &verified(&pause, DEVICE, &dev)),
        role("device", Kind::Check)
    );
}
