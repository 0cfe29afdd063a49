//! Tests of the datasets read from the fixture files in `tests/data/datasets` (see its README).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;
use crate::tokenizer::WordTokenizer;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/datasets")
        .join(rel)
}

fn opts(n: usize) -> SampleOptions {
    SampleOptions {
        num_prompts: n,
        seed: 0,
        request_id_prefix: "r-".into(),
        no_oversample: false,
        disable_shuffle: true,
        token_ids: false,
        counting_ids: false,
    }
}

fn samples(spec: &DatasetSpec, o: &SampleOptions) -> Vec<SampleRequest> {
    load_samples(spec, o, &WordTokenizer::default()).unwrap()
}

fn err(spec: &DatasetSpec, o: &SampleOptions) -> String {
    load_samples(spec, o, &WordTokenizer::default())
        .unwrap_err()
        .to_string()
}

fn text(r: &SampleRequest) -> &str {
    match &r.prompt {
        ClientPrompt::Text(t) => t,
        other => panic!("expected text, got {other:?}"),
    }
}

#[test]
fn burstgpt_keeps_gpt4_rows_with_responses_and_builds_prompts_of_their_lengths() {
    let spec = DatasetSpec::BurstGpt {
        path: fixture("burstgpt.csv"),
    };
    let reqs = samples(
        &spec,
        &SampleOptions {
            token_ids: true,
            ..opts(3)
        },
    );
    let mut lens: Vec<(u64, u64)> = reqs
        .iter()
        .map(|r| (r.prompt_len, r.expected_output_len))
        .collect();
    lens.sort_unstable();
    assert_eq!(
        lens,
        vec![(6, 12), (20, 3), (1087, 230)],
        "ChatGPT and zero-response rows dropped"
    );
    for (i, r) in reqs.iter().enumerate() {
        let ClientPrompt::TokenIds(ids) = &r.prompt else {
            panic!("ids")
        };
        assert_eq!(ids.len() as u64, r.prompt_len);
        assert_eq!(
            &ids[..3],
            &[i as u32, i as u32 + 1, i as u32 + 2],
            "(i + j) % vocab"
        );
        assert_eq!(r.request_id, format!("r-{i}"));
    }
    let more = samples(&spec, &opts(7));
    assert_eq!(more.len(), 7, "drawn with replacement past the rows");
    assert!(
        more.iter()
            .all(|r| [12, 3, 230].contains(&r.expected_output_len))
    );
    assert_eq!(
        text(&more[1]).split_whitespace().next(),
        Some("b"),
        "decoded from id 1"
    );
}

#[test]
fn burstgpt_without_its_columns_says_so() {
    let e = err(
        &DatasetSpec::BurstGpt {
            path: fixture("hf/aimo.csv"),
        },
        &opts(1),
    );
    assert!(
        e.contains("\"Model\" column") && e.contains("aimo.csv:2"),
        "{e}"
    );
}

fn hf(path: &str, name: &str) -> HfSpec {
    HfSpec {
        path: fixture(path),
        hf_name: Some(name.into()),
        subset: None,
        split: None,
        output_len: None,
        multimodal_chat: false,
        blazedit_distance: (0.0, 1.0),
    }
}

#[test]
fn hf_instructcoder_builds_vllms_prompt_with_its_default_output_len() {
    let reqs = samples(
        &DatasetSpec::Hf(hf("hf/instructcoder", "likaixin/InstructCoder")),
        &opts(2),
    );
    assert_eq!(
        text(&reqs[0]),
        "def add(a, b):\n    return a - b\n\nFix the bug. Just output the code, do not include any explanation."
    );
    assert_eq!((reqs[0].prompt_len, reqs[0].expected_output_len), (19, 200));
    let fixed = HfSpec {
        output_len: Some(7),
        ..hf("hf/instructcoder", "likaixin/InstructCoder")
    };
    let ids = samples(
        &DatasetSpec::Hf(fixed),
        &SampleOptions {
            token_ids: true,
            ..opts(2)
        },
    );
    assert_eq!(ids[1].expected_output_len, 7);
    assert!(matches!(&ids[1].prompt, ClientPrompt::TokenIds(t) if t.len() == 16));
}

#[test]
fn hf_gsm8k_reads_the_main_subsets_test_split_by_default() {
    let reqs = samples(&DatasetSpec::Hf(hf("hf/gsm8k", "openai/gsm8k")), &opts(5));
    let mut prompts: Vec<&str> = reqs.iter().map(text).collect();
    prompts.sort_unstable();
    prompts.dedup();
    assert_eq!(
        prompts,
        vec![
            "Tom has 3 apples and buys 2 more. How many now?",
            "What is 7 times 6?"
        ]
    );
    assert_eq!(reqs.len(), 5, "oversampled to --num-prompts");
    assert!(reqs.iter().all(|r| r.expected_output_len == 256));
    let train = HfSpec {
        split: Some("train".into()),
        ..hf("hf/gsm8k", "openai/gsm8k")
    };
    assert_eq!(
        text(&samples(&DatasetSpec::Hf(train), &opts(1))[0]),
        "train split row"
    );
    let missing = HfSpec {
        split: Some("validation".into()),
        ..hf("hf/gsm8k", "openai/gsm8k")
    };
    assert!(err(&DatasetSpec::Hf(missing), &opts(1)).contains("found splits: test, train"));
}

#[test]
fn hf_conversations_take_two_turns_and_filter_like_sharegpt() {
    let spec = hf(
        "hf/sharegpt_vicuna.json",
        "Aeala/ShareGPT_Vicuna_unfiltered",
    );
    let o = SampleOptions {
        no_oversample: true,
        ..opts(5)
    };
    let reqs = samples(&DatasetSpec::Hf(spec.clone()), &o);
    assert_eq!(reqs.len(), 1, "one-turn and too-short rows skipped");
    assert_eq!(text(&reqs[0]), "Tell me a short story about a cat please");
    assert_eq!((reqs[0].prompt_len, reqs[0].expected_output_len), (9, 10));
    let fixed = HfSpec {
        output_len: Some(5),
        ..spec
    };
    let reqs = samples(&DatasetSpec::Hf(fixed), &o);
    assert_eq!(
        reqs.len(),
        2,
        "a fixed output length skips the validity check"
    );
    assert_eq!((text(&reqs[1]), reqs[1].expected_output_len), ("hi", 5));
}

#[test]
fn hf_text_classes_read_their_columns() {
    let mt = samples(
        &DatasetSpec::Hf(hf("hf/mt_bench.jsonl", "philschmid/mt-bench")),
        &opts(1),
    );
    assert_eq!(
        (text(&mt[0]), mt[0].expected_output_len),
        ("Compose a travel blog post about Hawaii.", 256)
    );
    let aimo = samples(
        &DatasetSpec::Hf(hf("hf/aimo.csv", "AI-MO/aimo-validation-aime")),
        &opts(1),
    );
    assert_eq!(
        (aimo[0].prompt_len, aimo[0].expected_output_len),
        (11, 13),
        "output = the solution's length"
    );
    let blaze = HfSpec {
        blazedit_distance: (0.1, 1.0),
        ..hf("hf/blazedit.jsonl", "vdaita/edit_5k_char")
    };
    let b = samples(
        &DatasetSpec::Hf(blaze),
        &SampleOptions {
            no_oversample: true,
            ..opts(5)
        },
    );
    assert_eq!(
        b.len(),
        1,
        "norm_distance 0.05 is below --blazedit-min-distance"
    );
    assert!(text(&b[0]).contains("```python\nprint(1)\n```\n\nChange request:\nprint 2 instead\n"));
    assert_eq!(b[0].expected_output_len, 4000);
}

#[test]
fn hf_vision_arena_attaches_its_image_and_chat_mode_builds_the_message() {
    let spec = hf("hf/vision_arena.jsonl", "lmarena-ai/VisionArena-Chat");
    let r = &samples(
        &DatasetSpec::Hf(spec.clone()),
        &SampleOptions {
            token_ids: true,
            ..opts(1)
        },
    )[0];
    assert_eq!(
        (text(r), r.prompt_len, r.expected_output_len),
        ("What is in this image?", 5, 128)
    );
    let image =
        json!({"type": "image_url", "image_url": {"url": "file://tests/data/datasets/red.png"}});
    assert_eq!(r.mm_content, vec![image.clone()]);
    let chat = HfSpec {
        multimodal_chat: true,
        ..spec
    };
    let r = &samples(&DatasetSpec::Hf(chat), &opts(1))[0];
    assert!(r.mm_content.is_empty());
    assert_eq!(
        r.prompt,
        ClientPrompt::Messages(vec![
            json!({"role": "user", "content": [{"type": "text", "text": "What is in this image?"}, image]})
        ])
    );
}

#[test]
fn hf_refuses_unknown_and_hub_only_classes_by_name() {
    let e = err(
        &DatasetSpec::Hf(hf("hf/mt_bench.jsonl", "org/unknown")),
        &opts(1),
    );
    assert!(
        e.contains("org/unknown") && e.contains("likaixin/InstructCoder"),
        "{e}"
    );
    let e = err(
        &DatasetSpec::Hf(hf("hf/mt_bench.jsonl", "openslr/librispeech_asr")),
        &opts(1),
    );
    assert!(e.contains("openai-audio"), "{e}");
}

fn custom_mm(kind: MediaKind, file: &str) -> CustomMmSpec {
    CustomMmSpec {
        kind,
        path: fixture(file),
        output_len: Some(16),
        multimodal_chat: false,
        ensure_client_side_data: false,
    }
}

#[test]
fn custom_image_sends_file_references_and_interleaved_parts() {
    let reqs = samples(
        &DatasetSpec::CustomMm(custom_mm(MediaKind::Image, "custom_image.jsonl")),
        &opts(2),
    );
    let red =
        json!({"type": "image_url", "image_url": {"url": "file://tests/data/datasets/red.png"}});
    assert_eq!(
        (
            text(&reqs[0]),
            reqs[0].prompt_len,
            reqs[0].expected_output_len
        ),
        ("Describe the two pixels.", 4, 16)
    );
    assert_eq!(reqs[0].mm_content, vec![red.clone()]);
    assert_eq!(
        reqs[1].prompt,
        ClientPrompt::Parts(vec![
            json!({"type": "text", "text": "Compare "}),
            red,
            json!({"type": "text", "text": "with this"}),
            json!({"type": "image_url", "image_url": {"url": "http://example.com/b.jpg", "detail": "low"}}),
        ])
    );
    assert_eq!(reqs[1].prompt_len, 3, "text parts only");
}

#[test]
fn custom_image_client_side_data_inlines_the_file() {
    let spec = CustomMmSpec {
        ensure_client_side_data: true,
        ..custom_mm(MediaKind::Image, "custom_image.jsonl")
    };
    // The paths in the fixture are relative to the crate, as vLLM reads them relative to the
    // working directory (cargo runs tests from the crate root).
    let reqs = samples(&DatasetSpec::CustomMm(spec.clone()), &opts(1));
    let png = std::fs::read(fixture("red.png")).unwrap();
    let url = format!("data:image/png;base64,{}", media::base64(&png));
    assert_eq!(
        reqs[0].mm_content[0]["image_url"]["url"],
        Value::String(url)
    );
    let e = err(&DatasetSpec::CustomMm(spec), &opts(2));
    assert!(
        e.contains("http://example.com/b.jpg") && e.contains("download"),
        "{e}"
    );
}

#[test]
fn custom_audio_sends_wav_input_audio_parts() {
    let spec = CustomMmSpec {
        multimodal_chat: true,
        output_len: None,
        ..custom_mm(MediaKind::Audio, "custom_audio.jsonl")
    };
    let reqs = samples(&DatasetSpec::CustomMm(spec.clone()), &opts(2));
    let wav = std::fs::read(fixture("tone.wav")).unwrap();
    assert_eq!(
        reqs[0].mm_content,
        vec![
            json!({"type": "input_audio", "input_audio": {"data": media::base64(&wav), "format": "wav"}})
        ]
    );
    assert_eq!(
        (
            text(&reqs[0]),
            reqs[0].prompt_len,
            reqs[0].expected_output_len
        ),
        ("Transcribe the audio.", 3, 17)
    );
    let data = reqs[1].mm_content[0]["input_audio"]["data"]
        .as_str()
        .unwrap();
    let made = media::wav_pcm16(1, 16_000, &[0, 0, 0, 0x40, 0, 0xC0, 0xFF, 0x7F]);
    assert_eq!(data, media::base64(&made), "[0, .5, -.5, 1] as 16-bit PCM");
    assert_eq!(reqs[1].expected_output_len, 9);
    let plain = CustomMmSpec {
        multimodal_chat: false,
        ..spec
    };
    assert!(err(&DatasetSpec::CustomMm(plain), &opts(1)).contains("--enable-multimodal-chat"));
}

fn turns(kind: TurnsKind, path: &str, category: Option<&str>) -> DatasetSpec {
    DatasetSpec::Turns(TurnsSpec {
        kind,
        path: fixture(path),
        subset: "qualitative".into(),
        category: category.map(str::to_string),
        output_len: 33,
    })
}

#[test]
fn spec_bench_takes_first_turns_filtered_by_category() {
    let o = SampleOptions {
        no_oversample: true,
        ..opts(10)
    };
    let all = samples(&turns(TurnsKind::SpecBench, "spec_bench.jsonl", None), &o);
    assert_eq!(
        all.iter().map(text).collect::<Vec<_>>(),
        vec![
            "Write a haiku about rust.",
            "What is two plus two?",
            "Write a limerick about tests."
        ]
    );
    let writing = samples(
        &turns(TurnsKind::SpecBench, "spec_bench.jsonl", Some("writing")),
        &o,
    );
    assert_eq!(writing.len(), 2);
    assert!(
        writing
            .iter()
            .all(|r| r.expected_output_len == 33 && text(r).starts_with("Write"))
    );
    let shuffled = |seed| {
        let o = SampleOptions {
            seed,
            disable_shuffle: false,
            ..o.clone()
        };
        samples(&turns(TurnsKind::SpecBench, "spec_bench.jsonl", None), &o)
            .iter()
            .map(|r| text(r).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        shuffled(0),
        shuffled(9),
        "vLLM shuffles spec_bench with seed 0 whatever --seed says"
    );
}

#[test]
fn speed_bench_reads_the_subset_file_of_its_directory() {
    let o = SampleOptions {
        no_oversample: true,
        ..opts(10)
    };
    let reqs = samples(
        &turns(TurnsKind::SpeedBench, "speed_bench", Some("coding")),
        &o,
    );
    assert_eq!(
        reqs.iter().map(text).collect::<Vec<_>>(),
        vec!["Write fizzbuzz in Rust."]
    );
    let DatasetSpec::Turns(mut t) = turns(TurnsKind::SpeedBench, "speed_bench", None) else {
        unreachable!()
    };
    t.subset = "throughput_1k".into();
    assert_eq!(
        text(&samples(&DatasetSpec::Turns(t), &o)[0]),
        "one k prompt"
    );
    let e = err(&turns(TurnsKind::SpeedBench, "spec_bench.jsonl", None), &o);
    assert!(
        e.contains("not a directory") && e.contains("prepare.py"),
        "{e}"
    );
}

fn random_mm(chat: bool) -> DatasetSpec {
    DatasetSpec::RandomMm(RandomMmSpec {
        input_len: 8,
        output_len: 4,
        range_ratio: RangeRatio::default(),
        prefix_len: 0,
        base_items_per_request: 2,
        num_mm_items_range_ratio: 0.0,
        limit_mm_per_prompt: default_limit_mm_per_prompt(),
        bucket_config: BucketConfig(vec![((2, 3, 1), 1.0), ((4, 4, 8), 0.0)]),
        multimodal_chat: chat,
    })
}

#[test]
fn random_mm_attaches_jpeg_images_of_the_bucket_size() {
    use base64::Engine;
    let reqs = samples(
        &random_mm(false),
        &SampleOptions {
            token_ids: true,
            ..opts(3)
        },
    );
    for r in &reqs {
        assert_eq!(
            (
                text(r).split_whitespace().count(),
                r.prompt_len,
                r.expected_output_len
            ),
            (8, 8, 4),
            "text, not ids"
        );
        assert_eq!(r.mm_content.len(), 2);
        let url = r.mm_content[0]["image_url"]["url"].as_str().unwrap();
        let jpeg = base64::engine::general_purpose::STANDARD
            .decode(url.strip_prefix("data:image/jpeg;base64,").unwrap())
            .unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        // SOF0 after SOI, APP0 (18 bytes) and two DQT (69 each): height 2, width 3.
        assert_eq!(&jpeg[158..160], &[0xFF, 0xC0]);
        assert_eq!(&jpeg[163..167], &[0, 2, 0, 3], "height 2, width 3");
    }
    assert_ne!(
        reqs[0].mm_content[0], reqs[0].mm_content[1],
        "random pixels"
    );
    let chat = samples(&random_mm(true), &opts(1));
    let ClientPrompt::Messages(m) = &chat[0].prompt else {
        panic!("messages")
    };
    let content = m[0]["content"].as_array().unwrap();
    assert_eq!(
        (content.len(), &content[0]["type"], &content[2]["type"]),
        (3, &json!("text"), &json!("image_url"))
    );
}

fn rerank(is_reranker: bool) -> DatasetSpec {
    DatasetSpec::RandomRerank(RerankSpec {
        input_len: 20,
        range_ratio: RangeRatio::default(),
        batch_size: 2,
        is_reranker,
    })
}

#[test]
fn random_rerank_batches_one_query_with_documents() {
    let reqs = samples(&rerank(true), &opts(4));
    assert_eq!(reqs.len(), 2, "4 documents, 2 a request, never oversampled");
    for r in &reqs {
        let ClientPrompt::Batch(items) = &r.prompt else {
            panic!("batch")
        };
        let words: Vec<usize> = items.iter().map(|s| s.split_whitespace().count()).collect();
        assert_eq!(
            words,
            vec![9, 10, 10],
            "query 20/2 - 1, documents 20 - 9 - 1"
        );
        assert_eq!((r.prompt_len, r.expected_output_len), ((9 + 1) * 2 + 20, 0));
    }
    let plain = samples(&rerank(false), &opts(4));
    assert_eq!(
        plain.len(),
        3,
        "--no-reranker: one request and one batch slot go to the query"
    );
    assert_eq!(plain[0].prompt_len, 40);
    assert!(err(&rerank(false), &opts(1)).contains("--num-prompts > 1"));
}

#[test]
fn chat_mode_keeps_the_limit_map_defaults_of_vllm() {
    assert_eq!(
        default_limit_mm_per_prompt(),
        BTreeMap::from([("image".to_string(), 255), ("video".to_string(), 1)])
    );
}

#[test]
fn hf_reads_snappy_parquet_as_the_hub_ships_it() {
    let reqs = samples(
        &DatasetSpec::Hf(hf("hf/gsm8k_parquet", "openai/gsm8k")),
        &opts(2),
    );
    assert_eq!(
        reqs.iter().map(text).collect::<Vec<_>>(),
        vec!["How many legs do 3 cats have?", "What is 9 minus 4?"]
    );
    let arena = samples(
        &DatasetSpec::Hf(hf("hf/vision_arena.parquet", "lmarena-ai/VisionArena-Chat")),
        &opts(1),
    );
    let png = std::fs::read(fixture("red.png")).unwrap();
    assert_eq!(text(&arena[0]), "What color is this?");
    assert_eq!(
        arena[0].mm_content,
        vec![
            json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", media::base64(&png))}})
        ],
        "the image's own bytes, sent as a data URL"
    );
    let e = err(
        &DatasetSpec::Hf(hf("hf/gsm8k_zstd.parquet", "openai/gsm8k")),
        &opts(1),
    );
    assert!(
        e.contains("gsm8k_zstd.parquet:") && e.contains("Snappy") && e.contains(".jsonl"),
        "{e}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn corrupted_parquet_is_an_error_never_a_panic(
        flips in proptest::collection::vec((0usize..794, proptest::prelude::any::<u8>()), 1..8)
    ) {
        let mut bytes = std::fs::read(fixture("hf/gsm8k_parquet/main/test-00000-of-00001.parquet")).unwrap();
        for (at, b) in flips {
            let at = at % bytes.len();
            bytes[at] = b;
        }
        let p = std::env::temp_dir().join(format!("pm-corrupt-{}.parquet", std::process::id()));
        std::fs::write(&p, &bytes).unwrap();
        let _ = table::read_rows(&p);
    }
}
