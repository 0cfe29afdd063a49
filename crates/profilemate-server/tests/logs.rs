//! The logs the server writes parse back with the same readers as vLLM's logs.

use std::time::Duration;

use profilemate_server::{MemoryLog, spawn};
use profilemate_sim::{IterationLine, StatsLine};
use serde_json::json;

use crate::util::fast_config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iteration_lines_parse_back_into_the_engine_steps() {
    let log = MemoryLog::new();
    let mut config = fast_config();
    config.engine.enable_prefix_caching = false;
    config.logging.target = Some(log.target());
    config.logging.iteration_details = true;
    config.logging.cudagraph_metrics = true;
    config.logging.stats_interval = Duration::from_millis(50);
    let server = spawn(config).await.unwrap();
    let url = format!("{}/v1/completions", server.base_url());
    let client = reqwest::Client::new();
    let (prompt_words, max_tokens, n) = (30_u64, 12_u64, 40_u64);
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let body =
                json!({"prompt": "word ".repeat(prompt_words as usize), "max_tokens": max_tokens});
            let request = client.post(&url).json(&body).send();
            tokio::spawn(async move { request.await.unwrap().status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    tokio::time::sleep(Duration::from_millis(120)).await;
    let steps = server.state().engine_status().steps;
    server.shutdown().await.unwrap();
    let text = log.contents();
    let lines: Vec<IterationLine> = text.lines().filter_map(IterationLine::find_in).collect();
    assert_eq!(lines.len() as u64, steps);
    assert!(lines.iter().enumerate().all(|(i, l)| l.index == i as u64));
    let ctx: u64 = lines
        .iter()
        .map(|l| u64::from(l.counts.num_ctx_tokens))
        .sum();
    assert_eq!(ctx, n * prompt_words);
    let generation: u64 = lines
        .iter()
        .map(|l| u64::from(l.counts.num_generation_tokens))
        .sum();
    assert_eq!(generation, n * (max_tokens - 1));
    assert!(
        text.lines().any(|l| StatsLine::find_in(l).is_some()),
        "no stats line"
    );
    assert!(text.contains("[cuda_graph.py:123] | Unpadded Tokens | Padded Tokens"));
    assert!(text.lines().all(|l| l.starts_with("(APIServer pid=")));
}
