//! Provides [`run_disaggregated_with_events`]: the virtual-time client in front of a prefill
//! pool and a decode pool (prefill/decode disaggregation), as vLLM 0.32's disaggregated
//! serving runs it with the NIXL connector behind its proxy
//! (examples/online_serving/disaggregated_serving/, `toy_proxy_server.py`).
//!
//! Each request goes first to a prefill instance with `max_tokens` 1 and `do_remote_decode`
//! ([`KvTransfer::RemoteDecode`]): it computes the prompt, samples one token that the client
//! never sees, finishes and keeps its KV blocks. When it has finished, the proxy sends the
//! original request to a decode instance with `do_remote_prefill`
//! ([`KvTransfer::RemotePrefill`]): the decode scheduler admits it into
//! `WAITING_FOR_REMOTE_KVS`, pulls the prompt's KV over its link, recomputes the last prompt
//! token and streams every output token; the prefill instance frees its blocks when the pull
//! has landed. The client's TTFT is the decode instance's first token, counted from the
//! client's send. Each pool routes with vLLM's data-parallel load balancer
//! ([`DataParallelRouter`](profilemate_sim::DataParallelRouter)).
//!
//! The engines run in global time order as in [`cluster`](super::cluster): every engine to
//! the same stop (the next send, every prefill-instance event, and while requests wait for a
//! concurrency slot or a prefill is in progress, or nothing else is left, every
//! decode-instance event), and requests change hands only at a stop.
//!
//! The pools' engines and their sinks are in [`pool`]; the client that moves requests between
//! them, in global time order, in [`drive`].

mod drive;
mod pool;

use profilemate_sim::{EngineConfig, EngineSink, KvLink, Simulation, StepTimer};

use crate::error::PlanError;
use crate::virtual_run::VirtualRun;
use crate::virtual_run::cluster::engines;
use crate::virtual_run::driver::ProgressReporter;
use crate::virtual_run::records;
use profilemate_bench::cancel::CancelToken;
use profilemate_bench::config::WorkloadConfig;
use profilemate_bench::event::EventSink;
use profilemate_bench::record::ClientRequestRecord;

use drive::{DisaggDriven, Stage, drive_disaggregated};

/// A disaggregated deployment: how many prefill and decode instances, and the link a decode
/// instance pulls KV over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disaggregation {
    /// Prefill instances (≥ 1).
    pub prefill_instances: usize,
    /// Decode instances (≥ 1).
    pub decode_instances: usize,
    /// Each decode instance's link to the prefill pool.
    pub link: KvLink,
}

/// One pool's engine: its settings and step timer (each instance gets a clone).
#[derive(Debug, Clone)]
pub struct PoolEngine<T> {
    /// The engine's settings.
    pub config: EngineConfig,
    /// Its step timer.
    pub timer: T,
}

/// [`run_virtual_with_events`](super::run_virtual_with_events) against a disaggregated
/// deployment: `pd.prefill_instances` engines with `prefill` settings and
/// `pd.decode_instances` with `decode` settings, the client's requests prefilled on one and
/// decoded on the other ([the module](self)). The report counts the client's view (TTFT from
/// its send to the decode instance's first token) and every engine's counters summed: the
/// prefill instance counts a prompt's tokens and its one discarded output token, the decode
/// instance only the prompt token it recomputes (the pulled ones count as cached) and the
/// output tokens; the engine-step count is the sum over both pools.
#[allow(clippy::too_many_arguments)]
pub fn run_disaggregated_with_events<T: StepTimer + Clone>(
    workload: &WorkloadConfig,
    prefill: PoolEngine<T>,
    decode: PoolEngine<T>,
    pd: &Disaggregation,
    model_id: &str,
    events: &EventSink,
    cancel: &CancelToken,
    observer: &mut dyn EngineSink,
) -> Result<VirtualRun, PlanError> {
    let super::Prepared {
        outgoing,
        schedule,
        sessions,
        ..
    } = super::prepare(workload)?;
    if sessions.is_some() {
        return Err(PlanError::ClosedLoopWithDisaggregation);
    }
    let mut prefill_sims = engines(&prefill.config, &prefill.timer, pd.prefill_instances)?;
    let mut decode_sims = engines(&decode.config, &decode.timer, pd.decode_instances)?;
    let progress = ProgressReporter::new(events.clone(), outgoing.len());
    let driven = drive_disaggregated(
        &mut prefill_sims,
        &mut decode_sims,
        pd.link,
        outgoing,
        workload.max_concurrency,
        Some(progress),
        Some(cancel.clone()),
        observer,
    );
    let report = super::report_of(
        workload,
        model_id,
        &schedule,
        client_records(&driven, &decode_sims),
        driven.stopped,
        &driven.totals,
    );
    Ok(VirtualRun {
        report,
        num_steps: driven.num_steps,
    })
}

/// The client's records in dispatch order: a decoded request from its decode instance's
/// record and stream, timed from the client's send.
fn client_records<T: StepTimer>(
    driven: &DisaggDriven,
    decode: &[Simulation<T>],
) -> Vec<ClientRequestRecord> {
    driven
        .sent
        .iter()
        .zip(&driven.stage)
        .filter_map(|(s, stage)| match *stage {
            Stage::Decode(e, _) => {
                records::client_record(s, decode[e].records(), &driven.decode_sinks[e].streams)
            }
            Stage::Prefill(..) => Some(records::interrupted(s)),
            Stage::Client => records::client_record(s, &[], &[]),
        })
        .collect()
}
