//! SSE tokens per second served with `--time-scale 0`, measured by a purpose-built loopback
//! client (raw HTTP/1.1 over TCP, no JSON parsing) in the same process: the server's engine
//! thread, its Tokio workers and the client share the machine's cores.
//!
//! Run: `cargo bench -p profilemate-server --bench sse_throughput`. Divan reports items/s,
//! where one item is one streamed output token. With `--time-scale 0` the engine runs ahead of
//! slow readers and a chunk then carries every token not yet sent (as vLLM merges outputs a
//! slow consumer has not taken), so the bench also prints SSE events (chunks) per second and
//! tokens per event over all samples.

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use divan::Bencher;
use divan::counter::ItemsCount;
use profilemate_server::{EngineStepTimer, RunningServer, ServerConfig, TokenTiming, spawn};
use profilemate_sim::{AffineStepTimer, EngineConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// Output tokens per request.
const TOKENS: usize = 2000;

/// Events and tokens received, and time spent, over every sample of every argument.
static EVENTS: AtomicU64 = AtomicU64::new(0);
static TOKENS_SEEN: AtomicU64 = AtomicU64::new(0);
static NANOS: AtomicU64 = AtomicU64::new(0);

fn main() {
    divan::main();
    let (events, tokens) = (
        EVENTS.load(Ordering::Relaxed),
        TOKENS_SEEN.load(Ordering::Relaxed),
    );
    let secs = NANOS.load(Ordering::Relaxed) as f64 / 1e9;
    if events > 0 && secs > 0.0 {
        println!(
            "all samples: {tokens} tokens in {events} SSE events over {secs:.2} s: \
             {:.0} tokens/s, {:.0} events/s, {:.1} tokens/event",
            tokens as f64 / secs,
            events as f64 / secs,
            tokens as f64 / events as f64
        );
    }
}

/// Counts `data: ` event starts in a stream read in pieces.
#[derive(Default)]
struct EventCounter {
    carry: Vec<u8>,
    events: u64,
}

impl EventCounter {
    fn feed(&mut self, bytes: &[u8]) {
        self.carry.extend_from_slice(bytes);
        self.events += self.carry.windows(6).filter(|w| *w == b"data: ").count() as u64;
        let keep = self.carry.len().min(5);
        self.carry.drain(..self.carry.len() - keep);
    }
}

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
});

static SERVER: LazyLock<RunningServer> = LazyLock::new(|| {
    let mut config = ServerConfig::new("bench");
    config.engine = EngineConfig {
        max_num_seqs: 256,
        max_num_batched_tokens: 8192,
        num_gpu_blocks: 65_536,
        max_model_len: 4096,
        ..EngineConfig::default()
    };
    config.timing = TokenTiming::Engine(EngineStepTimer::Affine(AffineStepTimer {
        fixed: Duration::from_millis(5),
        per_token: Duration::from_micros(20),
        per_context_token: Duration::ZERO,
    }));
    config.time_scale = 0.0;
    RUNTIME.block_on(spawn(config)).expect("server starts")
});

/// One streamed completion of `TOKENS` tokens; returns the body bytes read.
async fn stream_one(addr: SocketAddr) -> usize {
    let body = format!(
        "{{\"prompt\":\"hello world\",\"max_tokens\":{TOKENS},\"stream\":true,\"ignore_eos\":true}}"
    );
    let request = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut socket = TcpStream::connect(addr).await.expect("connect");
    socket.write_all(request.as_bytes()).await.expect("send");
    let mut buf = vec![0_u8; 64 << 10];
    let (mut total, mut counter, mut tail) = (0, EventCounter::default(), Vec::new());
    loop {
        let n = socket.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        total += n;
        counter.feed(&buf[..n]);
        tail.extend_from_slice(&buf[..n]);
        tail.drain(..tail.len().saturating_sub(64));
    }
    assert!(
        String::from_utf8_lossy(&tail).contains("[DONE]"),
        "stream did not finish"
    );
    // Token events, without the final `[DONE]`.
    EVENTS.fetch_add(counter.events - 1, Ordering::Relaxed);
    TOKENS_SEEN.fetch_add(TOKENS as u64, Ordering::Relaxed);
    total
}

/// `streams` concurrent completions.
async fn stream_many(addr: SocketAddr, streams: usize) -> usize {
    let tasks: Vec<_> = (0..streams)
        .map(|_| tokio::spawn(stream_one(addr)))
        .collect();
    let mut bytes = 0;
    for t in tasks {
        bytes += t.await.expect("task");
    }
    bytes
}

#[divan::bench(args = [1, 16, 64, 256], sample_count = 5, sample_size = 1)]
fn sse_tokens(bencher: Bencher<'_, '_>, streams: usize) {
    let addr = SERVER.addr();
    bencher
        .counter(ItemsCount::new(streams * TOKENS))
        .bench(|| {
            let start = Instant::now();
            let bytes = RUNTIME.block_on(stream_many(addr, streams));
            NANOS.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
            bytes
        });
}
