//! Prefill/decode disaggregation in one engine (vLLM 0.32's NIXL connector, pull mode): a
//! remotely prefilled request waits for its KV pull (`WAITING_FOR_REMOTE_KVS`), the pulls
//! share the instance's link one at a time, the last prompt token is recomputed; a prefill
//! for a decode instance keeps its blocks until they are released.
//!
//! Every scenario uses 10 ms steps and a link moving 1 000 bytes per token at 1 MB/s (1 ms
//! per token) with 5 ms latency per pull.

use std::time::Duration;

use profilemate_sim::{
    ConstantStepTimer, EngineConfig, EngineRequestRecord, EngineSink, KvLink, KvTransfer, Request,
    Simulation, StepRecord,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn link(bytes_per_second: u64) -> KvLink {
    KvLink {
        bytes_per_token: 1_000,
        bytes_per_second,
        latency: ms(5),
    }
}

fn sim() -> Simulation<ConstantStepTimer> {
    let config = EngineConfig {
        num_gpu_blocks: 1_000,
        max_model_len: 4_096,
        async_scheduling: false,
        enable_prefix_caching: false,
        ..Default::default()
    };
    Simulation::new(config, ConstantStepTimer(ms(10))).unwrap()
}

/// Keeps every step.
#[derive(Default)]
struct Steps(Vec<StepRecord>);

impl EngineSink for Steps {
    fn on_step(&mut self, step: &StepRecord) {
        self.0.push(step.clone());
    }

    fn on_request_finished(&mut self, _record: &EngineRequestRecord) {}
}

fn remote(at: u64, prompt: u32, max_tokens: u32, link: KvLink) -> Request {
    Request::synthetic(ms(at), prompt, max_tokens).with_kv_transfer(KvTransfer::RemotePrefill(link))
}

#[test]
fn a_remote_prefill_waits_for_its_pull_then_computes_one_token() {
    let mut sim = sim();
    sim.add_request(remote(0, 100, 3, link(1_000_000))).unwrap();
    let mut steps = Steps::default();
    sim.run(&mut steps);
    let r = &sim.records()[0];
    // The pull: 100 tokens × 1 ms + 5 ms = 105 ms; then one 10 ms step recomputes the last
    // prompt token and samples the first output token.
    assert_eq!(r.first_scheduled, Some(ms(105)));
    assert_eq!(r.first_token, Some(ms(115)));
    assert_eq!(r.finished, Some(ms(135)));
    assert_eq!(steps.0[0].start, ms(105));
    assert_eq!(steps.0[0].num_scheduled_tokens, 1);
    assert_eq!(steps.0.len(), 3);
    assert_eq!(sim.num_block_holders(), 0);
    let id = r.id;
    assert_eq!(sim.take_landed_kv_pulls(), vec![(id, ms(105))]);
    assert!(sim.take_landed_kv_pulls().is_empty());
}

#[test]
fn pull_time_scales_with_bandwidth() {
    let first_token = |bytes_per_second: u64| {
        let mut sim = sim();
        sim.add_request(remote(0, 400, 1, link(bytes_per_second)))
            .unwrap();
        sim.run(&mut Steps::default());
        sim.records()[0].first_token.unwrap()
    };
    // 400 KB at 1, 2 and 4 MB/s, + 5 ms latency + one 10 ms step.
    assert_eq!(first_token(1_000_000), ms(415));
    assert_eq!(first_token(2_000_000), ms(215));
    assert_eq!(first_token(4_000_000), ms(115));
}

#[test]
fn pulls_share_the_link_one_at_a_time() {
    let mut sim = sim();
    sim.add_request(remote(0, 100, 1, link(1_000_000))).unwrap();
    sim.add_request(remote(0, 50, 1, link(1_000_000))).unwrap();
    sim.run(&mut Steps::default());
    let r = sim.records();
    // Both admitted at 0: the first holds the link for 100 ms, the second starts after it
    // (150 ms) and lands 5 ms later; each then needs a 10 ms step.
    assert_eq!(r[0].first_token, Some(ms(115)));
    assert_eq!(r[1].first_scheduled, Some(ms(155)));
    assert_eq!(r[1].first_token, Some(ms(165)));
}

#[test]
fn a_prefill_for_a_decode_instance_holds_its_blocks_until_released() {
    let mut sim = sim();
    let free = sim.num_free_blocks();
    let id = sim
        .add_request(Request::synthetic(ms(0), 160, 1).with_kv_transfer(KvTransfer::RemoteDecode))
        .unwrap();
    sim.run_until(ms(50), &mut Steps::default());
    assert_eq!(sim.records()[0].finished, Some(ms(10)));
    // 160 prompt tokens in 16-token blocks: 10 blocks (+1 for the sampled token) held.
    assert_eq!(sim.num_block_holders(), 1);
    assert!(sim.num_free_blocks() < free);
    sim.release_held_kv(id, ms(70));
    sim.run_until(ms(60), &mut Steps::default());
    assert_eq!(sim.num_block_holders(), 1);
    sim.run(&mut Steps::default());
    assert_eq!(sim.num_block_holders(), 0);
    assert_eq!(sim.num_free_blocks(), free);
}

#[test]
fn a_plain_prefill_frees_its_blocks_at_once() {
    let mut sim = sim();
    sim.add_request(Request::synthetic(ms(0), 160, 1)).unwrap();
    sim.run_until(ms(50), &mut Steps::default());
    assert_eq!(sim.num_block_holders(), 0);
}
