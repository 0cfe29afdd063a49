//! Provides [`run`], the `bench serve` orchestrator: a list of named phases from configuration
//! to [`Report`]. Mirrors `main_async()` / `benchmark()` in vllm/benchmarks/serve.py, vLLM 0.32.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::client::Client;
use crate::clock::Civil;
use crate::config::{BenchConfig, WorkloadConfig};
use crate::dispatch::{DispatchOptions, Dispatched, dispatch};
use crate::error::BenchError;
use crate::event::{Event, EventSink};
use crate::metrics::connections::ConnectionStats;
use crate::probe::{Probe, probe_request};
use crate::report::{ProbeStats, Report, ReportSettings, split_interrupted};
use crate::schedule::Arrivals;
use crate::server_metrics::{ServerScrapes, read_scrape, server_view, spec_decode_stats};
use crate::tokenizer::{Tokenizer, WordTokenizer};
use crate::workload::{DatasetSpec, SampleOptions, Workload, load_samples, multi_turn};

/// vLLM's ready-check retry interval.
const READY_RETRY: Duration = Duration::from_secs(5);

/// Runs one benchmark against `config.endpoint.base_url` and returns its report (not yet written).
pub async fn run(
    config: &BenchConfig,
    events: &EventSink,
    cancel: &CancelToken,
) -> Result<Report, BenchError> {
    config.validate()?;
    let vocab = config
        .workload
        .prompt_vocab
        .unwrap_or(WordTokenizer::DEFAULT_VOCAB);
    let tokenizer: Option<Arc<dyn Tokenizer>> = (!config.endpoint.skip_tokenizer_init)
        .then(|| WordTokenizer::shared(vocab) as Arc<dyn Tokenizer>);
    let model = resolve_model(config, events, cancel).await?;
    let client = Arc::new(Client::new(config, &model, tokenizer.clone())?);
    let workload = Arc::new(build_workload(
        &config.workload,
        &config.endpoint.request_id_prefix,
        tokenizer.as_deref(),
    )?);
    let schedule = workload.schedule()?;
    ready_check(&client, &workload, config, events, cancel).await?;
    warmup(&client, &workload, config, events, cancel).await?;
    if cancel.is_cancelled() {
        return Err(BenchError::Interrupted);
    }
    let connects_before_run = open_connections(&client, config, events, cancel).await;
    events.message("Starting main benchmark run...");
    profile(&client, config, "/start_profile", events).await;
    announce_load(config, events);
    let before = scrape(&client, events, "before", cancel.cancelled()).await;
    if cancel.is_cancelled() {
        return Err(BenchError::Interrupted);
    }
    let opts = DispatchOptions {
        max_concurrency: config.workload.max_concurrency,
        duration: config.workload.duration,
        ramp_up: ramp_up(&config.workload),
        grace: config.endpoint.interrupt_grace,
        lora: true,
    };
    let probe = start_probe(&client, &workload, config, events, cancel);
    let dispatched = dispatch(client.clone(), workload, &schedule, opts, events, cancel).await;
    let probes = match probe {
        Some(p) => Some(p.finish().await),
        None => None,
    };
    // Every step from here on is bounded (--control-timeout-sec, a second Ctrl-C), so the
    // records reach the caller, who saves them.
    let after = scrape(&client, events, "after", cancel.aborted()).await;
    profile(&client, config, "/stop_profile", events).await;
    let mut report = assemble(
        config,
        model,
        dispatched,
        before,
        after,
        tokenizer.as_deref(),
    );
    report.connections = Some(ConnectionStats::new(
        !config.endpoint.cold_connections,
        &client.connect_times(),
        connects_before_run,
    ));
    report.probe = probes.as_deref().and_then(ProbeStats::new);
    Ok(report)
}

/// One `/metrics` scrape: its body and when it answered (monotonic and Unix clocks). It has
/// `--control-timeout-sec` to answer and ends early when `until` resolves (Ctrl-C); a scrape
/// that fails is a warning, and the report goes on without the server's view.
async fn scrape(
    client: &Client,
    events: &EventSink,
    when: &str,
    until: impl std::future::Future<Output = ()>,
) -> Option<(String, Instant, f64)> {
    let body = tokio::select! {
        r = client.get_text("/metrics") => r,
        () = until => Err("interrupted".to_string()),
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            events.emit(Event::Warning(format!(
                "/metrics scrape {when} the run failed: {e}; the report goes on without the server's view"
            )));
            return None;
        }
    };
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Some((body, Instant::now(), unix))
}

/// How many connections [`open_connections`] opens when `--max-concurrency` is not set: the
/// requests in flight are then bounded only by the arrivals, so the first this many (or
/// `--num-prompts`, if fewer) find a connection open; any beyond open their own, timed apart
/// all the same. (A server may close connections left idle, uvicorn after 5 s: a request that
/// finds its connection closed opens a new one, counted as opened during the run.)
pub const UNBOUNDED_WARM_CONNECTIONS: usize = 1024;

/// Before the timed run, opens the connections the run's requests will travel over, so no
/// request's TTFT includes a connect: min(--num-prompts, --max-concurrency), or
/// min(--num-prompts, [`UNBOUNDED_WARM_CONNECTIONS`]) without a limit. Skipped with
/// `--cold-connections` (vLLM's client connects inside each slot's first request). Returns how
/// many connects the client had made when the timed run began. Ctrl-C ends the opening (a
/// server that stops accepting leaves connects pending).
async fn open_connections(
    client: &Arc<Client>,
    config: &BenchConfig,
    events: &EventSink,
    cancel: &CancelToken,
) -> usize {
    let n = config
        .workload
        .max_concurrency
        .unwrap_or(UNBOUNDED_WARM_CONNECTIONS)
        .min(config.workload.num_prompts);
    if !config.endpoint.cold_connections && n > 0 {
        let start = Instant::now();
        let opened = tokio::select! {
            r = client.open_connections(n) => r,
            () = cancel.cancelled() => Err("interrupted".to_string()),
        };
        match opened {
            Ok(opened) => events.message(format!(
                "Opened {opened} connections before the timed run in {:.1} ms ({n} ready; --cold-connections to connect inside each request's TTFT, as vLLM does).",
                start.elapsed().as_secs_f64() * 1000.0
            )),
            Err(e) => events.emit(Event::Warning(format!(
                "could not open connections before the timed run: {e}"
            ))),
        }
    }
    client.connect_times().len()
}

/// `--profile`: POSTs `/start_profile` or `/stop_profile`, as `benchmark()` in
/// vllm/benchmarks/serve.py does, saying so on success; a failure is a warning (vLLM is silent).
/// vLLM stops the profiler after printing its table; here it is stopped right after the run's
/// closing `/metrics` scrape, since the table is printed by the caller.
async fn profile(client: &Client, config: &BenchConfig, path: &str, events: &EventSink) {
    if !config.endpoint.profile {
        return;
    }
    let (doing, done) = match path {
        "/start_profile" => ("Starting profiler...", "Profiler started"),
        _ => ("Stopping profiler...", "Profiler stopped"),
    };
    events.message(doing);
    match client.post_empty(path).await {
        Ok(()) => events.message(done),
        Err(e) => events.emit(Event::Warning(format!(
            "{path} failed: {e} (the server needs a profiler configured, e.g. vLLM's --profiler-config)"
        ))),
    }
}

/// `--probe-request-rate`: starts the probe loop beside the load, announcing it as vLLM does.
fn start_probe(
    client: &Arc<Client>,
    w: &Workload,
    config: &BenchConfig,
    events: &EventSink,
    cancel: &CancelToken,
) -> Option<Probe> {
    let first = w.requests.first()?;
    let probe = Probe::start(
        client.clone(),
        probe_request(first),
        config.endpoint.probe_request_rate,
        cancel.clone(),
    )?;
    events.message(format!(
        "Probe request rate: {} req/s",
        crate::output::json::py_str_float(config.endpoint.probe_request_rate)
    ));
    Some(probe)
}

/// `--model`, else the first model of `/v1/models` (its `root`, falling back to `id`), asked
/// within `--control-timeout-sec` (vLLM waits without end); Ctrl-C ends the wait.
async fn resolve_model(
    config: &BenchConfig,
    events: &EventSink,
    cancel: &CancelToken,
) -> Result<String, BenchError> {
    if let Some(m) = &config.endpoint.model {
        return Ok(m.clone());
    }
    events.message("Model not specified, fetching first model from server...");
    let url = format!("{}/v1/models", config.endpoint.base_url);
    let lookup = crate::client::within(
        config.endpoint.control_timeout,
        fetch_first_model(config, &url),
    );
    let id = tokio::select! {
        r = lookup => r.map_err(|reason| BenchError::Models { url: url.clone(), reason })?,
        () = cancel.cancelled() => return Err(BenchError::Interrupted),
    };
    events.message(format!("First model name: {id}"));
    Ok(id)
}

/// GETs `url` (`/v1/models`) and reads the first model's `root`, else its `id`.
async fn fetch_first_model(config: &BenchConfig, url: &str) -> Result<String, String> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let mut rb = http.get(url);
    if let Some(key) = &config.endpoint.api_key {
        rb = rb.bearer_auth(key);
    }
    let resp = rb
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
    let first = v
        .pointer("/data/0")
        .ok_or_else(|| "no models found on the server".to_string())?;
    let id = first
        .get("root")
        .or_else(|| first.get("id"))
        .and_then(serde_json::Value::as_str);
    Ok(id
        .ok_or_else(|| "the first model has no id".to_string())?
        .to_string())
}

/// Samples the workload's dataset, shaped for its backend, and pairs it with the arrival
/// process; each request's id is `request_id_prefix` and its index.
pub fn build_workload(
    workload: &WorkloadConfig,
    request_id_prefix: &str,
    tokenizer: Option<&dyn Tokenizer>,
) -> Result<Workload, BenchError> {
    build(workload, request_id_prefix, tokenizer, false)
}

/// [`build_workload`] for a client that never sends the prompts (the virtual client): the
/// random dataset's token ids stay [`ClientPrompt::CountingIds`](crate::workload::ClientPrompt),
/// a recipe of a few words instead of kilobytes per prompt. The same requests otherwise.
pub fn build_unsent_workload(
    workload: &WorkloadConfig,
    request_id_prefix: &str,
    tokenizer: Option<&dyn Tokenizer>,
) -> Result<Workload, BenchError> {
    build(workload, request_id_prefix, tokenizer, true)
}

fn build(
    workload: &WorkloadConfig,
    request_id_prefix: &str,
    tokenizer: Option<&dyn Tokenizer>,
    counting_ids: bool,
) -> Result<Workload, BenchError> {
    let fallback = WordTokenizer::shared(
        workload
            .prompt_vocab
            .unwrap_or(WordTokenizer::DEFAULT_VOCAB),
    );
    let opts = SampleOptions {
        num_prompts: workload.num_prompts,
        seed: workload.seed,
        request_id_prefix: request_id_prefix.to_string(),
        no_oversample: workload.no_oversample,
        disable_shuffle: workload.disable_shuffle,
        token_ids: workload.backend.takes_token_ids(),
        counting_ids,
    };
    let tok = tokenizer.unwrap_or(&*fallback);
    let requests = load_samples(&workload.dataset, &opts, tok)?;
    let sessions = match &workload.dataset {
        DatasetSpec::MultiTurn(spec) => Some(Arc::new(multi_turn::plan(spec, &opts, tok)?)),
        _ => None,
    };
    Ok(Workload {
        requests,
        arrivals: workload.arrivals,
        seed: workload.seed,
        sessions,
    })
}

/// `--ready-check-timeout-sec`: resend request 0 every 5 s until it succeeds, each try cut
/// at the deadline, so the check ends within the flag's seconds even when the server never
/// answers (vLLM's `wait_for_endpoint` in vllm/benchmarks/lib/ready_checker.py checks its
/// deadline only between tries, so a try that never answers waits without end); Ctrl-C ends it at once
/// ([`BenchError::Interrupted`]).
async fn ready_check(
    client: &Client,
    w: &Workload,
    config: &BenchConfig,
    events: &EventSink,
    cancel: &CancelToken,
) -> Result<(), BenchError> {
    events.message("Starting initial single prompt test run...");
    if config.endpoint.ready_check_timeout.is_zero() {
        events.message("Skipping endpoint ready check.");
        return Ok(());
    }
    let deadline = Instant::now() + config.endpoint.ready_check_timeout;
    // The last try's error, reported when the deadline passes (as vLLM reports it).
    let mut last_error = None;
    loop {
        let rec = tokio::select! {
            rec = client.send(&w.requests[0], cancel) => rec,
            () = tokio::time::sleep_until(deadline.into()) => {
                return Err(BenchError::NotReady(last_error.unwrap_or_else(|| format!(
                    "no successful answer within --ready-check-timeout-sec {}",
                    config.endpoint.ready_check_timeout.as_secs_f64()
                ))));
            }
            () = cancel.cancelled() => return Err(BenchError::Interrupted),
        };
        if rec.success {
            events.message("Initial test run completed.");
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if cancel.is_cancelled() {
            return Err(BenchError::Interrupted);
        }
        if left.is_zero() {
            return Err(BenchError::NotReady(rec.error));
        }
        last_error = Some(rec.error.clone());
        events.emit(Event::Warning(format!(
            "Endpoint is not ready. Error='{}'",
            rec.error.lines().last().unwrap_or("")
        )));
        tokio::select! {
            () = tokio::time::sleep(READY_RETRY.min(left)) => {}
            () = cancel.cancelled() => return Err(BenchError::Interrupted),
        }
    }
}

/// The warmup's deadline without `--ready-check-timeout-sec` or `--request-timeout`.
const WARMUP_DEADLINE: Duration = Duration::from_secs(600);

/// When the warmup must have finished: without `--request-timeout` (which bounds each of its
/// requests), within `--ready-check-timeout-sec` when set (the budget request 0 had to answer
/// in), else 600 s. vLLM 0.32 waits on warmups without end (aiohttp's 6-hour timeout).
fn warmup_deadline(config: &BenchConfig) -> Option<(Duration, &'static str)> {
    if config.endpoint.request_timeout.is_some() {
        return None;
    }
    if config.endpoint.ready_check_timeout.is_zero() {
        Some((
            WARMUP_DEADLINE,
            "the warmup deadline without --request-timeout",
        ))
    } else {
        Some((
            config.endpoint.ready_check_timeout,
            "--ready-check-timeout-sec",
        ))
    }
}

/// `--num-warmups`: N copies of request 0 under the concurrency limit; results discarded. A
/// warmup past its deadline ([`warmup_deadline`]) ends the run with
/// [`BenchError::WarmupTimeout`].
async fn warmup(
    client: &Arc<Client>,
    w: &Arc<Workload>,
    config: &BenchConfig,
    events: &EventSink,
    cancel: &CancelToken,
) -> Result<(), BenchError> {
    if config.endpoint.num_warmups == 0 {
        return Ok(());
    }
    events.message(format!(
        "Warming up with {} requests...",
        config.endpoint.num_warmups
    ));
    let warm = Arc::new(Workload {
        requests: vec![w.requests[0].clone(); config.endpoint.num_warmups],
        sessions: None,
        ..(**w).clone()
    });
    let schedule: Vec<_> = (0..config.endpoint.num_warmups)
        .map(|index| crate::workload::ScheduledSend {
            index,
            send_at: Duration::ZERO,
            rate: f64::INFINITY,
        })
        .collect();
    let opts = DispatchOptions {
        max_concurrency: config.workload.max_concurrency,
        grace: config.endpoint.interrupt_grace,
        ..Default::default()
    };
    let quiet = EventSink::discard();
    let warming = dispatch(client.clone(), warm, &schedule, opts, &quiet, cancel);
    match warmup_deadline(config) {
        None => drop(warming.await),
        Some((deadline, flag)) => {
            if tokio::time::timeout(deadline, warming).await.is_err() {
                return Err(BenchError::WarmupTimeout {
                    count: config.endpoint.num_warmups,
                    seconds: deadline.as_secs_f64(),
                    deadline: flag,
                });
            }
        }
    }
    events.message("Warmup run completed.");
    Ok(())
}

/// vLLM's load banner.
fn announce_load(config: &BenchConfig, events: &EventSink) {
    let Arrivals::Rate {
        request_rate,
        burstiness,
        ramp_up,
    } = config.workload.arrivals
    else {
        events.message("Self timing is set, using the timestamps from the trace file.");
        return;
    };
    match ramp_up {
        Some(r) => {
            let (start, end) = r.bounds();
            events.message(format!("Traffic ramp-up strategy: {}.", r.name()));
            events.message(format!(
                "Will increase RPS from {start} to {end} RPS over the duration of the benchmark."
            ));
        }
        None => events.message(format!(
            "Traffic request rate: {}",
            crate::output::json::py_str_float(request_rate)
        )),
    }
    let dist = if burstiness == 1.0 {
        "Poisson process"
    } else {
        "Gamma distribution"
    };
    events.message(format!(
        "Burstiness factor: {} ({dist})",
        crate::output::json::py_str_float(burstiness)
    ));
    let conc = config
        .workload
        .max_concurrency
        .map_or("None".to_string(), |c| c.to_string());
    events.message(format!("Maximum request concurrency: {conc}"));
}

fn ramp_up(workload: &WorkloadConfig) -> Option<crate::schedule::RampUp> {
    match workload.arrivals {
        Arrivals::Rate { ramp_up, .. } => ramp_up,
        Arrivals::SelfTimed => None,
    }
}

/// The report's echo of the settings: the workload's, the model's id and the tokenizer's
/// (`None` when the run had no client tokenizer, `--skip-tokenizer-init`).
pub fn report_settings(
    workload: &WorkloadConfig,
    model_id: String,
    tokenizer_id: Option<String>,
) -> ReportSettings {
    let (request_rate, burstiness) = match workload.arrivals {
        Arrivals::Rate {
            request_rate,
            burstiness,
            ..
        } => (request_rate, burstiness),
        Arrivals::SelfTimed => (f64::INFINITY, 1.0),
    };
    ReportSettings {
        backend: workload.backend,
        label: workload.output.label.clone(),
        has_tokenizer: tokenizer_id.is_some(),
        tokenizer_id,
        model_id,
        num_prompts: workload.num_prompts,
        metadata: workload.output.metadata.clone(),
        request_rate,
        burstiness,
        max_concurrency: workload.max_concurrency,
        ramp_up: ramp_up(workload),
        percentile_metrics: workload.selected_metrics(),
        percentiles: workload.percentiles.clone(),
        goodput: workload.goodput,
    }
}

fn assemble(
    config: &BenchConfig,
    model: String,
    d: Dispatched,
    before: Option<(String, Instant, f64)>,
    after: Option<(String, Instant, f64)>,
    tok: Option<&dyn Tokenizer>,
) -> Report {
    let e = &config.endpoint;
    let tokenizer_id =
        (!e.skip_tokenizer_init).then(|| e.tokenizer_id.clone().unwrap_or_else(|| model.clone()));
    let settings = report_settings(&config.workload, model, tokenizer_id);
    let (records, cut) = split_interrupted(d.records);
    let mut report = Report::new(settings, records, d.duration, tok, Civil::now().compact());
    report.rps_change_events = d.rps_change_events;
    report.not_sent = d.not_sent;
    report.sessions = d.sessions;
    report.interrupted = d.interrupted;
    report.interrupted_requests = cut;
    if let (Some((b_text, b_at, b_unix)), Some((a_text, a_at, a_unix))) = (before, after) {
        let (b, a) = (read_scrape(&b_text), read_scrape(&a_text));
        report.spec_decode = spec_decode_stats(&b, &a);
        report.server = Some(server_view(&b, &a, d.duration, config.endpoint.gpu));
        report.server_scrapes = Some(ServerScrapes {
            before: b_text,
            after: a_text,
            before_unix_s: b_unix,
            after_unix_s: a_unix,
            elapsed_s: a_at.duration_since(b_at).as_secs_f64(),
        });
    }
    report
}
