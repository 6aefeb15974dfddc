//! The README's shell recipes, run verbatim against a real daemon: ssh-keygen + curl, and
//! openssl + curl. Each must get a 201 receipt that verifies offline.

use vigil_e2e::{Appliance, Options, SOURCE, readme_recipe, sh};

/// The recipes' variables for the appliance and its source `nas`.
fn source_env(a: &Appliance) -> [(&'static str, String); 3] {
    let key = a.private_key_path(SOURCE.0, SOURCE.1);
    [
        ("VIGIL_URL", a.url()),
        ("VIGIL_CA", a.ca_path().display().to_string()),
        ("VIGIL_KEY", key.display().to_string()),
    ]
}

#[test]
fn ssh_keygen_and_curl_recipe() {
    let a = Appliance::start();
    let work = tempfile::tempdir().expect("tmp");
    let before = a.log_size();
    let env = source_env(&a);
    let (code, out, err) = sh(work.path(), &readme_recipe("ssh-keygen"), &env);
    assert_eq!(code, 0, "recipe failed: {out}\n{err}");
    let index = a.verify_receipt(out.as_bytes());
    assert_eq!(index, before);
    assert_eq!(a.log_size(), before + 1);
    let entry = a.entry_text(index);
    assert!(
        entry.contains("sig-kind: sshsig")
            && entry.contains("signer: nas")
            && entry.contains("title: disk full on nas")
    );
}

#[test]
fn openssl_and_curl_recipe() {
    let work = tempfile::tempdir().expect("tmp");
    let (code, out, err) = sh(work.path(), &readme_recipe("openssl-key"), &[]);
    assert_eq!(code, 0, "key recipe failed: {out}\n{err}");
    let line = std::fs::read_to_string(work.path().join("cron.pub")).expect("cron.pub");
    let a = Appliance::start_with(Options {
        extra_keys: vec![("sources".into(), "cron".into(), line.trim_end().into())],
        ..Options::default()
    });
    let before = a.log_size();
    let env = [
        ("VIGIL_URL", a.url()),
        ("VIGIL_CA", a.ca_path().display().to_string()),
    ];
    let (code, out, err) = sh(work.path(), &readme_recipe("openssl-send"), &env);
    assert_eq!(code, 0, "send recipe failed: {out}\n{err}");
    assert_eq!(a.verify_receipt(out.as_bytes()), before);
    let entry = a.entry_text(before);
    assert!(entry.contains("sig-kind: ed25519") && entry.contains("signer: cron"));
    // The same recipe signed by a key that is not cron's is refused, and nothing is logged.
    let (code, _, _) = sh(
        work.path(),
        "openssl genpkey -algorithm ed25519 -out other.pem",
        &[],
    );
    assert_eq!(code, 0);
    let forged = readme_recipe("openssl-send").replace("-inkey cron.pem", "-inkey other.pem");
    let (code, out, _) = sh(work.path(), &forged, &env);
    assert_ne!(code, 0, "curl --fail-with-body fails on 401");
    assert!(out.contains("\"error\":\"bad_signature\""), "{out}");
    assert_eq!(a.log_size(), before + 1);
}

#[test]
fn ssh_keygen_and_curl_check_in_recipe() {
    let a = Appliance::start();
    let work = tempfile::tempdir().expect("tmp");
    let before = a.log_size();
    let env = source_env(&a);
    let (code, out, err) = sh(work.path(), &readme_recipe("checkin"), &env);
    assert_eq!(code, 0, "recipe failed: {out}\n{err}");
    let index = a.verify_receipt(out.as_bytes());
    assert_eq!(index, before);
    let entry = a.entry_text(index);
    assert!(
        entry.contains("sig-kind: sshsig")
            && entry.contains("check: backup")
            && entry.contains("status: ok"),
        "{entry}"
    );
    // The check is known to the appliance: its deadline is a day and an hour away.
    let checks = a.daemon().state.checks.lock().expect("checks");
    let c = checks.get("nas", "backup").expect("the check");
    assert_eq!(
        c.due_at().map(|d| d.0 - c.base_ms),
        Some((86_400 + 3_600) * 1000)
    );
}
