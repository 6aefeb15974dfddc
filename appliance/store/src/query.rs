//! Paged, filtered queries over the secondary indexes.

use vigil_core::{Entry, Kind, Severity};

use crate::tables::{BY_KIND, BY_SEVERITY, BY_SIGNER, BY_TOPIC, ENTRIES};
use crate::{Store, StoreError, corrupt};

/// Largest page.
pub const MAX_LIMIT: usize = 1000;
/// Most candidate entries one query examines before it returns a partial page with `next`.
pub const MAX_SCAN: usize = 10_000;

/// What to select; all present filters must hold. Times are the entries' `received` (unix ms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// First index to consider.
    pub from: u64,
    /// Page size (1..=1000; 0 means the default 100).
    pub limit: usize,
    /// Statement kind.
    pub kind: Option<Kind>,
    /// Signer name.
    pub signer: Option<String>,
    /// Alert severity.
    pub severity: Option<Severity>,
    /// Alert topic.
    pub topic: Option<String>,
    /// Received at or after (unix ms).
    pub since_ms: Option<u64>,
    /// Received before (unix ms).
    pub until_ms: Option<u64>,
}

impl Filter {
    fn matches(&self, e: &Entry) -> bool {
        let alert = e.statement().alert();
        self.kind.is_none_or(|k| e.kind() == k)
            && self.signer.as_deref().is_none_or(|s| e.signer() == s)
            && self
                .severity
                .is_none_or(|s| alert.is_some_and(|a| a.severity == s))
            && self
                .topic
                .as_deref()
                .is_none_or(|t| alert.is_some_and(|a| a.topic == t))
            && self.since_ms.is_none_or(|t| e.received_ms() >= t)
            && self.until_ms.is_none_or(|t| e.received_ms() < t)
    }
}

/// One page of results; `next` is the `from` of the following page, `None` at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Matching entries in index order.
    pub entries: Vec<Entry>,
    /// Where to continue.
    pub next: Option<u64>,
}

impl Store {
    /// Runs a query. Work is bounded: at most `limit` results and [`MAX_SCAN`] candidates.
    pub fn query(&self, f: &Filter) -> Result<Page, StoreError> {
        let limit = if f.limit == 0 {
            100
        } else {
            f.limit.min(MAX_LIMIT)
        };
        let r = self.begin_read()?;
        let entries = r.open_table(ENTRIES)?;
        // Candidates come from the most selective index available, in index order.
        let candidates: Box<dyn Iterator<Item = Result<u64, StoreError>>> = {
            let by = |def: redb::TableDefinition<(&str, u64), ()>, key: &str| -> Result<Box<dyn Iterator<Item = Result<u64, StoreError>>>, StoreError> {
                let t = r.open_table(def)?;
                let it = t.range((key, f.from)..=(key, u64::MAX))?;
                Ok(Box::new(it.map(|x| x.map(|(k, _)| k.value().1).map_err(StoreError::from))))
            };
            if let Some(s) = &f.signer {
                by(BY_SIGNER, s)?
            } else if let Some(k) = f.kind {
                by(BY_KIND, k.name())?
            } else if let Some(t) = &f.topic {
                by(BY_TOPIC, t)?
            } else if let Some(s) = f.severity {
                by(BY_SEVERITY, s.name())?
            } else {
                Box::new(
                    entries
                        .range(f.from..)?
                        .map(|x| x.map(|(k, _)| k.value()).map_err(StoreError::from)),
                )
            }
        };
        let mut out = Vec::new();
        let mut scanned = 0;
        let mut candidates = candidates.peekable();
        while let Some(idx) = candidates.next() {
            let idx = idx?;
            scanned += 1;
            let bytes = entries
                .get(idx)?
                .ok_or_else(|| corrupt("index points at a missing entry"))?;
            let e =
                Entry::decode(bytes.value()).map_err(|e| corrupt(&format!("entry {idx}: {e}")))?;
            if f.matches(&e) {
                out.push(e);
            }
            if out.len() >= limit || scanned >= MAX_SCAN {
                let next = candidates.peek().map(|_| idx + 1);
                return Ok(Page { entries: out, next });
            }
        }
        Ok(Page {
            entries: out,
            next: None,
        })
    }
}
