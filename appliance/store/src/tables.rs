//! redb table layout (documented byte by byte in docs/format.md).

use redb::{Table, TableDefinition, WriteTransaction};
use vigil_core::Entry;
use vigil_core::merkle::{self, StoredId};

use crate::{StoreError, stored_hash};

/// index → entry bytes.
pub(crate) const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
/// (level, index) → SHA-256 of the complete subtree over leaves [index·2^level, (index+1)·2^level).
pub(crate) const HASHES: TableDefinition<(u8, u64), &[u8; 32]> = TableDefinition::new("hashes");
/// "origin" → origin bytes; "head" → size (u64 BE) ‖ root (32 bytes); "checked" → size (u64 BE).
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// tree size → signed checkpoint note. Only grows.
pub(crate) const CHECKPOINTS: TableDefinition<u64, &str> = TableDefinition::new("checkpoints");
/// (signer, nonce) → index of the entry that used it.
pub(crate) const NONCES: TableDefinition<(&str, &str), u64> = TableDefinition::new("nonces");
/// Retired: SHA-256 of statement bytes → index. It mapped bytes to one index, so a second
/// signer's copy of the same bytes overwrote the first's and an exact retry was refused as a
/// replay; a retry is now recognised from the nonce's own entry. Deleted when an older log opens.
pub(crate) const RETIRED_PAYLOADS: TableDefinition<&[u8; 32], u64> =
    TableDefinition::new("payloads");
/// (signer, index) → ().
pub(crate) const BY_SIGNER: TableDefinition<(&str, u64), ()> = TableDefinition::new("by_signer");
/// (kind, index) → ().
pub(crate) const BY_KIND: TableDefinition<(&str, u64), ()> = TableDefinition::new("by_kind");
/// (severity, index) → (), alerts only.
pub(crate) const BY_SEVERITY: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("by_severity");
/// (topic, index) → (), alerts only.
pub(crate) const BY_TOPIC: TableDefinition<(&str, u64), ()> = TableDefinition::new("by_topic");

pub(crate) const META_ORIGIN: &str = "origin";
pub(crate) const META_HEAD: &str = "head";
/// "checked" → the size (u64 BE) up to which the last full self-check passed.
pub(crate) const META_CHECKED: &str = "checked";
/// "projection" → the display projection's snapshot vigild saved last (derived state, outside
/// the tree: docs/format.md §6).
pub(crate) const META_PROJECTION: &str = "projection";

pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), redb::TableError> {
    Tables::open(txn).map(drop)
}

/// Every table, open in one write transaction.
pub(crate) struct Tables<'t> {
    pub entries: Table<'t, u64, &'static [u8]>,
    pub hashes: Table<'t, (u8, u64), &'static [u8; 32]>,
    pub meta: Table<'t, &'static str, &'static [u8]>,
    pub checkpoints: Table<'t, u64, &'static str>,
    pub nonces: Table<'t, (&'static str, &'static str), u64>,
    by_signer: Table<'t, (&'static str, u64), ()>,
    by_kind: Table<'t, (&'static str, u64), ()>,
    by_severity: Table<'t, (&'static str, u64), ()>,
    by_topic: Table<'t, (&'static str, u64), ()>,
}

impl<'t> Tables<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self, redb::TableError> {
        Ok(Tables {
            entries: txn.open_table(ENTRIES)?,
            hashes: txn.open_table(HASHES)?,
            meta: txn.open_table(META)?,
            checkpoints: txn.open_table(CHECKPOINTS)?,
            nonces: txn.open_table(NONCES)?,
            by_signer: txn.open_table(BY_SIGNER)?,
            by_kind: txn.open_table(BY_KIND)?,
            by_severity: txn.open_table(BY_SEVERITY)?,
            by_topic: txn.open_table(BY_TOPIC)?,
        })
    }

    /// Stores a new entry at the end of the log: its bytes, the tree hashes it completes, its
    /// signer's nonce, and every secondary index (the same for an append and a replay of the
    /// journal).
    pub(crate) fn put(&mut self, entry: &Entry) -> Result<(), StoreError> {
        let index = entry.index();
        self.entries.insert(index, entry.bytes())?;
        let hashes = &mut self.hashes;
        let new = merkle::hashes_to_store(index, entry.leaf_hash(), |id: StoredId| {
            stored_hash(hashes, id)
        })?;
        for (id, h) in new {
            self.hashes.insert((id.level, id.index), &h)?;
        }
        self.nonces
            .insert((entry.signer(), entry.statement().nonce()), index)?;
        self.index_entry(entry)?;
        Ok(())
    }

    /// Records a new head: its size and root, and the checkpoint signed for it (an append and a
    /// replay of the journal both end a batch so).
    pub(crate) fn set_head(
        &mut self,
        size: u64,
        root: &merkle::Hash,
        checkpoint: &str,
    ) -> Result<(), StoreError> {
        self.meta
            .insert(META_HEAD, crate::encode_head(size, root).as_slice())?;
        self.checkpoints.insert(size, checkpoint)?;
        Ok(())
    }

    /// Adds the entry to every secondary index.
    fn index_entry(&mut self, e: &Entry) -> Result<(), redb::StorageError> {
        let i = e.index();
        self.by_signer.insert((e.signer(), i), ())?;
        self.by_kind.insert((e.kind().name(), i), ())?;
        if let Some(a) = e.statement().alert() {
            self.by_severity.insert((a.severity.name(), i), ())?;
            self.by_topic.insert((a.topic.as_str(), i), ())?;
        }
        Ok(())
    }
}
