//! Provides [`run_virtual`], `sim run`: a `bench serve` workload sent to the simulated engine
//! in virtual time instead of over HTTP, measured and reported exactly as `bench serve`
//! reports a real server — a capacity plan in seconds.
//!
//! The phases mirror [`profilemate_bench::run()`]: the same [`profilemate_bench::Workload`] and schedule, a virtual
//! client ([`driver`]) in place of the HTTP dispatcher, the engine's token times converted
//! into the bench's [`ClientRequestRecord`]s ([`records`]), and the same [`Report`]. Step times come
//! from any [`StepTimer`]; [`profilemate_sim::RooflineStepTimer`] prices them on a GPU's roofline.
//! A `multi_turn` workload runs its sessions closed loop ([`sessions`]).

mod cluster;
mod disagg;
mod driver;
mod engine_view;
mod front_end;
mod records;
mod sessions;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::PlanError;
use profilemate_sim::{EngineConfig, EngineSink, Request, Simulation, StepTimer};

use profilemate_bench::BenchError;
use profilemate_bench::cancel::CancelToken;
use profilemate_bench::clock::Civil;
use profilemate_bench::config::WorkloadConfig;
use profilemate_bench::record::ClientRequestRecord;
use profilemate_bench::report::{Report, RpsChange, split_interrupted};
use profilemate_bench::run::{build_unsent_workload, report_settings};
use profilemate_bench::schedule::{Arrivals, rps_steps};
use profilemate_bench::tokenizer::WordTokenizer;
use profilemate_bench::workload::{
    ClientPrompt, SampleRequest, ScheduledSend, SessionPlan, SessionTurn,
};

pub use cluster::run_data_parallel_with_events;
pub use disagg::{Disaggregation, PoolEngine, run_disaggregated_with_events};
pub use driver::ClientDetail;
use driver::{Driven, Outgoing, Path, ProgressReporter, drive, drive_with};
use engine_view::EngineTotals;
pub use front_end::FrontEnd;
use profilemate_bench::event::EventSink;

/// The prefix of the sampled requests' ids (no request carries an id to the engine; `bench
/// serve`'s default prefix, without its random part).
const REQUEST_ID_PREFIX: &str = "bench-";

/// A finished virtual run: the report and what the engine did.
#[derive(Debug, Clone)]
pub struct VirtualRun {
    /// The same report `bench serve` produces; durations are virtual time.
    pub report: Report,
    /// Engine steps simulated.
    pub num_steps: u64,
}

/// Runs `workload` against a simulated engine with `engine` settings and step times from
/// `timer`; `model_id` names the model (and the tokenizer) in the report.
///
/// There is no endpoint: requests go straight to the engine, shaped for the workload's backend,
/// and run to their `max_tokens`, as with `ignore_eos`.
pub fn run_virtual<T: StepTimer>(
    workload: &WorkloadConfig,
    engine: EngineConfig,
    timer: T,
    model_id: &str,
) -> Result<VirtualRun, PlanError> {
    run_virtual_with_events(
        workload,
        engine,
        timer,
        model_id,
        &EventSink::discard(),
        &CancelToken::never(),
        &mut (),
    )
}

/// [`run_virtual`], emitting [`profilemate_bench::Event::Started`], [`profilemate_bench::Event::VirtualProgress`] (at
/// most every [`profilemate_bench::event::VIRTUAL_PROGRESS_EVERY`] of wall time, checked every few hundred
/// engine steps so the virtual run stays fast) and [`profilemate_bench::Event::Finished`] to `events`.
///
/// When `cancel` is cancelled (stop or abort alike: virtual time has nothing to wait for) the
/// simulation stops at once: requests finished are reported, those in the engine count as
/// interrupted, the rest as not sent, and the report is marked interrupted.
///
/// `observer` sees every engine event too (e.g. a
/// [`VirtualLog`](profilemate_sim::vllm_log::VirtualLog) writing the engine's vLLM log);
/// `&mut ()` for none.
pub fn run_virtual_with_events<T: StepTimer>(
    workload: &WorkloadConfig,
    engine: EngineConfig,
    timer: T,
    model_id: &str,
    events: &EventSink,
    cancel: &CancelToken,
    observer: &mut dyn EngineSink,
) -> Result<VirtualRun, PlanError> {
    let through = Through {
        engine,
        timer,
        front_end: FrontEnd::default(),
        detail: ClientDetail::default(),
    };
    run_virtual_through(workload, through, model_id, events, cancel, observer)
}

/// An engine, the front end in front of it, and what the client keeps of each stream.
#[derive(Debug, Clone)]
pub struct Through<T> {
    /// Engine settings.
    pub engine: EngineConfig,
    /// Its step timer.
    pub timer: T,
    /// The API server between the client and the engine.
    pub front_end: FrontEnd,
    /// What the virtual client keeps of each stream (every chunk, unless a search needs less).
    pub detail: ClientDetail,
}

/// [`run_virtual_with_events`] with a [`FrontEnd`] between the client and the engine: every
/// request reaches the engine the front end's delay after it leaves the client, and is timed
/// from the client's side.
pub fn run_virtual_through<T: StepTimer>(
    workload: &WorkloadConfig,
    through: Through<T>,
    model_id: &str,
    events: &EventSink,
    cancel: &CancelToken,
    observer: &mut dyn EngineSink,
) -> Result<VirtualRun, PlanError> {
    let Through {
        engine,
        timer,
        front_end,
        detail,
    } = through;
    let path = Path {
        max_concurrency: workload.max_concurrency,
        front_end,
        detail,
    };
    let Prepared {
        outgoing,
        schedule,
        sessions: plan,
        tokenizer,
    } = prepare(workload)?;
    let mut sim = Simulation::new(engine, timer)?;
    sim.record_token_times(false);
    let total = plan.as_ref().map_or(outgoing.len(), |p| p.total_turns());
    let progress = ProgressReporter::new(events.clone(), total);
    let (driven, tags) = match plan.as_deref() {
        None => {
            let driven = drive(
                &mut sim,
                outgoing,
                path,
                Some(progress),
                Some(cancel.clone()),
                observer,
            );
            (driven, None)
        }
        Some(plan) => {
            // `outgoing` keeps the schedule's order: the i-th opens session schedule[i].index.
            let first = outgoing.into_iter().zip(schedule.iter().map(|s| s.index));
            let (driven, keys) = drive_with(
                &mut sim,
                first.collect(),
                path,
                Some(progress),
                Some(cancel.clone()),
                observer,
                &mut sessions::Sessions::new(plan, workload.duration, tokenizer),
            );
            (driven, Some(sessions::tags(&keys)))
        }
    };
    let sessions = plan.as_deref().zip(tags.as_deref());
    let report = assemble(
        workload,
        model_id,
        &schedule,
        &driven,
        sim.records(),
        sessions,
    );
    let num_steps = driven.sink.num_steps;
    Ok(VirtualRun { report, num_steps })
}

/// One request of a recorded run to replay: its send offset, prompt and output lengths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordedSend {
    /// When the client sent it, from the first send.
    pub send_at: Duration,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Output tokens (run to that length, as with `ignore_eos`).
    pub output_tokens: u32,
}

/// Replays a recorded run's requests through `through` in send order: open loop at their send
/// times, or, with `max_concurrency`, closed loop as the client ran it (the first ones at
/// their send times, each later one when a slot frees). Returns the client's records in send
/// order; `observer` sees every engine event (`&mut ()` for none).
pub fn replay_sends<T: StepTimer>(
    sends: &[RecordedSend],
    max_concurrency: Option<usize>,
    through: Through<T>,
    observer: &mut dyn EngineSink,
) -> Result<Vec<ClientRequestRecord>, PlanError> {
    let mut sim = Simulation::new(through.engine, through.timer)?;
    sim.record_token_times(false);
    let outgoing = sends
        .iter()
        .map(|s| Outgoing {
            send_at: s.send_at,
            request: Request::synthetic(s.send_at, s.prompt_tokens, s.output_tokens),
        })
        .collect();
    let path = Path {
        max_concurrency,
        front_end: through.front_end,
        detail: through.detail,
    };
    let driven = drive(&mut sim, outgoing, path, None, None, observer);
    Ok(client_records(&driven, sim.records(), None))
}

/// The report of a driven run, built as `bench serve` builds it; `sessions` holds a
/// `multi_turn` run's plan and each dispatched request's session and turn.
fn assemble(
    workload: &WorkloadConfig,
    model_id: &str,
    schedule: &[ScheduledSend],
    driven: &Driven,
    engine: &[profilemate_sim::EngineRequestRecord],
    sessions: Option<(&SessionPlan, &[SessionTurn])>,
) -> Report {
    let records = client_records(driven, engine, sessions.map(|(_, t)| t));
    let mut report = report_of(
        workload,
        model_id,
        schedule,
        records,
        driven.sink.stopped,
        &driven.sink.engine,
    );
    if let Some((plan, tags)) = sessions {
        let record_of = |pos: usize| match driven.sent[pos].outcome {
            driver::Outcome::Engine(id) => engine.get(id.0 as usize),
            _ => None,
        };
        let (stats, unsent) = sessions::stats(plan, &driven.sent, tags, record_of);
        report.not_sent = unsent;
        report.sessions = Some(stats);
    }
    report
}

/// What every virtual driver starts from: the workload's requests in send order (cut at
/// `--duration`), the schedule they came from, a `multi_turn` run's session plan, and the
/// tokenizer the prompts were drawn with (its later turns are drawn with it too).
struct Prepared {
    outgoing: Vec<Outgoing>,
    schedule: Vec<ScheduledSend>,
    sessions: Option<std::sync::Arc<SessionPlan>>,
    tokenizer: std::sync::Arc<WordTokenizer>,
}

/// Validates and samples `workload` (over its `prompt_vocab`, else the word tokenizer's
/// default vocabulary) and schedules its requests.
fn prepare(workload: &WorkloadConfig) -> Result<Prepared, PlanError> {
    workload.validate().map_err(BenchError::from)?;
    let vocab = workload
        .prompt_vocab
        .unwrap_or(WordTokenizer::DEFAULT_VOCAB);
    let tokenizer = WordTokenizer::shared(vocab);
    let samples = build_unsent_workload(workload, REQUEST_ID_PREFIX, Some(&*tokenizer))?;
    let schedule = samples.schedule().map_err(BenchError::from)?;
    let sessions = samples.sessions.clone();
    let outgoing = outgoing(samples.requests, &schedule, workload.duration);
    Ok(Prepared {
        outgoing,
        schedule,
        sessions,
        tokenizer,
    })
}

/// The report of the client's `records` (in dispatch order), built as `bench serve` builds
/// it: duration from the first send to the last token (vLLM's `benchmark_duration`), the
/// requests cut by a stop set apart, and the engines' counters as the server's view.
fn report_of(
    workload: &WorkloadConfig,
    model_id: &str,
    schedule: &[ScheduledSend],
    records: Vec<ClientRequestRecord>,
    stopped: bool,
    engines: &EngineTotals,
) -> Report {
    let duration = records
        .iter()
        .map(|r| r.start_time + r.latency)
        .fold(0.0, f64::max);
    let sent = records.len();
    let (records, cut) = split_interrupted(records);
    // The virtual client tokenizes with the model's (word) tokenizer, as `bench serve` does
    // without --tokenizer.
    let settings = report_settings(workload, model_id.to_string(), Some(model_id.to_string()));
    let tokenizer = WordTokenizer::shared(WordTokenizer::DEFAULT_VOCAB);
    let date = Civil::now().compact();
    let mut report = Report::new(settings, records, duration, Some(&*tokenizer), date);
    report.not_sent = schedule.len().saturating_sub(sent);
    report.interrupted = stopped;
    report.interrupted_requests = cut;
    report.rps_change_events = rps_change_events(workload.arrivals, schedule);
    report.server = Some(engines.server_view());
    report
}

/// The engine requests in send order, cut at `--duration`.
fn outgoing(
    samples: Vec<SampleRequest>,
    schedule: &[ScheduledSend],
    window: Option<Duration>,
) -> Vec<Outgoing> {
    let mut samples: Vec<Option<SampleRequest>> = samples.into_iter().map(Some).collect();
    let in_window = |s: &&ScheduledSend| window.is_none_or(|w| s.send_at < w);
    schedule
        .iter()
        .take_while(in_window)
        .filter_map(|s| {
            let sample = samples.get_mut(s.index)?.take()?;
            let request = engine_request(sample, s.send_at);
            Some(Outgoing {
                send_at: s.send_at,
                request,
            })
        })
        .collect()
}

/// A sample as the engine receives it: token ids as they are, a text prompt tokenized as the
/// simulated server tokenizes it ([`Request::from_text`], so shared text prefixes hit the
/// prefix cache as they do against `sim serve`), other prompts by length only.
fn engine_request(sample: SampleRequest, arrival: Duration) -> Request {
    let max_tokens = u32::try_from(sample.expected_output_len).unwrap_or(u32::MAX);
    match sample.prompt {
        ClientPrompt::TokenIds(ids) => Request::from_tokens(arrival, ids, max_tokens),
        ClientPrompt::CountingIds(ids) => Request::from_counting_ids(arrival, ids, max_tokens),
        ClientPrompt::Text(text) => Request::from_text(arrival, [text.as_str()], max_tokens),
        ClientPrompt::Batch(_) | ClientPrompt::Parts(_) | ClientPrompt::Messages(_) => {
            let len = u32::try_from(sample.prompt_len).unwrap_or(u32::MAX);
            Request::synthetic(arrival, len, max_tokens)
        }
    }
}

/// The client's records in dispatch order, each tagged with its session and turn if any.
fn client_records(
    driven: &Driven,
    engine: &[profilemate_sim::EngineRequestRecord],
    tags: Option<&[SessionTurn]>,
) -> Vec<ClientRequestRecord> {
    let streams = &driven.sink.streams;
    let tag = |pos: usize| tags.and_then(|t| t.get(pos)).copied();
    driven
        .sent
        .iter()
        .enumerate()
        .filter_map(|(pos, s)| {
            let mut record = records::client_record(s, engine, streams)?;
            record.session = tag(pos);
            Some(record)
        })
        .collect()
}

/// Ramp-up rate changes, stamped at the wall time their request would be sent from now.
fn rps_change_events(arrivals: Arrivals, schedule: &[ScheduledSend]) -> Vec<RpsChange> {
    let Arrivals::Rate {
        ramp_up: Some(ramp),
        ..
    } = arrivals
    else {
        return Vec::new();
    };
    let rates: Vec<f64> = schedule.iter().map(|s| s.rate).collect();
    let t0 = SystemTime::now();
    rps_steps(ramp, &rates)
        .into_iter()
        .map(|(pos, rps)| {
            let at = schedule.get(pos).map_or(Duration::ZERO, |s| s.send_at);
            RpsChange {
                rps,
                timestamp: civil(t0.checked_add(at).unwrap_or(t0)).iso(),
            }
        })
        .collect()
}

fn civil(t: SystemTime) -> Civil {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    Civil::from_unix(d.as_secs() as i64, d.subsec_micros())
}
