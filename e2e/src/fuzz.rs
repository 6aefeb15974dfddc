//! The bodies of the fuzz targets (`appliance/fuzz`): every parser that takes bytes from
//! outside, each with the properties that must hold for any input besides not panicking. They
//! live here so that `e2e/tests/fuzz_inputs.rs` replays the seed corpus and every input a
//! fuzzer ever crashed on in the ordinary test run.

use vigil_core::merkle::{self, MemoryTree};
use vigil_core::sig::{self, SigKind, Signature, SshSignature};
use vigil_core::statement::Statement;
use vigil_core::{
    Checkpoint, Entry, NoteSigner, NoteVerifier, Policy, SigningKey, TlogProof, keyfile,
};

/// A target's body: takes the fuzzer's bytes, panics on a broken property.
pub type Body = fn(&[u8]);

/// The targets, by name (the names of `appliance/fuzz/fuzz_targets/*.rs`).
pub const TARGETS: [(&str, Body); 10] = [
    ("statement", statement),
    ("signature", signature),
    ("public_key", public_key),
    ("entry", entry),
    ("note", note),
    ("tlog_proof", tlog_proof),
    ("policy", policy),
    ("keyfile", key_file),
    ("query", query),
    ("merkle", merkle_differential),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The log key the note and proof targets verify against (a fixed test key).
fn verifier() -> NoteVerifier {
    NoteSigner::new("fuzz.vigil/log", SigningKey::from_bytes(&[7; 32]))
        .map(|s| s.verifier().clone())
        .unwrap_or_else(|_| unreachable!("a fixed, valid key name"))
}

/// Statements: what parses keeps its exact bytes and parses again the same.
pub fn statement(data: &[u8]) {
    if let Ok(st) = Statement::parse(data) {
        assert_eq!(st.bytes(), data);
        let again = Statement::parse(st.bytes()).expect("parses again");
        assert_eq!(again.content(), st.content());
        assert!(st.body().len() <= data.len());
    }
}

/// SSHSIG armor, base64 signatures and the body split: never a panic; a parsed SSHSIG keeps
/// its blob, which parses again to the same key.
pub fn signature(data: &[u8]) {
    let _ = sig::split_sshsig_body(data);
    if let Ok(s) = SshSignature::from_armor(data) {
        let again = SshSignature::from_blob(s.blob()).expect("its own blob parses");
        assert_eq!(again.key(), s.key());
    }
    if let Some(t) = text(data) {
        for kind in [SigKind::Ed25519, SigKind::Sshsig] {
            if let Ok(sig) = Signature::from_base64(kind, t) {
                assert_eq!(
                    Signature::from_base64(kind, &sig.to_base64()).ok(),
                    Some(sig)
                );
            }
        }
    }
}

/// OpenSSH public-key lines: a parsed key written out parses to the same key.
pub fn public_key(data: &[u8]) {
    if let Some(t) = text(data)
        && let Ok(k) = sig::parse_openssh_public_key(t)
    {
        let line = sig::openssh_public_key_line(&k, "c");
        assert_eq!(sig::parse_openssh_public_key(&line).ok(), Some(k));
    }
}

/// Entry bytes: a decoded entry keeps its exact bytes; its signature check never panics. The
/// same bytes read as an entry bundle (width from the first byte) frame exactly: a bundle that
/// splits writes back to itself, and any cut of one tile's width from them stays inside.
pub fn entry(data: &[u8]) {
    if let Ok(e) = Entry::decode(data) {
        assert_eq!(e.bytes(), data);
        let _ = e.verify();
        assert_eq!(e.leaf_hash(), merkle::leaf_hash(data));
    }
    if let Some((&w, rest)) = data.split_first()
        && let Some(entries) = vigil_core::tiles::read_bundle(rest, u16::from(w))
    {
        assert_eq!(entries.len(), usize::from(w));
        assert_eq!(
            vigil_core::tiles::write_bundle(entries.iter().copied()),
            rest
        );
    }
}

/// Signed notes, checkpoints and verifier keys.
pub fn note(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let _ = vigil_core::note::split_note(t);
    let _ = NoteVerifier::from_vkey(t);
    let v = verifier();
    let _ = v.verify(t);
    if let Ok(cp) = Checkpoint::verify(t, &v) {
        assert_eq!(Checkpoint::parse_text(&cp.to_text()).ok(), Some(cp));
    }
    if let Ok(cp) = Checkpoint::parse_text(t) {
        // Extension lines after the root are allowed and not kept: the body is a prefix.
        assert!(t.starts_with(&cp.to_text()), "{t:?}");
    }
}

/// tlog-proofs: a parsed proof writes out to text that parses the same.
pub fn tlog_proof(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Ok(p) = TlogProof::parse(t) {
        let again = TlogProof::parse(&p.to_text()).expect("its own text parses");
        assert_eq!((again.index, &again.hashes), (p.index, &p.hashes));
        let _ = p.verify(&[0; 32], &verifier());
    }
}

/// policy.toml.
pub fn policy(data: &[u8]) {
    if let Some(t) = text(data) {
        let _ = Policy::parse(t);
    }
}

/// OpenSSH private-key files.
pub fn key_file(data: &[u8]) {
    if let Some(t) = text(data) {
        let _ = keyfile::decode(t);
    }
}

/// Query strings and tile paths (the parts of a request's target the daemon parses itself):
/// each key once, and what is returned decodes from the input; a tile path parses only in its
/// one canonical spelling, which it writes back byte for byte.
pub fn query(data: &[u8]) {
    if let Some(t) = text(data) {
        if let Ok(q) = vigild::api::query_pairs(t) {
            assert!(q.len() <= t.split('&').count());
        }
        if let Some(tile) = vigil_core::tiles::Tile::parse(t) {
            assert_eq!(
                tile.path(),
                format!("tile/{t}"),
                "a tile path that is not canonical"
            );
        }
    }
}

/// The Merkle maths against an independent computation: a tree of up to 300 leaves built from
/// the input, every inclusion proof of the index the input picks and the consistency proof
/// between two sizes verify against the roots, and a proof with one hash flipped does not.
pub fn merkle_differential(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let n = 1 + u64::from(u16::from_le_bytes([data[0], data[1]]) % 300);
    let pick = u64::from(data[2]);
    let mut tree = MemoryTree::new();
    let mut leaves = Vec::new();
    for i in 0..n {
        let leaf = merkle::leaf_hash(&[&data[3..], &i.to_le_bytes()[..]].concat());
        tree.push_leaf_hash(leaf);
        leaves.push(leaf);
    }
    // The root by plain recursion over the leaves (RFC 9162 §2.1.1), the oracle.
    fn mth(l: &[merkle::Hash]) -> merkle::Hash {
        match l.len() {
            0 => merkle::empty_root(),
            1 => l[0],
            n => {
                let k = n.next_power_of_two() / 2;
                merkle::node_hash(&mth(&l[..k]), &mth(&l[k..]))
            }
        }
    }
    let root = tree.root(n).expect("root");
    assert_eq!(root, mth(&leaves));
    let index = pick % n;
    let mut proof = tree.inclusion_proof(index, n).expect("proof");
    merkle::verify_inclusion(index, n, &leaves[index as usize], &proof, &root).expect("verifies");
    if let Some(h) = proof.first_mut() {
        h[0] ^= 1;
        assert!(
            merkle::verify_inclusion(index, n, &leaves[index as usize], &proof, &root).is_err()
        );
    }
    let old = 1 + pick % n;
    let c = tree.consistency_proof(old, n).expect("consistency");
    let old_root = mth(&leaves[..old as usize]);
    merkle::verify_consistency(old, n, &old_root, &root, &c).expect("consistent");
}
