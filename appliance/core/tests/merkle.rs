//! Merkle maths: RFC 6962 vectors, and differential tests against two independent
//! implementations (ct-merkle, and tlog_tiles, a port of Go's sumdb tlog) over many sizes.

use rand::{Rng, SeedableRng, rngs::StdRng};
use vigil_core::MemoryTree;
use vigil_core::merkle::{self, Hash, ProofError};

/// The leaves of the RFC 6962 / Certificate Transparency reference test.
const CT_LEAVES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];
/// Roots of the first 1..=8 leaves from that test.
const CT_ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn ct_tree() -> MemoryTree {
    let mut t = MemoryTree::new();
    for l in CT_LEAVES {
        t.push(l);
    }
    t
}

#[test]
fn rfc6962_reference_roots() {
    let t = ct_tree();
    assert_eq!(
        hex::encode(t.root(0).expect("empty")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    for (i, want) in CT_ROOTS.iter().enumerate() {
        assert_eq!(
            hex::encode(t.root(i as u64 + 1).expect("root")),
            *want,
            "size {}",
            i + 1
        );
    }
}

#[test]
fn rfc6962_reference_inclusion_and_consistency() {
    let t = ct_tree();
    // From the CT reference test: inclusion of leaf 0 in the tree of 8, and the consistency proof 1 -> 8.
    let p = t.inclusion_proof(0, 8).expect("proof");
    assert_eq!(
        p.iter().map(hex::encode).collect::<Vec<_>>(),
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ]
    );
    let c = t.consistency_proof(1, 8).expect("proof");
    assert_eq!(
        c, p,
        "for a first tree of one leaf, consistency and inclusion of leaf 0 coincide"
    );
    let c = t.consistency_proof(6, 8).expect("proof");
    assert_eq!(
        c.iter().map(hex::encode).collect::<Vec<_>>(),
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]
    );
}

#[test]
fn proofs_verify_and_tampering_is_caught() {
    let mut t = MemoryTree::new();
    for i in 0..37u32 {
        t.push(&i.to_be_bytes());
    }
    for size in 1..=37u64 {
        let root = t.root(size).expect("root");
        for idx in 0..size {
            let leaf = merkle::leaf_hash(&(idx as u32).to_be_bytes());
            let p = t.inclusion_proof(idx, size).expect("proof");
            merkle::verify_inclusion(idx, size, &leaf, &p, &root).expect("verifies");
            let wrong = merkle::leaf_hash(b"other");
            assert_eq!(
                merkle::verify_inclusion(idx, size, &wrong, &p, &root),
                Err(ProofError::Mismatch)
            );
            if let Some(first) = p.first() {
                let mut bad = p.clone();
                bad[0] = merkle::node_hash(first, first);
                assert!(merkle::verify_inclusion(idx, size, &leaf, &bad, &root).is_err());
                assert!(
                    merkle::verify_inclusion(idx, size, &leaf, &p[1..], &root).is_err(),
                    "short proof"
                );
            }
            let mut long = p.clone();
            long.push([0; 32]);
            assert!(
                merkle::verify_inclusion(idx, size, &leaf, &long, &root).is_err(),
                "long proof"
            );
        }
        for old in 0..=size {
            let p = t.consistency_proof(old, size).expect("proof");
            let old_root = t.root(old).expect("root");
            merkle::verify_consistency(old, size, &old_root, &root, &p).expect("consistent");
            if old > 0 && old < size {
                let forked = merkle::leaf_hash(b"fork");
                assert!(
                    merkle::verify_consistency(old, size, &forked, &root, &p).is_err(),
                    "forked old root"
                );
                assert!(
                    merkle::verify_consistency(old, size, &old_root, &forked, &p).is_err(),
                    "forked new root"
                );
            }
        }
    }
    assert!(t.inclusion_proof(5, 5).is_err());
    assert!(merkle::verify_consistency(5, 4, &[0; 32], &[0; 32], &[]).is_err());
}

/// The same tree built by ct-merkle.
type CtTree = ct_merkle::mem_backed_tree::MemoryBackedTree<sha2::Sha256, Vec<u8>>;

struct TlogReader<'a>(&'a [tlog_tiles::Hash]);
impl tlog_tiles::HashReader for TlogReader<'_> {
    fn read_hashes(&self, idx: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        Ok(idx.iter().map(|&i| self.0[i as usize]).collect())
    }
}

#[test]
fn differential_against_ct_merkle_and_sumdb_tlog() {
    let mut rng = StdRng::seed_from_u64(0x5161);
    let n_max = 1100u64;
    let mut ours = MemoryTree::new();
    let mut ct = CtTree::new();
    let mut tlog: Vec<tlog_tiles::Hash> = Vec::new();
    for i in 0..n_max {
        let data: Vec<u8> = (0..rng.random_range(0..40)).map(|_| rng.random()).collect();
        ours.push(&data);
        let new =
            tlog_tiles::stored_hashes(i, &data, &TlogReader(&tlog)).expect("tlog stored hashes");
        tlog.extend(new);
        ct.push(data);
    }
    // Every size: roots agree three ways.
    for size in 0..=n_max {
        let r = ours.root(size).expect("root");
        let t = tlog_tiles::tree_hash(size, &TlogReader(&tlog)).expect("tlog root");
        assert_eq!(r, t.0, "tlog root at size {size}");
    }
    assert_eq!(
        ours.root(n_max).expect("root").as_slice(),
        ct.root().as_bytes().as_slice()
    );
    // Thousands of random inclusion and consistency pairs.
    for _ in 0..3000 {
        let size = rng.random_range(1..=n_max);
        let idx = rng.random_range(0..size);
        let p = ours.inclusion_proof(idx, size).expect("proof");
        let t = tlog_tiles::prove_record(size, idx, &TlogReader(&tlog)).expect("tlog proof");
        assert_eq!(
            p,
            t.iter().map(|h| h.0).collect::<Vec<Hash>>(),
            "inclusion {idx} in {size}"
        );
        let old = rng.random_range(1..=size);
        let c = ours.consistency_proof(old, size).expect("proof");
        let tc = tlog_tiles::prove_tree(size, old, &TlogReader(&tlog)).expect("tlog tree proof");
        assert_eq!(
            c,
            tc.iter().map(|h| h.0).collect::<Vec<Hash>>(),
            "consistency {old} -> {size}"
        );
        let old_root = tlog_tiles::Hash(ours.root(old).expect("root"));
        let new_root = tlog_tiles::Hash(ours.root(size).expect("root"));
        tlog_tiles::check_tree(&tc, size, new_root, old, old_root).expect("tlog accepts our roots");
    }
    // ct-merkle over the full tree: its proofs verify with our verifier and vice versa.
    let root = ours.root(n_max).expect("root");
    for _ in 0..500 {
        let idx = rng.random_range(0..n_max);
        let theirs = ct.prove_inclusion(idx as usize);
        let hashes: Vec<Hash> = theirs
            .as_bytes()
            .chunks(32)
            .map(|c| c.try_into().expect("32"))
            .collect();
        let leaf = merkle::leaf_hash(ct.get(idx as usize).expect("leaf"));
        merkle::verify_inclusion(idx, n_max, &leaf, &hashes, &root)
            .expect("ct-merkle proof verifies with ours");
        assert_eq!(hashes, ours.inclusion_proof(idx, n_max).expect("proof"));
        let adds = rng.random_range(0..n_max - 1) as usize;
        let theirs = ct.prove_consistency(adds);
        let hashes: Vec<Hash> = theirs
            .as_bytes()
            .chunks(32)
            .map(|c| c.try_into().expect("32"))
            .collect();
        assert_eq!(
            hashes,
            ours.consistency_proof(n_max - adds as u64, n_max)
                .expect("proof")
        );
    }
}

#[test]
fn stored_hash_count_is_about_two_per_entry() {
    let mut t = MemoryTree::new();
    let mut stored = 0usize;
    for i in 0..4096u64 {
        let before = stored;
        stored += merkle::hashes_to_store::<()>(i, [0; 32], |_| Ok([0; 32]))
            .expect("ok")
            .len();
        assert!(stored - before <= 1 + i.trailing_ones() as usize);
        t.push_leaf_hash([0; 32]);
    }
    assert_eq!(stored, 2 * 4096 - 1);
}
