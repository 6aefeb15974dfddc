//! redb table layout (documented byte by byte in docs/format.md).

use redb::{ReadableTable as _, Table, TableDefinition, WriteTransaction};
use vigil_core::Entry;

/// index → entry bytes.
pub(crate) const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
/// (level, index) → SHA-256 of the complete subtree over leaves [index·2^level, (index+1)·2^level).
pub(crate) const HASHES: TableDefinition<(u8, u64), &[u8; 32]> = TableDefinition::new("hashes");
/// "origin" → origin bytes; "head" → size (u64 BE) ‖ root (32 bytes).
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
/// (dimension, value, index) → (): the query indexes, all four dimensions in one B-tree so a
/// commit rewrites one tree for them, not four.
pub(crate) const INDEX: TableDefinition<(u8, &str, u64), ()> = TableDefinition::new("index");

/// A dimension of [`INDEX`]; its byte is the key's first part (docs/format.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dim {
    /// The signer's name.
    Signer = 0,
    /// The statement kind's name.
    Kind = 1,
    /// The alert's severity (alerts only).
    Severity = 2,
    /// The alert's topic (alerts only).
    Topic = 3,
}

/// A retired per-dimension table.
pub(crate) type RetiredIndex = TableDefinition<'static, (&'static str, u64), ()>;

/// Retired: one table per dimension, (value, index) → () (four B-trees rewritten on every
/// commit). Their rows move into [`INDEX`] when an older log opens, and the tables are deleted.
pub(crate) const RETIRED_INDEXES: [(Dim, RetiredIndex); 4] = [
    (Dim::Signer, TableDefinition::new("by_signer")),
    (Dim::Kind, TableDefinition::new("by_kind")),
    (Dim::Severity, TableDefinition::new("by_severity")),
    (Dim::Topic, TableDefinition::new("by_topic")),
];

pub(crate) const META_ORIGIN: &str = "origin";
pub(crate) const META_HEAD: &str = "head";

pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), redb::TableError> {
    Tables::open(txn).map(drop)
}

/// Moves the rows of the retired per-dimension tables into [`INDEX`] and deletes them; true
/// if there were any (an older log).
pub(crate) fn merge_retired_indexes(txn: &WriteTransaction) -> Result<bool, redb::Error> {
    use redb::TableHandle as _;
    let present: Vec<String> = txn.list_tables()?.map(|t| t.name().to_owned()).collect();
    let mut merged = false;
    for (dim, def) in RETIRED_INDEXES {
        if !present.iter().any(|n| n == def.name()) {
            continue;
        }
        {
            let old = txn.open_table(def)?;
            let mut index = txn.open_table(INDEX)?;
            for row in old.iter()? {
                let (k, ()) = row.map(|(k, v)| (k, v.value()))?;
                let (value, i) = k.value();
                index.insert((dim as u8, value, i), ())?;
            }
        }
        txn.delete_table(def)?;
        merged = true;
    }
    Ok(merged)
}

/// Every table, open in one write transaction.
pub(crate) struct Tables<'t> {
    pub entries: Table<'t, u64, &'static [u8]>,
    pub hashes: Table<'t, (u8, u64), &'static [u8; 32]>,
    pub meta: Table<'t, &'static str, &'static [u8]>,
    pub checkpoints: Table<'t, u64, &'static str>,
    pub nonces: Table<'t, (&'static str, &'static str), u64>,
    index: Table<'t, (u8, &'static str, u64), ()>,
}

impl<'t> Tables<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self, redb::TableError> {
        Ok(Tables {
            entries: txn.open_table(ENTRIES)?,
            hashes: txn.open_table(HASHES)?,
            meta: txn.open_table(META)?,
            checkpoints: txn.open_table(CHECKPOINTS)?,
            nonces: txn.open_table(NONCES)?,
            index: txn.open_table(INDEX)?,
        })
    }

    /// Adds the entry to every secondary index.
    pub(crate) fn index_entry(&mut self, e: &Entry) -> Result<(), redb::StorageError> {
        let i = e.index();
        self.index.insert((Dim::Signer as u8, e.signer(), i), ())?;
        self.index
            .insert((Dim::Kind as u8, e.kind().name(), i), ())?;
        if let Some(a) = e.statement().alert() {
            self.index
                .insert((Dim::Severity as u8, a.severity.name(), i), ())?;
            self.index
                .insert((Dim::Topic as u8, a.topic.as_str(), i), ())?;
        }
        Ok(())
    }
}
