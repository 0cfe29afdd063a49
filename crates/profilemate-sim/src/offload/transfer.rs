//! Provides the worker side of offloading in virtual time: the GPU↔CPU link, one FIFO copy
//! stream per direction, and the transfers in flight on it.
//!
//! Mirrors what `OffloadingConnectorWorker` (vllm/distributed/kv_transfer/kv_connector/v1/
//! offloading/worker.py) and `CPUOffloadingWorker` (vllm/v1/kv_offload/cpu/gpu_worker.py),
//! vLLM 0.32, make observable: loads start with the step that carries them, stores at the
//! start of the next step, each direction copies one job at a time, and a job's
//! `transfer_time` (CUDA events around its copies) is latency + bytes / bandwidth.

use std::time::Duration;

use super::config::KvOffloadConfig;

/// Which way a job copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// CPU→GPU.
    Load,
    /// GPU→CPU.
    Store,
}

/// A job the scheduler-side connector created, to be copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TransferJob {
    /// Job id (shared counter for loads and stores).
    pub(crate) id: u64,
    /// Direction.
    pub(crate) direction: Direction,
    /// Bytes copied (GPU blocks × block bytes).
    pub(crate) bytes: u64,
}

/// A job on the link, with its virtual times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transfer {
    /// The job.
    pub(crate) job: TransferJob,
    /// When its copy ends.
    pub(crate) end: Duration,
    /// Its `transfer_time`.
    pub(crate) duration: Duration,
}

/// The host link with its two copy streams.
#[derive(Debug)]
pub(crate) struct HostLink {
    bandwidth: f64,
    latency: Duration,
    load_free_at: Duration,
    store_free_at: Duration,
    in_flight: Vec<Transfer>,
}

impl HostLink {
    pub(crate) fn new(config: &KvOffloadConfig) -> Self {
        HostLink {
            bandwidth: config.host_link_bandwidth,
            latency: config.transfer_latency,
            load_free_at: Duration::ZERO,
            store_free_at: Duration::ZERO,
            in_flight: Vec::new(),
        }
    }

    /// Queues `job` on its stream at time `at`.
    pub(crate) fn submit(&mut self, job: TransferJob, at: Duration) {
        let copy = Duration::try_from_secs_f64(job.bytes as f64 / self.bandwidth);
        let duration = self.latency.saturating_add(copy.unwrap_or(Duration::MAX));
        let free_at = match job.direction {
            Direction::Load => &mut self.load_free_at,
            Direction::Store => &mut self.store_free_at,
        };
        let end = at.max(*free_at).saturating_add(duration);
        *free_at = end;
        self.in_flight.push(Transfer { job, end, duration });
    }

    /// When the next transfer ends.
    pub(crate) fn next_end(&self) -> Option<Duration> {
        self.in_flight.iter().map(|t| t.end).min()
    }

    /// Removes and returns the transfers ended by `by`, in order of their end (job id on ties).
    pub(crate) fn take_done(&mut self, by: Duration) -> Vec<Transfer> {
        let (mut done, left): (Vec<Transfer>, Vec<Transfer>) =
            self.in_flight.drain(..).partition(|t| t.end <= by);
        self.in_flight = left;
        done.sort_by_key(|t| (t.end, t.job.id));
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u64, direction: Direction, bytes: u64) -> TransferJob {
        TransferJob {
            id,
            direction,
            bytes,
        }
    }

    #[test]
    fn each_direction_is_a_fifo_stream() {
        let mut config = KvOffloadConfig::new(1 << 30, 1 << 20);
        config.host_link_bandwidth = 1e9;
        config.transfer_latency = Duration::from_micros(100);
        let mut link = HostLink::new(&config);
        let ms = Duration::from_millis;
        link.submit(job(0, Direction::Load, 2_000_000), ms(1));
        link.submit(job(1, Direction::Load, 1_000_000), ms(1));
        link.submit(job(2, Direction::Store, 1_000_000), ms(2));
        assert_eq!(link.next_end(), Some(Duration::from_micros(3100)));
        assert!(link.take_done(ms(3)).is_empty());
        let done = link.take_done(ms(5));
        let ends: Vec<(u64, Duration)> = done.iter().map(|t| (t.job.id, t.end)).collect();
        let us = Duration::from_micros;
        assert_eq!(ends, [(0, us(3100)), (2, us(3100)), (1, us(4200))]);
        assert_eq!(done[2].duration, us(1100));
        assert_eq!(link.next_end(), None);
    }
}
