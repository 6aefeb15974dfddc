//! Signed notes and checkpoints: the signed-note spec's own example, interop with an independent
//! implementation (signed_note), and refusal of forged, foreign and malformed notes.

use vigil_core::checkpoint::{Checkpoint, TlogProof};
use vigil_core::merkle::leaf_hash;
use vigil_core::note::{NoteError, NoteSigner, NoteVerifier, key_id};
use vigil_core::{MemoryTree, SigningKey};

/// From the C2SP signed-note spec (and Go's sumdb/note tests).
const SPEC_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const SPEC_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

#[test]
fn spec_example_verifies() {
    let v = NoteVerifier::from_vkey(SPEC_VKEY).expect("spec vkey parses");
    assert_eq!(v.vkey(), SPEC_VKEY, "vkey round-trips");
    let text = v.verify(SPEC_NOTE).expect("spec note verifies");
    assert!(text.starts_with("If you think"));
    let tampered = SPEC_NOTE.replace("answer", "answers");
    assert_eq!(
        v.verify(&tampered),
        Err(NoteError::Unverified("PeterNeumann".into()))
    );
}

#[test]
fn vkey_refusals() {
    for bad in [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", // wrong id
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", // uppercase id
        "PeterNeumann+c74f20a3+AhpcQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  // wrong type/len
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", // space
        "PeterNeumann+c74f20a3",
    ] {
        assert!(NoteVerifier::from_vkey(bad).is_err(), "{bad}");
    }
}

#[test]
fn our_notes_interoperate_with_signed_note_crate() {
    let sk = SigningKey::from_bytes(&[9; 32]);
    let signer = NoteSigner::new("vigil.example/log", sk).expect("signer");
    let note = signer.sign("hello\nworld\n").expect("signs");
    // Their verifier, our vkey.
    let theirs =
        signed_note::StandardVerifier::new(&signer.verifier().vkey()).expect("their vkey parse");
    let parsed = signed_note::Note::from_bytes(note.as_bytes()).expect("their parse");
    let list = signed_note::VerifierList::new(vec![Box::new(theirs)]);
    let (ok, _) = parsed.verify(&list).expect("they verify our note");
    assert_eq!(ok.len(), 1);
    // Key id agrees with theirs.
    let id = u32::from_be_bytes(key_id("vigil.example/log", signer.verifier().key()));
    assert_eq!(
        id,
        signed_note::key_id("vigil.example/log", &{
            let mut k = vec![1u8];
            k.extend_from_slice(signer.verifier().key().as_bytes());
            k
        })
    );
    // And a note signed by them verifies with us.
    let (skey, vkey) = signed_note::generate_key(&mut rand_core_06(), "other.example");
    let their_signer = signed_note::StandardSigner::new(&skey).expect("signer");
    let mut n = signed_note::Note::new(b"text\n", &[]).expect("note");
    n.add_sigs(&[&their_signer]).expect("sign");
    let ours = NoteVerifier::from_vkey(&vkey).expect("our parse of their vkey");
    ours.verify(std::str::from_utf8(&n.to_bytes()).expect("utf8"))
        .expect("we verify their note");
}

fn rand_core_06() -> impl rand_core_06::CryptoRng + rand_core_06::RngCore {
    rand_core_06::OsRng
}

#[test]
fn note_refusals() {
    let signer = NoteSigner::new("log", SigningKey::from_bytes(&[1; 32])).expect("signer");
    let other = NoteSigner::new("log", SigningKey::from_bytes(&[2; 32])).expect("signer");
    let v = signer.verifier();
    let note = signer.sign("a\n").expect("sign");
    v.verify(&note).expect("ok");
    // Signed by another key with the same name.
    assert!(v.verify(&other.sign("a\n").expect("sign")).is_err());
    // Extra unknown signatures are ignored, as the spec says.
    let extra = format!(
        "{note}{}",
        other
            .sign("a\n")
            .expect("sign")
            .split_once("\n\n")
            .expect("sig")
            .1
    );
    v.verify(&extra).expect("unknown signatures ignored");
    for bad in [
        note.replace('\u{2014}', "-"),
        note.trim_end().to_string(),
        note.replace("a\n\n", "a\n"),
        format!("a\u{7}\n\n{}", note.split_once("\n\n").expect("sig").1),
    ] {
        assert!(v.verify(&bad).is_err(), "{bad:?}");
    }
    assert!(signer.sign("no newline").is_err());
    assert!(NoteSigner::new("bad name", SigningKey::from_bytes(&[1; 32])).is_err());
    assert!(
        !format!("{signer:?}").contains("[1, 1"),
        "Debug redacts the key"
    );
}

#[test]
fn checkpoint_sign_verify_and_tlog_proof_round_trip() {
    let origin = "vigil.example/log";
    let signer = NoteSigner::new(origin, SigningKey::from_bytes(&[4; 32])).expect("signer");
    let mut tree = MemoryTree::new();
    for i in 0..42u32 {
        tree.push(&i.to_le_bytes());
    }
    let cp = Checkpoint {
        origin: origin.into(),
        size: 42,
        root: tree.root(42).expect("root"),
    };
    let note = cp.sign(&signer).expect("sign");
    assert!(note.starts_with("vigil.example/log\n42\n"));
    assert_eq!(
        Checkpoint::verify(&note, signer.verifier()).expect("verifies"),
        cp
    );
    // The signed_note crate checks our checkpoint too.
    let theirs = signed_note::StandardVerifier::new(&signer.verifier().vkey()).expect("vkey");
    signed_note::Note::from_bytes(note.as_bytes())
        .expect("parse")
        .verify(&signed_note::VerifierList::new(vec![Box::new(theirs)]))
        .expect("their verify");

    let proof = TlogProof {
        extra: None,
        index: 17,
        hashes: tree.inclusion_proof(17, 42).expect("proof"),
        checkpoint: note.clone(),
    };
    let text = proof.to_text();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 17\n"));
    let back = TlogProof::parse(&text).expect("parses");
    assert_eq!(back, proof);
    back.verify(&leaf_hash(&17u32.to_le_bytes()), signer.verifier())
        .expect("verifies");
    assert!(
        back.verify(&leaf_hash(&18u32.to_le_bytes()), signer.verifier())
            .is_err(),
        "other leaf"
    );
    let wrong_index = TlogProof {
        index: 18,
        ..back.clone()
    };
    assert!(
        wrong_index
            .verify(&leaf_hash(&17u32.to_le_bytes()), signer.verifier())
            .is_err()
    );
    let with_extra = TlogProof {
        extra: Some(b"x".to_vec()),
        ..proof.clone()
    };
    assert_eq!(
        TlogProof::parse(&with_extra.to_text()).expect("parses"),
        with_extra
    );
    // A checkpoint for another origin is refused even when well signed.
    let foreign_signer = NoteSigner::new("evil/log", SigningKey::from_bytes(&[4; 32])).expect("s");
    let foreign = Checkpoint {
        origin: "evil/log".into(),
        ..cp.clone()
    }
    .sign(&foreign_signer)
    .expect("sign");
    assert!(Checkpoint::verify(&foreign, signer.verifier()).is_err());
    assert!(
        cp.sign(&foreign_signer).is_err(),
        "a log key signs only its own origin"
    );
    for bad in [
        text.replace("index 17", "index x"),
        text.replace("c2sp.org/tlog-proof@v1", "tlog-proof"),
        text.replacen("\n\n", "\n", 1),
    ] {
        assert!(
            TlogProof::parse(&bad).is_err()
                || TlogProof::parse(&bad)
                    .expect("p")
                    .verify(&leaf_hash(&17u32.to_le_bytes()), signer.verifier())
                    .is_err()
        );
    }
    for bad in ["o\n01\nAAAA\n", "o\n1\nAAAA\n", "o\n1\n", ""] {
        assert!(Checkpoint::parse_text(bad).is_err(), "{bad:?}");
    }
}
