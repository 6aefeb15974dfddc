//! Every error code docs/api.md lists is asserted by some whole-system test (the daemon's unit
//! test keeps that list equal to the code enum, so together: every code the daemon can answer
//! with is documented, and every documented code is seen from outside).

use std::path::Path;

/// The codes of docs/api.md's error table.
fn documented() -> Vec<String> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md"))
        .expect("docs/api.md");
    doc.lines()
        .filter(|l| l.starts_with("| 4") || l.starts_with("| 5"))
        .filter_map(|l| l.split('|').nth(2))
        .map(|c| c.trim().trim_matches('`').to_owned())
        .collect()
}

#[test]
fn every_documented_code_is_asserted_by_a_whole_system_test() {
    let codes = documented();
    assert!(codes.len() >= 20, "the table was found: {codes:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let tests: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("e2e/tests")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs") && !p.ends_with("codes.rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read");
            (p.display().to_string(), text)
        })
        .collect();
    let missing: Vec<&String> = codes
        .iter()
        .filter(|c| {
            let quoted = format!("\"{c}\"");
            !tests.iter().any(|(_, t)| t.contains(&quoted))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "no test in e2e/tests asserts these codes: {missing:?}"
    );
}
