//! Flag parity with `vllm bench serve` and the flag-to-config rules.

use clap::{CommandFactory, Parser};
use profilemate_bench::config::Backend;
use profilemate_bench::schedule::{Arrivals, RampUp};
use profilemate_bench::workload::DatasetSpec;

use super::ServeArgs;

/// vLLM 0.32's `bench serve` flags (see the file's header for how it was generated).
const VLLM_FLAGS: &str = include_str!("vllm_serve_flags.txt");

/// vLLM flags profilemate does not implement. Remove a flag from here when you add it.
const PYTHON_ONLY: &[&str] = &[];

/// profilemate's own flags, absent from vLLM.
const PROFILEMATE_ONLY: &[&str] = &[
    "--duration",
    "--request-timeout",
    "--gpu",
    "--interrupt-grace-sec",
    "--cold-connections",
    "--control-timeout-sec",
    "--multi-turn-turns",
    "--multi-turn-input-len",
    "--multi-turn-output-len",
    "--multi-turn-range-ratio",
    "--multi-turn-think-time",
    "--multi-turn-system-prompt-len",
];

#[derive(Debug, Parser)]
struct TestCli {
    #[command(flatten)]
    args: ServeArgs,
}

fn upstream() -> Vec<&'static str> {
    VLLM_FLAGS.lines().filter(|l| l.starts_with("--")).collect()
}

fn ours() -> Vec<String> {
    let cmd = TestCli::command();
    cmd.get_arguments()
        .flat_map(|a| {
            a.get_long()
                .into_iter()
                .chain(a.get_all_aliases().unwrap_or_default())
        })
        .map(|l| format!("--{l}"))
        .collect()
}

fn parse(line: &str) -> ServeArgs {
    let argv = std::iter::once("bench").chain(line.split_whitespace());
    TestCli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .args
}

#[test]
fn every_vllm_flag_is_accepted_or_allowlisted() {
    let ours = ours();
    let missing: Vec<&str> = upstream()
        .into_iter()
        .filter(|f| !ours.iter().any(|o| o == f) && !PYTHON_ONLY.contains(f))
        .collect();
    assert!(
        missing.is_empty(),
        "vLLM flags neither implemented nor in PYTHON_ONLY: {missing:?}. Add them to ServeArgs with vLLM's spelling (a clap alias is enough for renames), or allowlist them."
    );
}

#[test]
fn allowlists_are_not_stale() {
    let (ours, upstream) = (ours(), upstream());
    let stale: Vec<&&str> = PYTHON_ONLY
        .iter()
        .filter(|f| ours.iter().any(|o| o == *f) || !upstream.contains(f))
        .collect();
    assert!(
        stale.is_empty(),
        "remove from PYTHON_ONLY (now implemented, or not a vLLM flag): {stale:?}"
    );
    let extra: Vec<&String> = ours
        .iter()
        .filter(|o| !upstream.contains(&o.as_str()) && !PROFILEMATE_ONLY.contains(&o.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "flags that vLLM does not have; spell them as vLLM does or list them in PROFILEMATE_ONLY: {extra:?}"
    );
    assert_eq!(
        upstream.len(),
        102,
        "snapshot size changed; regenerate deliberately"
    );
}

#[test]
fn the_fixture_command_lines_parse_into_vllm_semantics() {
    let base = "--base-url http://127.0.0.1:18001 --model tiny-llama";
    let args = parse(&format!(
        "{base} --backend vllm --dataset-name random --random-input-len 128 --random-output-len 32 --num-prompts 40 --request-rate 4 --percentile-metrics ttft,tpot,itl,e2el --metric-percentiles 50,90,99 --goodput ttft:500 tpot:50"
    ));
    let c = args.to_config().unwrap();
    assert_eq!(c.workload.backend, Backend::Vllm);
    assert_eq!(c.api_url(), "http://127.0.0.1:18001/v1/completions");
    assert!(
        c.endpoint.ignore_eos,
        "vLLM forces ignore_eos for random on OpenAI-compatible backends"
    );
    assert_eq!(c.workload.percentiles, vec![50.0, 90.0, 99.0]);
    assert_eq!(
        (c.workload.goodput.ttft_ms, c.workload.goodput.tpot_ms),
        (Some(500.0), Some(50.0))
    );
    assert_eq!(
        c.workload.arrivals,
        Arrivals::Rate {
            request_rate: 4.0,
            burstiness: 1.0,
            ramp_up: None
        }
    );
    assert!(matches!(
        c.workload.dataset,
        DatasetSpec::Random {
            input_len: 128,
            output_len: 32,
            ..
        }
    ));
    let chat = parse(&format!(
        "{base} --backend openai-chat --endpoint /v1/chat/completions --max-concurrency 4 --temperature 0 --extra-body {{\"temperature\":0.5,\"seed\":1}}"
    ));
    let c = chat.to_config().unwrap();
    assert_eq!(
        (
            c.workload.max_concurrency,
            c.endpoint.extra_body["temperature"].as_f64()
        ),
        (Some(4), Some(0.5)),
        "--extra-body wins over sampling flags"
    );
    assert!(
        c.endpoint.request_id_prefix.starts_with("bench-")
            && c.endpoint.request_id_prefix.len() == 15
    );
}

#[test]
fn vllm_rules_reject_bad_combinations_with_actionable_messages() {
    let base = "--model m";
    let err = |line: &str| {
        parse(&format!("{base} {line}"))
            .to_config()
            .unwrap_err()
            .to_string()
            + &format!("{:?}", parse(&format!("{base} {line}")).to_config().err())
    };
    assert!(err("--backend openai-chat").contains("--endpoint"));
    assert!(
        err("--ramp-up-strategy linear --ramp-up-start-rps 1 --ramp-up-end-rps 4 --request-rate 3")
            .contains("remove the --request-rate")
    );
    assert!(err("--dataset-name random --dataset-path x.json").contains("Cannot use 'random'"));
    assert!(err("--self-timed").contains("timed_trace"));
    assert!(err("--goodput itl:5").contains("--goodput"));
    assert!(err("--gpu tpu9").contains("--gpu"));
    assert!(err("--max-concurrency 0").contains("greater than 0"));
    let ramp = parse(&format!(
        "{base} --ramp-up-strategy exponential --ramp-up-start-rps 2 --ramp-up-end-rps 8"
    ))
    .to_config()
    .unwrap();
    assert!(matches!(
        ramp.workload.arrivals,
        Arrivals::Rate {
            ramp_up: Some(RampUp::Exponential { start: 2, end: 8 }),
            ..
        }
    ));
    let custom = parse(&format!(
        "{base} --dataset-name custom --dataset-path d.jsonl --custom-output-len -1"
    ))
    .to_config()
    .unwrap();
    assert!(matches!(
        custom.workload.dataset,
        DatasetSpec::Custom {
            output_len: None,
            ..
        }
    ));
}

#[test]
fn dataset_flags_map_onto_vllms_dataset_parameters() {
    use profilemate_bench::workload::{BucketConfig, HfSpec, TurnsKind};
    let base = "--model m";
    let spec = |line: &str| {
        parse(&format!("{base} {line}"))
            .to_config()
            .unwrap()
            .workload
            .dataset
    };
    let DatasetSpec::Turns(speed) = spec(
        "--dataset-name speed_bench --dataset-path d --output-len 9 --speed-bench-dataset-subset throughput_8k --speed-bench-category coding",
    ) else {
        panic!("turns")
    };
    assert_eq!(
        (
            speed.kind,
            speed.subset.as_str(),
            speed.output_len,
            speed.category.as_deref()
        ),
        (TurnsKind::SpeedBench, "throughput_8k", 4096, Some("coding")),
        "--output-len does not reach speed_bench in vLLM's main_async"
    );
    let DatasetSpec::Turns(spec_bench) =
        spec("--dataset-name spec_bench --dataset-path q.jsonl --output-len 9")
    else {
        panic!("turns")
    };
    assert_eq!(spec_bench.output_len, 9);
    let dir = std::env::temp_dir();
    let DatasetSpec::Hf(hf) = spec(&format!(
        "--dataset-name hf --dataset-path {} --hf-name openai/gsm8k --hf-split train --hf-subset main --hf-output-len 5 --enable-multimodal-chat",
        dir.display()
    )) else {
        panic!("hf")
    };
    assert_eq!(
        hf,
        HfSpec {
            path: dir,
            hf_name: Some("openai/gsm8k".into()),
            subset: Some("main".into()),
            split: Some("train".into()),
            output_len: Some(5),
            multimodal_chat: true,
            blazedit_distance: (0.0, 1.0),
        }
    );
    let chat = "--backend openai-chat --endpoint /v1/chat/completions";
    let c = parse(&format!("{base} {chat} --dataset-name random-mm --random-mm-base-items-per-request 3 --random-mm-limit-mm-per-prompt {{\"image\":2}} --random-mm-bucket-config {{(8,8,1):1}}"))
        .to_config()
        .unwrap();
    assert!(
        c.endpoint.ignore_eos,
        "random-mm forces ignore_eos like random"
    );
    let DatasetSpec::RandomMm(mm) = c.workload.dataset else {
        panic!("random-mm")
    };
    assert_eq!(
        (
            mm.base_items_per_request,
            mm.limit_mm_per_prompt["image"],
            mm.bucket_config
        ),
        (3, 2, BucketConfig(vec![((8, 8, 1), 1.0)]))
    );
    let DatasetSpec::RandomRerank(rr) = spec(
        "--backend openai-embeddings --endpoint /v1/embeddings --dataset-name random-rerank --no-reranker --random-batch-size 4",
    ) else {
        panic!("rerank")
    };
    assert_eq!(
        (rr.is_reranker, rr.batch_size, rr.input_len),
        (false, 4, 1024)
    );
}

/// Token-id prompts are drawn over the vocabulary of the model `--tokenizer` (else `--model`)
/// names, as vLLM's client draws them over its tokenizer's; text prompts and models this tool
/// cannot read keep the built-in 2048 ids.
#[test]
fn token_id_prompts_are_drawn_over_the_named_models_vocabulary() {
    let vocab = |line: &str| parse(line).to_config().unwrap().workload.prompt_vocab;
    assert_eq!(vocab("--port 1 --model llama-3.1-8b"), Some(128_256));
    assert_eq!(vocab("--port 1 --model tiny-llama"), Some(2048));
    assert_eq!(
        vocab("--port 1 --model served-name --tokenizer llama-3.1-8b"),
        Some(128_256)
    );
    assert_eq!(vocab("--port 1 --model org/not-a-model-here"), None);
    assert_eq!(
        vocab(
            "--port 1 --model llama-3.1-8b --backend openai-chat --endpoint /v1/chat/completions"
        ),
        None
    );
    // The sampled ids span the model's vocabulary.
    let config = parse("--port 1 --model llama-3.1-8b --num-prompts 50")
        .to_config()
        .unwrap();
    let workload = profilemate_bench::run::build_workload(&config.workload, "r-", None).unwrap();
    let max_id = workload
        .requests
        .iter()
        .filter_map(|r| match &r.prompt {
            profilemate_bench::workload::ClientPrompt::TokenIds(ids) => ids.iter().max().copied(),
            _ => None,
        })
        .max()
        .unwrap();
    assert!((2048..128_256).contains(&max_id), "largest id {max_id}");
}
