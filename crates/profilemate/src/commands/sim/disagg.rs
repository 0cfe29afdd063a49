//! Defines [`DisaggArgs`], `sim run`'s prefill/decode disaggregation flags, and resolves them
//! into a prefill pool and a decode pool ([`Disaggregated`]) run by
//! [`profilemate_plan::virtual_run::run_disaggregated_with_events`].

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use profilemate_bench::cancel::CancelToken;
use profilemate_bench::config::WorkloadConfig;
use profilemate_bench::event::EventSink;
use profilemate_model::kv::KvLayout;
use profilemate_plan::PlanError;
use profilemate_plan::virtual_run::{
    Disaggregation, PoolEngine, VirtualRun, run_disaggregated_with_events,
};
use profilemate_sim::KvLink;
use profilemate_sim::vllm_log::MfuLogStepTimer;

use super::engine_args::{Engine, EngineArgs};

/// `--kv-transfer-gbps`' default: one 400 Gb/s NIC per decode instance.
const DEFAULT_GBPS: f64 = 400.0;

/// Prefill/decode disaggregation (vLLM's NIXL connector behind its proxy).
#[derive(Debug, Clone, Args)]
pub(crate) struct DisaggArgs {
    /// (profilemate) Prefill/decode disaggregation: this many prefill instances, each of
    /// the deployment's TP × PP GPUs (with --decode-instances).
    #[arg(long, value_name = "N", requires = "decode_instances",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) prefill_instances: Option<u64>,
    /// (profilemate) Prefill/decode disaggregation: this many decode instances (with
    /// --prefill-instances).
    #[arg(long, value_name = "N", requires = "prefill_instances",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) decode_instances: Option<u64>,
    /// (profilemate) Tensor-parallel size of each prefill instance (default:
    /// --tensor-parallel-size).
    #[arg(long, value_name = "TP", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) prefill_tensor_parallel_size: Option<u64>,
    /// (profilemate) Tensor-parallel size of each decode instance (default:
    /// --tensor-parallel-size).
    #[arg(long, value_name = "TP", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) decode_tensor_parallel_size: Option<u64>,
    /// (profilemate) Bandwidth in Gbit/s of the link each decode instance pulls KV over
    /// (all its GPUs together); pulls take it one at a time [default: 400].
    #[arg(long, value_name = "GBPS")]
    pub(crate) kv_transfer_gbps: Option<f64>,
    /// (profilemate) Fixed time added to every KV pull (handshake, completion notice), in ms.
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    pub(crate) kv_transfer_latency_ms: f64,
}

/// A resolved disaggregated deployment.
#[derive(Debug)]
pub(crate) struct Disaggregated {
    /// Each prefill instance's engine.
    pub(crate) prefill: Engine,
    /// Each decode instance's engine.
    pub(crate) decode: Engine,
    /// The pools' sizes and the link.
    pub(crate) pd: Disaggregation,
}

impl DisaggArgs {
    /// The two pools, or `None` when disaggregation was not asked for; refuses what it
    /// cannot be combined with (`log_file`: one engine's log).
    pub(crate) fn resolve(
        &self,
        engine: &EngineArgs,
        seed: u64,
        log_file: bool,
    ) -> anyhow::Result<Option<Disaggregated>> {
        let (Some(prefill), Some(decode)) = (self.prefill_instances, self.decode_instances) else {
            if self.prefill_tensor_parallel_size.is_some()
                || self.decode_tensor_parallel_size.is_some()
            {
                bail!(
                    "--prefill-tensor-parallel-size and --decode-tensor-parallel-size need --prefill-instances and --decode-instances"
                );
            }
            return Ok(None);
        };
        let flag = "--prefill-instances/--decode-instances";
        if engine.deployment.dp > 1 {
            bail!(
                "{flag} size the pools themselves: drop --data-parallel-size {}",
                engine.deployment.dp
            );
        }
        if log_file {
            bail!("--log-file writes one engine's vLLM log: it cannot be combined with {flag}");
        }
        if engine.kv_offloading_size.is_some() {
            bail!("--kv-offloading-size is not supported with {flag} yet");
        }
        let gbps = self.kv_transfer_gbps.unwrap_or(DEFAULT_GBPS);
        if !(gbps.is_finite() && gbps > 0.0) {
            bail!("--kv-transfer-gbps {gbps}: give a positive bandwidth in Gbit/s");
        }
        let latency = Duration::try_from_secs_f64(self.kv_transfer_latency_ms / 1e3)
            .ok()
            .filter(|_| self.kv_transfer_latency_ms.is_finite())
            .with_context(|| {
                format!(
                    "--kv-transfer-latency-ms {}: give a non-negative number of ms",
                    self.kv_transfer_latency_ms
                )
            })?;
        let pool = |tp: Option<u64>| {
            let mut args = engine.clone();
            if let Some(tp) = tp {
                args.deployment.tp = tp;
            }
            args.resolve(seed)
        };
        let prefill_engine = pool(self.prefill_tensor_parallel_size)?;
        let decode_engine = pool(self.decode_tensor_parallel_size)?;
        let setup = &decode_engine.setup;
        let layout = KvLayout::whole_model(&setup.spec, &setup.deployment)
            .with_context(|| format!("cannot size the KV of {}", setup.label))?;
        let link = KvLink {
            bytes_per_token: layout.bytes_per_token(),
            bytes_per_second: (gbps * 1e9 / 8.0) as u64,
            latency,
        };
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Ok(Some(Disaggregated {
            prefill: prefill_engine,
            decode: decode_engine,
            pd: Disaggregation {
                prefill_instances: count(prefill),
                decode_instances: count(decode),
                link,
            },
        }))
    }
}

/// One instance's GPUs.
fn instance_gpus(e: &Engine) -> u64 {
    let p = &e.setup.deployment.parallel;
    p.tp * p.pp
}

/// An engine's step timer as `sim run` times steps (the roofline, or its calibration).
fn timer(engine: &Engine) -> MfuLogStepTimer {
    let timer = MfuLogStepTimer::new(engine.timer.clone(), None);
    match &engine.calibration {
        Some(c) => timer.with_calibration(c.model),
        None => timer,
    }
}

impl Disaggregated {
    /// GPUs over both pools.
    pub(crate) fn gpus(&self) -> u64 {
        self.pd.prefill_instances as u64 * instance_gpus(&self.prefill)
            + self.pd.decode_instances as u64 * instance_gpus(&self.decode)
    }

    /// Runs `workload` through the two pools in virtual time.
    pub(crate) fn run(
        &self,
        workload: &WorkloadConfig,
        events: &EventSink,
        cancel: &CancelToken,
        observer: &mut dyn profilemate_sim::EngineSink,
    ) -> Result<VirtualRun, PlanError> {
        let pool = |e: &Engine| PoolEngine {
            config: e.config.clone(),
            timer: timer(e),
        };
        run_disaggregated_with_events(
            workload,
            pool(&self.prefill),
            pool(&self.decode),
            &self.pd,
            &self.decode.setup.label,
            events,
            cancel,
            observer,
        )
    }

    /// States the pools, their GPUs and the link.
    pub(crate) fn describe(&self, out: &mut impl Write) -> std::io::Result<()> {
        let pd = &self.pd;
        let shape = |e: &Engine| {
            let p = &e.setup.deployment.parallel;
            format!("TP {} × PP {}", p.tp, p.pp)
        };
        writeln!(
            out,
            "Prefill/decode disaggregation: {} prefill instance(s) ({}) + {} decode instance(s) ({}), {} GPUs; each decode instance pulls KV over {:.0} Gb/s (+ {:.3} ms per pull), {} bytes per token; each pool behind vLLM's load balancer; the engine figures below are a decode instance's.",
            pd.prefill_instances,
            shape(&self.prefill),
            pd.decode_instances,
            shape(&self.decode),
            self.gpus(),
            pd.link.bytes_per_second as f64 * 8.0 / 1e9,
            pd.link.latency.as_secs_f64() * 1e3,
            pd.link.bytes_per_token,
        )
    }
}
