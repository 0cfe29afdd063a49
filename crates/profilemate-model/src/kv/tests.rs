//! KV sizing on the profiling guide's Llama-2-7B, an MLA model and sliding-window models.

use super::*;
use crate::dtype::{Dtype, KvCacheDtype};
use crate::hardware::presets::{A100_80GB, H100_SXM};
use crate::hf_config::HfConfig;
use crate::model::PerfModel;
use crate::parallel::ParallelConfig;
use crate::presets;
use crate::roofline::{Efficiency, Roofline};

const GIB: u64 = 1 << 30;

/// The guide's example: 32 layers, 32 KV heads, head dim 128, fp16.
fn llama2_7b() -> ModelSpec {
    let json = r#"{"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
        "num_key_value_heads": 32, "num_hidden_layers": 32, "intermediate_size": 11008,
        "vocab_size": 32000, "torch_dtype": "float16"}"#;
    ModelSpec::from_config(&HfConfig::from_json_str(json).unwrap())
}

fn config(max_model_len: u64, max_num_seqs: u64) -> KvSizingConfig {
    KvSizingConfig {
        gpu_memory_bytes: A100_80GB.memory_bytes,
        gpu_memory_utilization: 0.9,
        max_model_len,
        max_num_seqs,
        max_num_batched_tokens: 8192,
        weight_bytes: None,
        activation_reserve_bytes: Some(2 * GIB),
    }
}

#[test]
fn llama2_7b_matches_the_guides_formula_not_its_printout() {
    let spec = llama2_7b();
    let d = Deployment::new(Dtype::Float16);
    let layout = KvLayout::whole_model(&spec, &d).unwrap();
    // 2 (K and V) × 32 heads × 128 × 2 B × 32 layers = 524,288 B = 512 KiB per token.
    assert_eq!((layout.kind, layout.bytes_per_token()), ("MHA", 524_288));
    // 4096 tokens: 2 GiB per sequence (the guide's 64 MB is one layer: 2 GiB / 32).
    assert_eq!(layout.bytes_for_sequence(4096), 2 * u128::from(GIB));
    // 256 sequences: 512 GiB (the guide prints "64.00 GB").
    assert_eq!(layout.bytes_for_sequence(4096) * 256, 512 * u128::from(GIB));
}

#[test]
fn llama2_7b_capacity_on_an_a100_80gb() {
    let spec = llama2_7b();
    let d = Deployment::new(Dtype::Float16);
    let layout = KvLayout::per_gpu(&spec, &d).unwrap();
    let cap = KvCapacity::compute(&spec, &d, &layout, &config(4096, 256)).unwrap();
    // 6,738,149,376 parameters × 2 B.
    assert_eq!(cap.weight_bytes, 13_476_298_752);
    // 81,920 MiB × 0.9 = 77,309,411,328 B; minus weights and the 2 GiB reserve.
    assert_eq!(cap.budget_bytes, 77_309_411_328);
    assert_eq!(cap.kv_bytes, 61_685_628_928);
    assert_eq!(cap.tokens, 117_656); // 61,685,628,928 / 524,288, exactly (57.45 GiB)
    assert_eq!(cap.sequences_at(&layout, 4096), 28); // / 2 GiB = 28.7
    assert!((cap.max_len_sequences - 28.724).abs() < 1e-3);
}

#[test]
fn mla_caches_one_latent_per_token_replicated_over_tp() {
    let spec = presets::spec("deepseek-v2-lite").unwrap();
    let mut d = Deployment::new(Dtype::Bfloat16);
    let layout = KvLayout::whole_model(&spec, &d).unwrap();
    // (512 + 64) × 2 B = 1,152 B per layer; × 27 layers = 31,104 B.
    assert_eq!((layout.kind, layout.bytes_per_token()), ("MLA", 31_104));
    d.parallel = ParallelConfig::new(2, 1, 1, false).unwrap();
    assert_eq!(
        KvLayout::per_gpu(&spec, &d).unwrap().bytes_per_token(),
        31_104
    );
    d.kv_cache_dtype = "fp8_ds_mla".parse::<KvCacheDtype>().unwrap();
    // FlashMLA's FP8-with-scales row is 656 B.
    assert_eq!(
        KvLayout::whole_model(&spec, &d).unwrap().bytes_per_token(),
        656 * 27
    );
}

#[test]
fn sliding_layers_keep_only_the_window() {
    // Mistral-7B: every layer slides over 4,096 tokens; 2 × 8 × 128 × 2 B = 4,096 B per layer.
    let spec = presets::spec("mistral-7b").unwrap();
    let layout = KvLayout::whole_model(&spec, &Deployment::new(Dtype::Bfloat16)).unwrap();
    assert_eq!((layout.kind, layout.bytes_per_token()), ("GQA", 131_072));
    assert_eq!(layout.bytes_for_sequence(32_768), 131_072 * 4096);
    // gpt-oss-20b: 12 full + 12 sliding (window 128) layers of 2 × 8 × 64 × 2 = 2,048 B.
    let spec = presets::spec("gpt-oss-20b").unwrap();
    let layout = KvLayout::whole_model(&spec, &Deployment::new(Dtype::Bfloat16)).unwrap();
    assert_eq!((layout.full_layers, layout.sliding_layers), (12, 12));
    assert_eq!(
        layout.bytes_for_sequence(8192),
        12 * 8192 * 2048 + 12 * 128 * 2048
    );
}

#[test]
fn fp8_cache_halves_and_tp_splits_kv_heads_down_to_one() {
    let spec = presets::spec("llama-3.1-8b").unwrap();
    let mut d = Deployment::new(Dtype::Bfloat16);
    d.kv_cache_dtype = "fp8".parse::<KvCacheDtype>().unwrap();
    // 2 × 8 × 128 × 1 B × 32 = 65,536 B.
    assert_eq!(
        KvLayout::whole_model(&spec, &d).unwrap().bytes_per_token(),
        65_536
    );
    d.parallel = ParallelConfig::new(16, 1, 1, false).unwrap();
    // 8 KV heads over TP16: one (replicated) head per GPU.
    assert_eq!(
        KvLayout::per_gpu(&spec, &d).unwrap().bytes_per_token(),
        2 * 128 * 32
    );
}

#[test]
fn sweep_rows_scale_with_max_model_len() {
    let spec = llama2_7b();
    let d = Deployment::new(Dtype::Float16);
    let model = PerfModel::vllm_exact(&spec, &d).unwrap();
    let (whole, per_gpu) = (
        KvLayout::whole_model(&spec, &d).unwrap(),
        KvLayout::per_gpu(&spec, &d).unwrap(),
    );
    let cap = KvCapacity::compute(&spec, &d, &per_gpu, &config(4096, 256)).unwrap();
    let roofline = Roofline::new(H100_SXM, Efficiency::ideal());
    let rows = sweep(
        &model,
        &whole,
        &per_gpu,
        &cap,
        Some(&roofline),
        256,
        &[2048, 4096],
    );
    let (short, long) = (rows[0], rows[1]);
    assert_eq!(long.kv_bytes_for_max_num_seqs, 512 * u128::from(GIB));
    assert_eq!(long.decode_kv_read_per_request, 2 * u128::from(GIB));
    // vLLM: attn_qk = attn_av = 2 × 32 heads × 4096² × 128 × 32 layers.
    assert_eq!(
        long.prefill_attention_flops,
        2 * 2 * 32 * 4096 * 4096 * 128 * 32
    );
    assert_eq!(
        long.prefill_attention_flops,
        4 * short.prefill_attention_flops
    );
    assert_eq!(
        (
            short.max_concurrent_sequences,
            long.max_concurrent_sequences
        ),
        (57, 28)
    );
    assert_eq!(long.decode_batch, 28);
    assert!(long.decode_step_time.unwrap() > short.decode_step_time.unwrap() / 2);
}

/// Llama-3.1-70B in bf16 on one H100: 141.1 GB of weights against 77.0 GB usable.
#[test]
fn weights_that_do_not_fit_name_the_bytes_and_the_smallest_fitting_tp() {
    let spec = presets::spec("llama-3.1-70b").unwrap();
    let d = Deployment::new(Dtype::Bfloat16);
    let layout = KvLayout::per_gpu(&spec, &d).unwrap();
    let cfg = |max_model_len| KvSizingConfig {
        gpu_memory_bytes: H100_SXM.memory_bytes,
        max_model_len,
        activation_reserve_bytes: None,
        ..config(max_model_len, 256)
    };
    let err = KvCapacity::compute(&spec, &d, &layout, &cfg(131_072)).unwrap_err();
    let ModelError::DoesNotFit(fit) = &err else {
        panic!("{err}")
    };
    assert_eq!(fit.weight_bytes, weight_bytes(&spec, &d).1);
    assert!(fit.weight_bytes > 140_000_000_000, "{}", fit.weight_bytes);
    assert_eq!(
        fit.usable_bytes,
        (H100_SXM.memory_bytes as f64 * 0.9) as u64
    );
    assert_eq!(fit.kv_bytes, 0);
    // TP 2 holds the weights but not the 20 GiB of KV a 131072-token sequence takes per GPU
    // (80 layers × 8 KV heads × 128 × 2 × 2 B / 2 GPUs = 160 KiB per token); TP 4 does.
    assert_eq!(fit.smallest_tp, Some(4));
    let text = err.to_string();
    assert!(
        text.contains(&format!("({} B)", fit.weight_bytes))
            && text.contains(&format!("({} B =", fit.usable_bytes))
            && text.contains("--tensor-parallel-size 4"),
        "{text}"
    );
    // With short sequences, TP 2 is enough.
    assert_eq!(smallest_fitting_tp(&spec, &d, &cfg(8192)), Some(2));
    // A figure for the weights cannot be scaled by TP: no TP is suggested.
    let given = KvSizingConfig {
        weight_bytes: Some(100 * GIB),
        ..cfg(8192)
    };
    let err = KvCapacity::compute(&spec, &d, &layout, &given).unwrap_err();
    assert!(err.to_string().contains("lower --weights-gib"), "{err}");
}
