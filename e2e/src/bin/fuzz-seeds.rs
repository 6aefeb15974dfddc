//! Writes the fuzzers' seed corpus (`appliance/fuzz/seeds/<target>/`) from real artefacts: the
//! statements, entries, notes and proofs vigil makes, the dev keys and the policies in the
//! repository. `cargo run -p vigil-e2e --bin fuzz-seeds -- appliance/fuzz/seeds` (from the
//! repository root) regenerates it; the SSHSIG seeds come from `ssh-keygen -Y sign`.

use std::path::{Path, PathBuf};

use vigil_core::merkle::MemoryTree;
use vigil_core::{
    Checkpoint, ClockState, Entry, Kind, NoteSigner, SigningKey, Statement, TlogProof, sig,
};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::write(d.join(name), bytes).expect("write seed");
}

fn copy(dir: &Path, target: &str, from: &Path) {
    let name = from
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    write(dir, target, name, &std::fs::read(from).expect("read"));
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: fuzz-seeds DIR"));
    let key = SigningKey::from_bytes(&[7; 32]);
    let signer = NoteSigner::new("fuzz.vigil/log", key.clone()).expect("signer");
    let nonce = |i: u32| format!("{i:032x}");
    let statements = [
        Statement::builder(Kind::Alert, "fuzz.vigil/log", 1_795_349_600, &nonce(1))
            .header("severity", "warning")
            .header("title", "disk full on nas")
            .header("topic", "disk")
            .header("key", "sda1")
            .header("ttl", 3600)
            .body("/dev/sda1  252G  240G  12G  96% /srv\n"),
        Statement::builder(Kind::Ack, "fuzz.vigil/log", 1, &nonce(2)).header("ref", 0),
        Statement::builder(Kind::Silence, "fuzz.vigil/log", 1, &nonce(3))
            .header("match-topic", "backup*")
            .header("until", 1_795_349_600)
            .header("comment", "maintenance"),
        Statement::builder(Kind::KeyRevoke, "fuzz.vigil/log", 1, &nonce(4))
            .header("name", "nas")
            .header("comment", "stolen"),
        Statement::builder(Kind::KeyEnroll, "fuzz.vigil/log", 1, &nonce(5))
            .header("name", "nas")
            .header("role", "source")
            .header(
                "public-key",
                sig::openssh_public_key_line(&key.verifying_key(), "nas"),
            ),
    ];
    let mut tree = MemoryTree::new();
    let mut bundle = Vec::new();
    for (i, b) in statements.into_iter().enumerate() {
        let st = b.build().expect("builds");
        write(&out, "statement", &format!("{i}.txt"), st.bytes());
        let v = sig::sign(st, "nas", &key).expect("signs");
        let e = Entry::new(i as u64, 1_795_349_600_000, ClockState::Synced, &v);
        write(&out, "entry", &format!("{i}.entry"), e.bytes());
        bundle.push(e.bytes().to_vec());
        tree.push(e.bytes());
        write(
            &out,
            "signature",
            &format!("{i}.b64"),
            v.signature().to_base64().as_bytes(),
        );
    }
    // The same entries as an entry bundle, its width in the first byte (the entry target reads
    // them so too).
    let mut framed = vec![bundle.len() as u8];
    framed.extend(vigil_core::tiles::write_bundle(
        bundle.iter().map(Vec::as_slice),
    ));
    write(&out, "entry", "bundle.bin", &framed);
    let size = tree.size();
    let cp = Checkpoint {
        origin: "fuzz.vigil/log".into(),
        size,
        root: tree.root(size).expect("root"),
    };
    let note = cp.sign(&signer).expect("signed");
    write(&out, "note", "checkpoint.txt", note.as_bytes());
    write(
        &out,
        "note",
        "vkey.txt",
        signer.verifier().vkey().as_bytes(),
    );
    for index in [0, size - 1] {
        let proof = TlogProof {
            extra: None,
            index,
            hashes: tree.inclusion_proof(index, size).expect("proof"),
            checkpoint: note.clone(),
        };
        write(
            &out,
            "tlog_proof",
            &format!("{index}.txt"),
            proof.to_text().as_bytes(),
        );
    }
    for f in ["admin-dev.pub", "auditor-dev.pub", "source-dev.pub"] {
        copy(&out, "public_key", &Path::new("keys/dev").join(f));
    }
    copy(&out, "keyfile", Path::new("keys/dev/source-dev"));
    for dir in ["policies", "policies/examples", "policies/invalid"] {
        for e in std::fs::read_dir(dir).expect("policies").flatten() {
            if e.path().extension().is_some_and(|x| x == "toml") {
                copy(&out, "policy", &e.path());
            }
        }
    }
    for (i, q) in [
        "from=0&to=3",
        "kind=alert&limit=10&since=1&until=2",
        "topic=a%2Fb+c",
        "a=1&a=2",
        "0/x001/x234/067",
        "entries/005.p/17",
        "1/000.p/1",
    ]
    .iter()
    .enumerate()
    {
        write(&out, "query", &format!("{i}.txt"), q.as_bytes());
    }
    for (i, m) in [
        &b"\x01\x00\x00seed"[..],
        b"\x2b\x01\x07leaves",
        b"\xff\xff\xffmany",
    ]
    .iter()
    .enumerate()
    {
        write(&out, "merkle", &format!("{i}.bin"), m);
    }
    // An SSHSIG over a statement, as `ssh-keygen -Y sign -n vigil` makes it.
    let tmp = std::env::temp_dir().join("vigil-fuzz-seed-statement");
    std::fs::write(&tmp, b"alert/v1\n").expect("write");
    // ssh-keygen wants the private key 0600; the repository's copy is world-readable.
    let key_copy = std::env::temp_dir().join("vigil-fuzz-seed-key");
    std::fs::copy("keys/dev/source-dev", &key_copy).expect("copy key");
    vigil_e2e::set_mode(&key_copy, 0o600);
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", "vigil", "-f"])
        .arg(&key_copy)
        .arg(&tmp)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        let sig_path = tmp.with_extension("sig");
        let sig_path = if sig_path.exists() {
            sig_path
        } else {
            PathBuf::from(format!("{}.sig", tmp.display()))
        };
        copy(&out, "signature", &sig_path);
        let _ = std::fs::remove_file(sig_path);
    }
    let _ = std::fs::remove_file(tmp);
    let _ = std::fs::remove_file(key_copy);
    println!("seeds written to {}", out.display());
}
