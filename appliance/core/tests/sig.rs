//! Signatures: raw Ed25519 and real `ssh-keygen -Y sign` SSHSIG vectors; forgeries, weak keys,
//! wrong namespaces and key swaps are refused.

use vigil_core::sig::{self, KeyError, SigError, Signature, SshSignature, split_sshsig_body};
use vigil_core::{Entry, SigningKey, Statement};

const ALERT: &[u8] = include_bytes!("vectors/alert.txt");
const ARMOR: &[u8] = include_bytes!("vectors/alert.txt.sig");
const ARMOR_FILE_NS: &[u8] = include_bytes!("vectors/alert.txt.file-ns.sig");
const SOURCE_PUB: &str = include_str!("vectors/source-dev.pub");

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

#[test]
fn raw_signature_verifies_and_any_bit_flip_is_refused() {
    let st = Statement::parse(ALERT).expect("vector parses");
    let sk = key(7);
    let sig = sig::sign_raw(ALERT, &sk);
    let v =
        sig::verify(st.clone(), "nas", &sk.verifying_key(), sig.clone()).expect("valid signature");
    assert_eq!(v.signer(), "nas");
    let Signature::Ed25519(raw) = sig else {
        panic!("raw")
    };
    for bit in [0usize, 100, 300, 511] {
        let mut forged = raw;
        forged[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            sig::verify(
                st.clone(),
                "nas",
                &sk.verifying_key(),
                Signature::Ed25519(forged)
            )
            .err(),
            Some(SigError::BadSignature)
        );
    }
    // Right signature, other key.
    assert_eq!(
        sig::verify(
            st.clone(),
            "nas",
            &key(8).verifying_key(),
            Signature::Ed25519(raw)
        )
        .err(),
        Some(SigError::BadSignature)
    );
    // Signature over other bytes.
    let other = sig::sign_raw(b"alert/v1\n", &sk);
    assert_eq!(
        sig::verify(st, "nas", &sk.verifying_key(), other).err(),
        Some(SigError::BadSignature)
    );
}

#[test]
fn ssh_keygen_signature_verifies() {
    let (stmt, armor) = {
        let mut body = ALERT.to_vec();
        body.extend_from_slice(ARMOR);
        let (s, a) = split_sshsig_body(&body)
            .map(|(s, a)| (s.to_vec(), a.to_vec()))
            .expect("armor found");
        (s, a)
    };
    assert_eq!(stmt, ALERT);
    let ssh = SshSignature::from_armor(&armor).expect("armor parses");
    let enrolled = sig::parse_openssh_public_key(SOURCE_PUB).expect("dev key parses");
    assert_eq!(ssh.key(), &enrolled, "the signature names the enrolled key");
    assert_eq!(ssh.namespace(), "vigil");
    let st = Statement::parse(&stmt).expect("parses");
    let v = sig::verify(
        st,
        "source-dev",
        &enrolled,
        Signature::Sshsig(ssh.blob().to_vec()),
    )
    .expect("verifies");
    // It survives the entry round trip.
    let e = Entry::new(0, 1, vigil_core::ClockState::Synced, &v);
    let back = Entry::decode(e.bytes()).expect("decodes");
    back.verify().expect("stored SSHSIG still verifies");
}

#[test]
fn sshsig_refusals() {
    let enrolled = sig::parse_openssh_public_key(SOURCE_PUB).expect("dev key");
    let st = Statement::parse(ALERT).expect("parses");
    // Namespace `file` instead of `vigil`.
    let other_ns = SshSignature::from_armor(ARMOR_FILE_NS).expect("parses");
    assert_eq!(
        sig::verify(
            st.clone(),
            "s",
            &enrolled,
            Signature::Sshsig(other_ns.blob().to_vec())
        )
        .err(),
        Some(SigError::WrongNamespace)
    );
    // Checked against another key than the one that signed.
    let good = SshSignature::from_armor(ARMOR).expect("parses");
    assert_eq!(
        sig::verify(
            st.clone(),
            "s",
            &key(3).verifying_key(),
            Signature::Sshsig(good.blob().to_vec())
        )
        .err(),
        Some(SigError::KeyMismatch)
    );
    // Statement changed by one byte.
    let mut changed = ALERT.to_vec();
    let at = changed.len() - 2;
    changed[at] = b'X';
    let st2 = Statement::parse(&changed).expect("still parses");
    assert_eq!(
        sig::verify(st2, "s", &enrolled, Signature::Sshsig(good.blob().to_vec())).err(),
        Some(SigError::BadSignature)
    );
    // Last signature byte flipped inside the blob.
    let mut blob = good.blob().to_vec();
    let last = blob.len() - 1;
    blob[last] ^= 1;
    assert_eq!(
        sig::verify(st, "s", &enrolled, Signature::Sshsig(blob)).err(),
        Some(SigError::BadSignature)
    );
    // Broken armors.
    let text = std::str::from_utf8(ARMOR).expect("ascii");
    for bad in [
        text.replace("BEGIN", "BEGUN"),
        text.replace("-----END SSH SIGNATURE-----\n", ""),
        format!("{text}trailing\n"),
        text.replacen('U', "!", 1),
    ] {
        assert!(SshSignature::from_armor(bad.as_bytes()).is_err(), "{bad}");
    }
    assert!(SshSignature::from_armor(&vec![b'A'; 5000]).is_err());
}

#[test]
fn weak_and_foreign_keys_are_refused() {
    // The identity point (a small-order key) encoded as an OpenSSH line.
    let mut small = [0u8; 32];
    small[0] = 1;
    assert_eq!(sig::checked_key(&small).err(), Some(KeyError::Weak));
    let vk = key(1).verifying_key();
    let line = sig::openssh_public_key_line(&vk, "x");
    let weak_line = {
        use base64::Engine as _;
        let b64 = line.split(' ').nth(1).expect("b64");
        let mut blob = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("b64");
        let n = blob.len();
        blob[n - 32..].copy_from_slice(&small);
        format!(
            "ssh-ed25519 {}",
            base64::engine::general_purpose::STANDARD.encode(blob)
        )
    };
    assert_eq!(
        sig::parse_openssh_public_key(&weak_line).err(),
        Some(KeyError::Weak)
    );
    assert_eq!(
        sig::parse_openssh_public_key("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 x").err(),
        Some(KeyError::NotEd25519)
    );
    assert_eq!(
        sig::parse_openssh_public_key("ssh-ed25519 AAAA!! x").err(),
        Some(KeyError::Malformed)
    );
    assert_eq!(
        sig::parse_openssh_public_key("hello").err(),
        Some(KeyError::Malformed)
    );
    assert_eq!(
        sig::parse_openssh_public_key("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg= x").err(),
        Some(KeyError::NotEd25519)
    );
    // Round trip of our own line, and ssh-keygen's fingerprint format.
    assert_eq!(sig::parse_openssh_public_key(&line).expect("ok"), vk);
    assert!(sig::fingerprint(&vk).starts_with("SHA256:"));
    // A weak key never verifies, even a signature that would pass non-strict verification.
    let st = Statement::parse(ALERT).expect("parses");
    let weak_vk = vigil_core::VerifyingKey::from_bytes(&small).expect("decodes");
    assert_eq!(
        sig::verify(st, "w", &weak_vk, Signature::Ed25519([0u8; 64])).err(),
        Some(SigError::Key(KeyError::Weak))
    );
}

#[test]
fn dev_key_fingerprint_matches_ssh_keygen() {
    // `ssh-keygen -lf keys/dev/source-dev.pub` prints the same fingerprint.
    let vk = sig::parse_openssh_public_key(SOURCE_PUB).expect("dev key");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-lf", "tests/vectors/source-dev.pub"])
        .output()
        .expect("ssh-keygen is installed (.ci/run installs openssh-client)");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains(&sig::fingerprint(&vk)), "{printed}");
}

#[test]
fn openssh_private_key_files_round_trip_and_match_ssh_keygen() {
    use vigil_core::keyfile::{self, KeyFileError};
    // The dev key written by ssh-keygen decodes and matches its .pub.
    let text = std::fs::read_to_string("../../keys/dev/source-dev").expect("dev key");
    let key = keyfile::decode(&text).expect("ssh-keygen key decodes");
    assert_eq!(
        key.verifying_key(),
        sig::parse_openssh_public_key(SOURCE_PUB).expect("pub")
    );
    // Ours round-trips.
    let k = key_seeded(11);
    let file = keyfile::encode(&k, "x").expect("encodes");
    assert!(file.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert_eq!(
        keyfile::decode(&file).expect("decodes").to_bytes(),
        k.to_bytes()
    );
    assert_eq!(
        keyfile::decode("hello").err(),
        Some(KeyFileError::Malformed)
    );
}

fn key_seeded(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}
