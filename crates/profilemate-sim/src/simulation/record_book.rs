//! Provides [`RecordBook`]: the per-request records, indexed by [`RequestId`], from which a
//! long-running driver can forget the finished ones so memory stays bounded.

use std::ops::{Index, IndexMut};

use crate::records::{RequestId, RequestRecord};

/// Records of requests `base..`, in id order.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordBook {
    records: Vec<RequestRecord>,
    /// Id of `records[0]`: the requests before it were forgotten.
    base: u32,
}

impl RecordBook {
    /// The id the next request gets.
    pub(crate) fn next_id(&self) -> RequestId {
        RequestId(self.base + self.records.len() as u32)
    }

    /// Appends the next request's record.
    pub(crate) fn push(&mut self, record: RequestRecord) {
        self.records.push(record);
    }

    /// The record of `id`, unless it was forgotten.
    pub(crate) fn get_mut(&mut self, id: RequestId) -> Option<&mut RequestRecord> {
        let i = id.0.checked_sub(self.base)?;
        self.records.get_mut(i as usize)
    }

    /// The records not forgotten, oldest first.
    pub(crate) fn as_slice(&self) -> &[RequestRecord] {
        &self.records
    }

    /// Id of the oldest record kept.
    pub(crate) fn base(&self) -> RequestId {
        RequestId(self.base)
    }

    /// Forgets the longest run of finished records at the front; returns how many.
    pub(crate) fn forget_finished(&mut self) -> usize {
        let n = self
            .records
            .iter()
            .take_while(|r| r.finished.is_some())
            .count();
        self.records.drain(..n);
        self.base += n as u32;
        n
    }

    /// All records kept.
    pub(crate) fn into_vec(self) -> Vec<RequestRecord> {
        self.records
    }
}

impl Index<RequestId> for RecordBook {
    type Output = RequestRecord;
    fn index(&self, id: RequestId) -> &RequestRecord {
        &self.records[(id.0 - self.base) as usize]
    }
}

impl IndexMut<RequestId> for RecordBook {
    fn index_mut(&mut self, id: RequestId) -> &mut RequestRecord {
        &mut self.records[(id.0 - self.base) as usize]
    }
}
