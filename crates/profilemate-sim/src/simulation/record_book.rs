//! Provides [`RecordBook`]: the per-request records, found by [`RequestId`], from which a
//! long-running driver can forget the finished ones so memory stays bounded.

use std::ops::{Index, IndexMut};

use crate::records::{EngineRequestRecord, RequestId};

/// Records sorted by id. Until something is forgotten, `records[i]` is request `i`; after
/// that there may be gaps, and a lookup falls back to a binary search.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordBook {
    records: Vec<EngineRequestRecord>,
    next: u32,
}

impl RecordBook {
    /// The id the next request gets.
    pub(crate) fn next_id(&self) -> RequestId {
        RequestId(self.next)
    }

    /// Appends the next request's record (its id must be [`next_id`](Self::next_id)).
    pub(crate) fn push(&mut self, record: EngineRequestRecord) {
        self.next = record.id.0 + 1;
        self.records.push(record);
    }

    fn position(&self, id: RequestId) -> Option<usize> {
        let first = self.records.first()?.id.0;
        let guess = id.0.checked_sub(first)? as usize;
        if self.records.get(guess).is_some_and(|r| r.id == id) {
            return Some(guess);
        }
        self.records.binary_search_by_key(&id.0, |r| r.id.0).ok()
    }

    /// The record of `id`, unless it was forgotten.
    pub(crate) fn get_mut(&mut self, id: RequestId) -> Option<&mut EngineRequestRecord> {
        let i = self.position(id)?;
        self.records.get_mut(i)
    }

    /// The records kept, in id order.
    pub(crate) fn as_slice(&self) -> &[EngineRequestRecord] {
        &self.records
    }

    /// Forgets every finished record; returns how many.
    pub(crate) fn forget_finished(&mut self) -> usize {
        let before = self.records.len();
        self.records.retain(|r| r.finished.is_none());
        before - self.records.len()
    }

    /// All records kept.
    pub(crate) fn into_vec(self) -> Vec<EngineRequestRecord> {
        self.records
    }
}

/// Lookups of live requests: the engine only indexes requests it is still running, which
/// are never forgotten.
impl Index<RequestId> for RecordBook {
    type Output = EngineRequestRecord;
    fn index(&self, id: RequestId) -> &EngineRequestRecord {
        let i = self.position(id).unwrap_or(usize::MAX);
        &self.records[i]
    }
}

impl IndexMut<RequestId> for RecordBook {
    fn index_mut(&mut self, id: RequestId) -> &mut EngineRequestRecord {
        let i = self.position(id).unwrap_or(usize::MAX);
        &mut self.records[i]
    }
}
