//! policy.toml: the default and the examples load; every `fail_*` fixture is refused.

use vigil_core::Policy;
use vigil_core::policy::{PolicyDenial, PolicyError};
use vigil_core::statement::Severity;

fn dir(sub: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../policies")
        .join(sub)
}

#[test]
fn default_policy_is_the_spec_defaults() {
    let p = Policy::parse(vigil_core::policy::DEFAULT_POLICY).expect("default parses");
    let l = &p.limits;
    assert_eq!(
        (
            l.ip_burst,
            l.ip_per_second,
            l.auth_fail_burst,
            l.auth_fail_per_minute
        ),
        (60, 1, 10, 1)
    );
    assert_eq!((l.source_burst, l.source_per_minute), (20, 30));
    assert_eq!(
        (l.body_bytes, l.header_bytes, l.request_timeout_secs),
        (16384, 8192, 10)
    );
    assert_eq!(
        (l.max_connections, l.queue, l.tls_handshake_timeout_secs),
        (256, 4096, 10)
    );
    assert_eq!(
        p.limits,
        vigil_core::policy::Limits::default(),
        "file and code defaults agree"
    );
    assert_eq!(Policy::parse("").expect("empty file is all defaults"), p);
}

#[test]
fn examples_load() {
    let mut n = 0;
    for f in std::fs::read_dir(dir("examples")).expect("examples") {
        let path = f.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        Policy::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        n += 1;
    }
    assert!(n >= 2);
}

#[test]
fn every_fail_fixture_is_refused() {
    let mut n = 0;
    for f in std::fs::read_dir(dir("invalid")).expect("invalid") {
        let path = f.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        assert!(
            name.starts_with("fail_"),
            "{name}: fixtures here must be named fail_*"
        );
        let text = std::fs::read_to_string(&path).expect("read");
        let err = Policy::parse(&text).expect_err(&name);
        assert!(!err.to_string().is_empty());
        n += 1;
    }
    assert!(n >= 10, "{n} fixtures");
    // Errors say where: syntax errors carry the line.
    let e = Policy::parse("[limits]\nip_brust = 60\n").expect_err("typo");
    assert!(
        matches!(&e, PolicyError::Syntax(m) if m.contains("line 2") && m.contains("ip_brust")),
        "{e}"
    );
    let e = Policy::parse("[limits]\nip_burst = 0\n").expect_err("zero");
    assert_eq!(
        e,
        PolicyError::Invalid {
            field: "limits.ip_burst".into(),
            why: "0 is outside 1..=100000".into()
        }
    );
}

#[test]
fn per_source_rules() {
    let p = Policy::parse(&std::fs::read_to_string(dir("examples/home-lab.toml")).expect("read"))
        .expect("parses");
    assert_eq!(
        p.check_alert("backup@nas", "disk-sda", Severity::Critical),
        Ok(())
    );
    assert_eq!(
        p.check_alert("backup@nas", "web", Severity::Info),
        Err(PolicyDenial::Topic("web".into()))
    );
    assert_eq!(
        p.check_alert("web01", "http", Severity::Critical),
        Err(PolicyDenial::Severity {
            got: Severity::Critical,
            max: Severity::Warning
        })
    );
    assert_eq!(
        p.check_alert("someone", "default", Severity::Warning),
        Ok(()),
        "defaults apply"
    );
    assert!(
        p.check_alert("someone", "backup", Severity::Warning)
            .is_err()
    );
    assert_eq!(p.rate("web01"), (5, 10));
    assert_eq!(p.rate("backup@nas"), (20, 30));
}
