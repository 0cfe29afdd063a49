//! Provides [`Probe`]: `--probe-request-rate`, one-token probe requests sent beside the timed
//! load, outside `--max-concurrency`, whose latencies are reported apart.
//!
//! Mirrors `probe_loop()` in `benchmark()` of vllm/benchmarks/serve.py, vLLM 0.32: request 0
//! with prompt `"Hi"`, one prompt token and one output token, sent one at a time; after each
//! completes, wait `1 / rate` seconds; stop before the next send once the load has finished
//! (a probe in flight completes). One deliberate difference: the wait after the last probe is
//! cut short when the load finishes, and the benchmark duration never includes probes (vLLM
//! measures it after awaiting the probe task, so up to `1 / rate` s of waiting can land in it).
//! And a probe that finds every connection busy opens its own, as the flag's help promises
//! ("bypassing --max-concurrency"); vLLM's probes share the aiohttp connector, whose
//! `limit=max_concurrency` makes them wait for a free connection when every slot is busy.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cancel::CancelToken;
use crate::client::Client;
use crate::record::ClientRequestRecord;
use crate::workload::{ClientPrompt, SampleRequest};

/// A running probe loop.
#[derive(Debug)]
pub struct Probe {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<ClientRequestRecord>>,
}

/// vLLM's probe request: `replace(test_input, prompt="Hi", prompt_len=1, output_len=1, …)`.
pub fn probe_request(first: &SampleRequest) -> SampleRequest {
    SampleRequest {
        prompt: ClientPrompt::Text("Hi".into()),
        prompt_len: 1,
        expected_output_len: 1,
        request_id: String::new(),
        ..first.clone()
    }
}

impl Probe {
    /// Starts probing at `rate` requests per second; `None` unless `rate` is positive and finite.
    pub fn start(
        client: Arc<Client>,
        request: SampleRequest,
        rate: f64,
        cancel: CancelToken,
    ) -> Option<Self> {
        let interval = Duration::try_from_secs_f64(1.0 / rate).ok()?;
        if rate <= 0.0 {
            return None;
        }
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut records = Vec::new();
            while !*stopped.borrow() && !cancel.is_cancelled() {
                records.push(client.send(&request, &cancel).await);
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = stopped.changed() => {}
                }
            }
            records
        });
        Some(Self { stop, task })
    }

    /// Stops probing (a probe in flight completes) and returns every probe's record.
    pub async fn finish(self) -> Vec<ClientRequestRecord> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}
