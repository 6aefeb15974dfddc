//! Admission: who may log what, enrolment and revocation as a fold over entries.

use vigil_core::registry::{DEVICE, Denied};
use vigil_core::statement::Kind;
use vigil_core::{ClockState, Entry, Registry, SigningKey, Statement, sig};

const C: &str = "to: o/log\nts: 1\n";

fn verified(text: &str, signer: &str, key: &SigningKey) -> vigil_core::Verified {
    let st = Statement::parse(text.as_bytes()).expect("parses");
    sig::verify(
        st,
        signer,
        &key.verifying_key(),
        sig::sign_raw(text.as_bytes(), key),
    )
    .expect("verifies")
}

fn enroll_text(n: u32, name: &str, role: &str, key: &SigningKey) -> String {
    let line = sig::openssh_public_key_line(&key.verifying_key(), "");
    format!("key-enroll/v1\n{C}nonce: {n:032x}\nname: {name}\nrole: {role}\npublic-key: {line}\n")
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
        self.reg.admit(v).expect("admitted");
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
    let alert = format!("alert/v1\n{C}nonce: {:032x}\nseverity: info\ntitle: t\n", 3);
    assert_eq!(w.reg.admit(&verified(&alert, "nas", &src)), Ok(()));
    assert_eq!(
        w.reg.admit(&verified(&alert, "ops", &admin)),
        Err(Denied::Role {
            role: "admin",
            kind: Kind::Alert
        })
    );
    let ack = format!("ack/v1\n{C}nonce: {:032x}\nref: 0\n", 4);
    assert_eq!(
        w.reg.admit(&verified(&ack, "nas", &src)),
        Err(Denied::Role {
            role: "source",
            kind: Kind::Ack
        })
    );
    assert_eq!(w.reg.admit(&verified(&ack, DEVICE, &dev)), Ok(()));
    let boot = format!("boot/v1\n{C}nonce: {:032x}\nversion: 1\nimage: x\n", 5);
    assert_eq!(
        w.reg.admit(&verified(&boot, "ops", &admin)),
        Err(Denied::Role {
            role: "admin",
            kind: Kind::Boot
        })
    );
    // A stranger, and someone claiming an enrolled name with another key.
    let stranger = SigningKey::from_bytes(&[9; 32]);
    assert_eq!(
        w.reg.admit(&verified(&alert, "ghost", &stranger)),
        Err(Denied::Unknown)
    );
    assert_eq!(
        w.reg.admit(&verified(&alert, "nas", &stranger)),
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
        w.reg.admit(&verified(
            &enroll_text(3, "nas", "source", &other),
            "ops",
            &admin
        )),
        Err(Denied::Conflict(_))
    ));
    assert!(matches!(
        w.reg.admit(&verified(
            &enroll_text(4, "nas2", "source", &src),
            "ops",
            &admin
        )),
        Err(Denied::Conflict(_))
    ));
    assert!(matches!(
        w.reg.admit(&verified(
            &enroll_text(5, "x", "source", &dev),
            "ops",
            &admin
        )),
        Err(Denied::Conflict(_))
    ));
    let revoke = format!(
        "key-revoke/v1\n{C}nonce: {:032x}\nname: nas\ncomment: lost\n",
        6
    );
    w.commit(&verified(&revoke, "ops", &admin));
    let alert = format!("alert/v1\n{C}nonce: {:032x}\nseverity: info\ntitle: t\n", 7);
    assert_eq!(
        w.reg.admit(&verified(&alert, "nas", &src)),
        Err(Denied::Revoked("nas".into()))
    );
    assert!(
        matches!(
            w.reg.admit(&verified(&revoke, "ops", &admin)),
            Err(Denied::Invalid(_))
        ),
        "already revoked"
    );
    // A revoked name cannot be enrolled again.
    assert!(matches!(
        w.reg.admit(&verified(
            &enroll_text(8, "nas", "source", &other),
            "ops",
            &admin
        )),
        Err(Denied::Conflict(_))
    ));
    let unknown = format!(
        "key-revoke/v1\n{C}nonce: {:032x}\nname: nobody\ncomment: x\n",
        9
    );
    assert!(matches!(
        w.reg.admit(&verified(&unknown, "ops", &admin)),
        Err(Denied::Invalid(_))
    ));
}
