//! The MFU log line and the debug aggregation over real steps (the path that raises
//! `TypeError` in vLLM 0.32 works here).

use std::time::Duration;

use profilemate_model::logging::MfuAccumulator;
use profilemate_model::{
    Deployment, Dtype, ExecutionContext, PerfModel, StepInput, StepRequest, presets,
};
use serde_json::Value;

#[test]
fn debug_details_sum_breakdowns_and_context_over_steps() {
    let model = PerfModel::vllm_exact(
        &presets::spec("llama-3.1-8b").unwrap(),
        &Deployment::new(Dtype::Bfloat16),
    )
    .unwrap();
    let prefill = [StepRequest {
        num_computed_tokens: 0,
        num_scheduled_tokens: 2048,
    }];
    let decodes = [StepRequest {
        num_computed_tokens: 2048,
        num_scheduled_tokens: 1,
    }; 4];
    let steps = [
        StepInput {
            new_requests: &prefill,
            cached_requests: &[],
        },
        StepInput {
            new_requests: &[],
            cached_requests: &decodes,
        },
    ];
    let mut ctx = ExecutionContext::new();
    let mut acc = MfuAccumulator::new(true);
    let mut flops = 0u128;
    let mut bytes = 0u128;
    for step in &steps {
        let stats = model.step_perf_stats(step, &mut ctx, true);
        flops += stats.num_flops_per_gpu;
        bytes += stats.num_read_bytes_per_gpu + stats.num_write_bytes_per_gpu;
        acc.observe(&stats);
    }
    let lines = acc.log("Engine 000: ", Duration::from_secs(10)).unwrap();
    let expected_line = format!(
        "Engine 000: MFU: {:.1} TF/s/device {:.1} GB/s/device",
        flops as f64 / 10.0 / 1e12,
        bytes as f64 / 10.0 / 1e9
    );
    assert_eq!(lines[0], expected_line);
    let json = lines[1].strip_prefix("Engine 000: MFU details: ").unwrap();
    assert!(
        json.starts_with("{\n  \"prefill_reqs\": 1,\n  \"decode_reqs\": 4,"),
        "{json}"
    );
    let doc: Value = serde_json::from_str(json).unwrap();
    assert_eq!(doc["num_batches"], 2);
    assert_eq!(doc["context_breakdown"]["prefill_num_tokens"], 2048);
    assert_eq!(doc["context_breakdown"]["decode_context_len"], 4 * 2049);
    assert_eq!(
        doc["context_breakdown"]["decode_token_context_product"],
        4 * 2049
    );
    // attn.attn_qk: 2·32·2048·2048·128·32 (prefill) + 2·32·(4·2049)·128·32 (decodes) = 1.1 TF.
    assert_eq!(doc["flops_breakdown"]["attn.attn_qk"], "1.1TF");
    assert_eq!(doc["duration"], "10.0s");
    assert!(doc["mfu_calc_overhead"].as_str().unwrap().ends_with('%'));
}
