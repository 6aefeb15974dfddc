//! Every fuzz target's seed corpus and every input a fuzzer ever crashed on, replayed through
//! the same target bodies (`vigil_e2e::fuzz`) in the ordinary test run: a fixed crash stays
//! fixed, and the seeds still exercise what they were made for.

use std::path::Path;

use vigil_e2e::fuzz::TARGETS;

fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../appliance/fuzz")
        .join(kind);
    let mut n = 0;
    for (name, body) in TARGETS {
        let Ok(dir) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        for f in dir.flatten() {
            let data = std::fs::read(f.path()).expect("read input");
            body(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn every_target_has_seeds_and_they_replay() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../appliance/fuzz/seeds");
    for (name, _) in TARGETS {
        let n = std::fs::read_dir(seeds.join(name)).map_or(0, |d| d.count());
        assert!(n > 0, "no seeds for the {name} target");
        let target = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../appliance/fuzz/fuzz_targets")
            .join(format!("{name}.rs"));
        assert!(target.exists(), "no fuzz target file for {name}");
    }
    assert!(replay("seeds") >= TARGETS.len());
}

#[test]
fn every_crash_input_found_so_far_replays_cleanly() {
    replay("regressions");
}

#[test]
fn the_seeds_reach_the_parsers_success_paths() {
    // A seed that no longer parses would exercise only the refusal paths: check the main ones.
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../appliance/fuzz/seeds");
    let read = |p: &str| std::fs::read(seeds.join(p)).expect(p);
    assert!(vigil_core::Statement::parse(&read("statement/0.txt")).is_ok());
    assert!(vigil_core::Entry::decode(&read("entry/0.entry")).is_ok());
    assert!(
        vigil_core::TlogProof::parse(&String::from_utf8(read("tlog_proof/0.txt")).expect("utf-8"))
            .is_ok()
    );
    assert!(
        vigil_core::SshSignature::from_armor(&read("signature/vigil-fuzz-seed-statement.sig"))
            .is_ok()
    );
    assert!(
        vigil_core::Policy::parse(&String::from_utf8(read("policy/default.toml")).expect("utf-8"))
            .is_ok()
    );
}
