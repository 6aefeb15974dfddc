//! Statement parsing: the SPEC example parses; every rule refuses its bad case, naming the line.

use vigil_core::statement::{
    AlertState, Content, Kind, ParseError, Role, Severity, Statement, glob_match,
};

const EXAMPLE: &str = "alert/v1\nto: vigil.example/log\nts: 1795349600\nnonce: 20257a7e1f2e7caa46c11e32a5b6adbb\nseverity: warning\ntitle: disk full on nas\n\n/dev/sda1  252G  240G  12G  96% /srv\n";
const COMMON: &str =
    "to: vigil.example/log\nts: 1795349600\nnonce: 20257a7e1f2e7caa46c11e32a5b6adbb\n";

fn parse(s: &str) -> Result<Statement, ParseError> {
    Statement::parse(s.as_bytes())
}

fn alert_with(extra: &str) -> String {
    format!("alert/v1\n{COMMON}severity: info\ntitle: t\n{extra}")
}

#[test]
fn spec_example_parses_with_defaults() {
    let s = parse(EXAMPLE).expect("the SPEC example is valid");
    assert_eq!(s.kind(), Kind::Alert);
    assert_eq!(s.to(), "vigil.example/log");
    assert_eq!(s.ts(), 1795349600);
    assert_eq!(s.bytes(), EXAMPLE.as_bytes());
    assert_eq!(s.body(), "/dev/sda1  252G  240G  12G  96% /srv\n");
    let a = s.alert().expect("alert");
    assert_eq!(
        (a.severity, a.title.as_str(), a.topic.as_str()),
        (Severity::Warning, "disk full on nas", "default")
    );
    assert_eq!(
        (a.key.as_deref(), a.state, a.ttl),
        (None, AlertState::Firing, None)
    );
}

#[test]
fn headers_in_any_order_and_optional_fields() {
    let s = parse(&format!(
        "alert/v1\nttl: 60\nstate: resolved\nkey: disk-/srv\ntopic: backup\ntitle: ok\nseverity: critical\n{COMMON}"
    ))
    .expect("valid");
    let a = s.alert().expect("alert");
    assert_eq!(a.ttl, Some(60));
    assert_eq!(a.state, AlertState::Resolved);
    assert_eq!(a.key.as_deref(), Some("disk-/srv"));
    assert_eq!(a.topic, "backup");
    assert_eq!(s.body(), "");
}

#[test]
fn every_statement_type_parses() {
    let policy = "[sources]\n";
    let sha = hex::encode(vigil_core::sha256(policy.as_bytes()));
    let cases = [
        (
            format!("ack/v1\n{COMMON}ref: 41\ncomment: seen\n"),
            Kind::Ack,
        ),
        (
            format!(
                "silence/v1\n{COMMON}match-topic: backup*\nuntil: 1795353200\ncomment: maintenance\n"
            ),
            Kind::Silence,
        ),
        (
            format!(
                "key-enroll/v1\n{COMMON}name: backup@nas\nrole: source\npublic-key: {}\n",
                include_str!("vectors/source-dev.pub").trim_end()
            ),
            Kind::KeyEnroll,
        ),
        (
            format!("key-revoke/v1\n{COMMON}name: backup@nas\ncomment: lost laptop\n"),
            Kind::KeyRevoke,
        ),
        (
            format!("boot/v1\n{COMMON}version: 0.1.0\nimage: dev\n"),
            Kind::Boot,
        ),
        (
            format!("policy/v1\n{COMMON}sha256: {sha}\n\n{policy}"),
            Kind::Policy,
        ),
    ];
    for (text, kind) in cases {
        let s = parse(&text).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(s.kind(), kind);
    }
    let s = parse(&format!(
        "key-enroll/v1\n{COMMON}name: ops\nrole: admin\npublic-key: {}\n",
        include_str!("vectors/source-dev.pub").trim_end()
    ))
    .expect("ok");
    assert!(matches!(
        s.content(),
        Content::KeyEnroll {
            role: Role::Admin,
            ..
        }
    ));
    let s = parse(&format!(
        "silence/v1\n{COMMON}match-signer: nas\nuntil: 5\ncomment: x\n"
    ))
    .expect("ok");
    assert!(matches!(s.content(), Content::Silence { match_topic, .. } if match_topic == "*"));
}

/// Each refusal: the input and the error it must produce.
#[test]
fn refusals_name_the_rule_and_line() {
    let big = format!("{}{}", alert_with("\n"), "x".repeat(4096));
    let cases: Vec<(String, ParseError)> = vec![
        (String::new(), ParseError::Empty),
        (big.clone(), ParseError::TooLarge(big.len())),
        ("alert/v2\n".into(), ParseError::UnknownType("alert/v2".into())),
        ("\n".into(), ParseError::UnknownType(String::new())),
        (alert_with("colour: red\n"), ParseError::UnknownHeader { line: 7, name: "colour".into() }),
        (alert_with("title: again\n"), ParseError::DuplicateHeader { line: 7, name: "title".into() }),
        (alert_with("topic:x\n"), ParseError::MalformedHeader(7)),
        (alert_with("topic:  x\n"), ParseError::MalformedHeader(7)),
        (alert_with("Topic: x\n"), ParseError::MalformedHeader(7)),
        (alert_with("topic: x"), ParseError::UnterminatedHeader(7)),
        (format!("alert/v1\n{COMMON}title: t\n"), ParseError::MissingHeader { line: 6, name: "severity" }),
        ("alert/v1\nto: a\nts: 1\nseverity: info\ntitle: t\n".into(), ParseError::MissingHeader { line: 6, name: "nonce" }),
        (alert_with("x\r\n"), ParseError::ControlChar { line: 7, code: 0x0d }),
        (alert_with("\nbody\0\n"), ParseError::ControlChar { line: 8, code: 0 }),
        (alert_with("topic: a\tb\n"), ParseError::ControlChar { line: 7, code: 9 }),
        (alert_with("\nbody\u{1b}[2J\n"), ParseError::ControlChar { line: 8, code: 0x1b }),
        (alert_with("ttl: 0\n"), invalid(7, "ttl", "must be 1-2592000 seconds")),
        (alert_with("ttl: 2592001\n"), invalid(7, "ttl", "must be 1-2592000 seconds")),
        (alert_with("ttl: 060\n"), invalid(7, "ttl", "must be 1-2592000 seconds")),
        (alert_with("state: open\n"), invalid(7, "state", "must be firing or resolved")),
        (alert_with("topic: Backup\n"), invalid(7, "topic", "not a valid name")),
        (alert_with("key: a b\n"), invalid(7, "key", "must be 1-64 printable characters without spaces")),
        (
            format!("alert/v1\n{COMMON}severity: fatal\ntitle: t\n"),
            invalid(5, "severity", "must be info, warning or critical"),
        ),
        (
            format!("alert/v1\n{COMMON}severity: info\ntitle: {}\n", "é".repeat(65)),
            invalid(6, "title", "must be 1-64 printable characters"),
        ),
        (
            "alert/v1\nto: o\nts: 1\nnonce: 20257A7E1F2E7CAA46C11E32A5B6ADBB\nseverity: info\ntitle: t\n".into(),
            invalid(4, "nonce", "must be 32-64 lowercase hex characters"),
        ),
        (
            "alert/v1\nto: o\nts: 1\nnonce: 20257a7e1f2e7caa46c11e32a5b6adb\nseverity: info\ntitle: t\n".into(),
            invalid(4, "nonce", "must be 32-64 lowercase hex characters"),
        ),
        (
            "alert/v1\nto: o\nts: -1\nnonce: 20257a7e1f2e7caa46c11e32a5b6adbb\nseverity: info\ntitle: t\n".into(),
            invalid(3, "ts", "not a unix time in seconds"),
        ),
        (
            "alert/v1\nto: a b\nts: 1\nnonce: 20257a7e1f2e7caa46c11e32a5b6adbb\nseverity: info\ntitle: t\n".into(),
            invalid(2, "to", "not a log origin"),
        ),
        (format!("ack/v1\n{COMMON}ref: 1\n\nbody\n"), ParseError::UnexpectedBody(7)),
        (format!("ack/v1\n{COMMON}ref: x\n"), invalid(5, "ref", "not an entry index")),
        (
            format!("silence/v1\n{COMMON}until: 5\ncomment: x\n"),
            ParseError::MissingHeader { line: 7, name: "match-signer` or `match-topic" },
        ),
        (format!("silence/v1\n{COMMON}match-topic: x\nuntil: 5\n"), ParseError::MissingHeader { line: 7, name: "comment" }),
        (
            format!("key-enroll/v1\n{COMMON}name: a\nrole: source\npublic-key: ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ x\n"),
            invalid(7, "public-key", "not a usable OpenSSH ssh-ed25519 public key"),
        ),
        (format!("key-enroll/v1\n{COMMON}name: a\nrole: root\npublic-key: x\n"), invalid(6, "role", "must be source, auditor or admin")),
        (
            format!("policy/v1\n{COMMON}sha256: {}\n\n[sources]\n", "0".repeat(64)),
            ParseError::PolicyHashMismatch(5),
        ),
    ];
    for (i, (input, want)) in cases.into_iter().enumerate() {
        assert_eq!(parse(&input).err(), Some(want), "case {i}: {input:?}");
    }
}

fn invalid(line: usize, name: &str, why: &'static str) -> ParseError {
    ParseError::InvalidValue {
        line,
        name: name.into(),
        why,
    }
}

#[test]
fn invalid_utf8_names_its_line() {
    let mut bytes = alert_with("\nok\n").into_bytes();
    bytes.extend_from_slice(b"bad \xff\n");
    assert_eq!(Statement::parse(&bytes).err(), Some(ParseError::NotUtf8(9)));
}

#[test]
fn tab_is_allowed_in_the_body_and_size_limit_is_inclusive() {
    assert!(parse(&alert_with("\ncol1\tcol2\n")).is_ok());
    let base = alert_with("\n");
    let exact = format!("{base}{}", "x".repeat(4096 - base.len()));
    assert_eq!(exact.len(), 4096);
    assert!(parse(&exact).is_ok());
}

#[test]
fn glob_matching() {
    assert!(glob_match("*", "anything"));
    assert!(glob_match("backup*", "backup-nas"));
    assert!(glob_match("b?ckup", "backup"));
    assert!(!glob_match("backup*", "nas-backup"));
    assert!(glob_match("*@nas", "cron@nas"));
    assert!(!glob_match("a", "ab"));
}

mod prop {
    use proptest::prelude::*;
    proptest! {
        /// Arbitrary bytes never panic the parser, and anything accepted keeps its exact bytes.
        #[test]
        fn parser_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(s) = vigil_core::Statement::parse(&bytes) {
                prop_assert_eq!(s.bytes(), &bytes[..]);
            }
        }
    }
}

/// An alert with `title` and `body`, as the builder writes it.
fn shown(title: &str, body: &str) -> Result<Statement, ParseError> {
    Statement::builder(
        Kind::Alert,
        "vigil.example/log",
        1_795_349_600,
        "20257a7e1f2e7caa46c11e32a5b6adbb",
    )
    .header("severity", "info")
    .header("title", title)
    .body(body)
    .build()
}

/// Each class of character the display must not show, refused in a title (line 6) and in a
/// body line (the third body line is line 10), with its code point named.
#[test]
fn text_for_the_display_refuses_each_unshowable_class() {
    let cases: [(&str, char, &str); 9] = [
        ("zero-width space", '\u{200B}', "format"),
        ("right-to-left override", '\u{202E}', "bidirectional"),
        ("left-to-right isolate", '\u{2066}', "bidirectional"),
        ("byte-order mark", '\u{FEFF}', "format"),
        ("soft hyphen", '\u{00AD}', "format"),
        ("line separator", '\u{2028}', "line or paragraph separator"),
        (
            "paragraph separator",
            '\u{2029}',
            "line or paragraph separator",
        ),
        ("private use", '\u{E000}', "private-use"),
        ("unassigned", '\u{0378}', "unassigned"),
    ];
    for (what, c, class) in cases {
        let bad = format!("disk{c}full");
        let e = shown(&bad, "").expect_err(what);
        assert!(
            matches!(e, ParseError::Unshowable { line: 6, code, .. } if code == c as u32),
            "{what}: {e:?}"
        );
        assert!(e.to_string().contains(class), "{what}: {e}");
        assert!(
            e.to_string().contains(&format!("U+{:04X}", c as u32)),
            "{what}: {e}"
        );
        let e = shown("ok", &format!("first\nsecond\n{bad}\n")).expect_err(what);
        assert!(
            matches!(e, ParseError::Unshowable { line: 10, .. }),
            "{what}: {e:?}"
        );
    }
}

#[test]
fn combining_marks_only_on_a_character_and_at_most_two() {
    let lone = |t: &str| match shown(t, "") {
        Err(ParseError::Unshowable { class, .. }) => class,
        other => panic!("{t:?}: {other:?}"),
    };
    assert!(lone("\u{0301}abc").contains("no character to combine with"));
    assert!(lone("disk \u{0301}full").contains("no character to combine with"));
    assert!(lone("e\u{0301}\u{0302}\u{0303}").contains("too many"));
    // 63 combining accents on one letter: the title that used to be accepted.
    assert!(lone(&format!("a{}", "\u{0301}".repeat(63))).contains("too many"));
    // What people write is still fine: precomposed and combining accents, two on one letter
    // (Vietnamese), symbols, emoji, other scripts.
    for ok in [
        "Sicherung läuft ☃ über Nacht",
        "cafe\u{0301} ouvert",
        "e\u{0323}\u{0302} ệ",
        "disk 🔥 on nas",
        "ディスク満杯",
        "нет места",
    ] {
        assert!(shown(ok, &format!("{ok}\n")).is_ok(), "{ok}");
    }
}

#[test]
fn the_display_rules_apply_to_what_the_display_shows_only() {
    // A comment on an acknowledgement is logged, not shown: the line rules (no control
    // characters) hold there, the display's classes do not.
    let ack = Statement::builder(
        Kind::Ack,
        "vigil.example/log",
        1,
        "20257a7e1f2e7caa46c11e32a5b6adbb",
    )
    .header("ref", 3)
    .header("comment", "on it\u{200B}")
    .build();
    assert!(ack.is_ok(), "{ack:?}");
}

#[test]
fn check_ins_misses_and_check_changes_parse() {
    let s = parse(&format!(
        "checkin/v1\n{COMMON}check: backup\nschedule: 30 2 * * *\ntz: Europe/Berlin\nstatus: fail\nexit: 3\n\nrsync: connection refused\n"
    ))
    .expect("a check-in");
    let Content::Checkin(c) = s.content() else {
        panic!("{:?}", s.content())
    };
    assert_eq!(
        (c.check.as_str(), c.exit, c.title.as_str()),
        ("backup", Some(3), "backup")
    );
    assert_eq!(s.body(), "rsync: connection refused\n");
    let s = parse(&format!(
        "missed/v1\n{COMMON}signer: nas\ncheck: backup\ndeadline: 1795349600\nlast: 12\nreason: unfinished\nseverity: warning\ntitle: Nightly backup\n\nno ok or fail since the start\n"
    ))
    .expect("a miss");
    let Content::Missed(m) = s.content() else {
        panic!("{:?}", s.content())
    };
    assert_eq!(
        (
            m.signer.as_str(),
            m.deadline,
            m.last,
            m.reason.name(),
            m.severity
        ),
        ("nas", 1795349600, 12, "unfinished", Severity::Warning)
    );
    let s = parse(&format!(
        "check/v1\n{COMMON}signer: nas\ncheck: backup\naction: delete\n"
    ))
    .expect("a deletion");
    assert!(matches!(s.content(), Content::Check { action, .. } if action.name() == "delete"));
}

#[test]
fn check_in_refusals_name_their_line() {
    for (text, line, want) in [
        (
            format!("checkin/v1\n{COMMON}check: backup\n"),
            6,
            "every or schedule",
        ),
        (
            format!("checkin/v1\n{COMMON}check: backup\nevery: 10s\n"),
            6,
            "at least 1m",
        ),
        (
            format!("checkin/v1\n{COMMON}check: backup\nevery: 1d\ngrace: 1\n"),
            7,
            "grace",
        ),
        (
            format!("checkin/v1\n{COMMON}check: backup\nschedule: 61 * * * *\n"),
            6,
            "minute",
        ),
        (
            format!("checkin/v1\n{COMMON}check: backup\nschedule: * * * * *\ntz: Nowhere/Land\n"),
            7,
            "tz",
        ),
        (
            format!("checkin/v1\n{COMMON}check: backup\nevery: 1d\nschedule: * * * * *\n"),
            8,
            "not both",
        ),
        (
            format!("checkin/v1\n{COMMON}check: b\nevery: 1d\nstatus: done\n"),
            7,
            "status",
        ),
    ] {
        match parse(&text) {
            Err(ParseError::Checkin { line: l, why }) => {
                assert_eq!(l, line, "{text}: {why}");
                assert!(why.contains(want), "{text}: {why}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    // The common rules hold too: an unknown header, a body on check/v1, info severity on a miss.
    assert!(matches!(
        parse(&format!(
            "checkin/v1\n{COMMON}check: b\nevery: 1d\nkey: x\n"
        )),
        Err(ParseError::UnknownHeader { line: 7, .. })
    ));
    assert!(matches!(
        parse(&format!(
            "check/v1\n{COMMON}signer: nas\ncheck: b\naction: pause\n\nbody\n"
        )),
        Err(ParseError::UnexpectedBody(9))
    ));
    assert!(matches!(
        parse(&format!(
            "missed/v1\n{COMMON}signer: nas\ncheck: b\ndeadline: 1\nlast: 1\nreason: late\nseverity: info\ntitle: t\n"
        )),
        Err(ParseError::InvalidValue { line: 10, .. })
    ));
    assert!(matches!(
        parse(&format!(
            "check/v1\n{COMMON}signer: nas\ncheck: b\naction: resume\n"
        )),
        Err(ParseError::InvalidValue { line: 7, .. })
    ));
    // What the display would show is checked as for alerts.
    assert!(matches!(
        parse(&format!(
            "checkin/v1\n{COMMON}check: b\nevery: 1d\nstatus: fail\n\nbad \u{202e} text\n"
        )),
        Err(ParseError::Unshowable { line: 9, .. })
    ));
}
