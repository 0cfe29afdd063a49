//! Every real vLLM `/metrics` capture under `testdata/` (see `testdata/README.md`) parses
//! completely, re-renders byte for byte, and yields the values a reader can check by eye.

use std::path::{Path, PathBuf};

use profilemate_metrics::model::Scrape;
use profilemate_metrics::parse::parse;
use profilemate_metrics::query::{
    Matcher, Point, Window, increase, reset_adjusted_delta, windowed_quantile,
};
use profilemate_metrics::text::render;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Every file whose name starts with `metrics`, found recursively.
fn metrics_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            metrics_files(&path, out);
        } else if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("metrics")
        {
            out.push(path);
        }
    }
}

fn load(run: &str, file: &str) -> Scrape {
    let text =
        std::fs::read_to_string(fixtures_dir().join("vllm-0.32-cpu").join(run).join(file)).unwrap();
    parse(&text).unwrap()
}

#[test]
fn every_fixture_scrape_parses_completely_and_renders_back_identically() {
    let mut files = Vec::new();
    metrics_files(&fixtures_dir(), &mut files);
    assert!(
        files.len() >= 5,
        "expected the five vLLM captures: {files:?}"
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let scrape = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let sample_lines = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(scrape.samples().count(), sample_lines, "{}", path.display());
        let rendered = render(&scrape);
        let diff = rendered
            .lines()
            .zip(text.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b);
        assert_eq!(diff, None, "{}: first differing line", path.display());
        assert_eq!(rendered, text, "{}", path.display());
    }
}

#[test]
fn run1_values_read_from_the_scrapes() {
    let before = load("run1", "metrics-before.txt");
    let after1 = load("run1", "metrics-after-1.txt");
    let after2 = load("run1", "metrics-after-2.txt");
    let flops = "vllm:estimated_flops_per_gpu_total";
    let e0 = [
        Matcher::eq("engine", "0"),
        Matcher::eq("model_name", "tiny-llama"),
    ];
    assert_eq!(after1.value(flops, &e0), Some(3.4803556352e10));
    assert_eq!(after2.value(flops, &e0), Some(4.87368704e10));
    assert_eq!(
        after1.value("vllm:iteration_tokens_total_count", &e0),
        Some(514.0)
    );
    assert_eq!(
        after1.value("vllm:iteration_tokens_total_sum", &e0),
        Some(6406.0)
    );
    assert_eq!(
        after2.value("vllm:iteration_tokens_total_count", &e0),
        Some(759.0)
    );
    let le8 = [Matcher::eq("le", "8.0")];
    assert_eq!(
        after2.value("vllm:iteration_tokens_total_bucket", &le8),
        Some(712.0)
    );
    assert_eq!(
        after2.value("process_virtual_memory_bytes", &[]),
        Some(4.86211584e9)
    );
    let info = after2.family("vllm:cache_config_info").unwrap();
    assert_eq!(info.samples[0].labels.get("block_size"), Some("128"));
    assert_eq!(
        info.samples[0].labels.get("kv_cache_dtype_skip_layers"),
        Some("[]")
    );
    let histograms = after2.histograms("vllm:iteration_tokens_total", &e0);
    assert_eq!(histograms.len(), 1);
    assert_eq!((histograms[0].count, histograms[0].sum), (759.0, 8969.0));
    assert_eq!(before.value("vllm:num_requests_running", &[]), Some(0.0));
}

#[test]
fn run1_deltas_and_windowed_quantiles_between_benchmarks() {
    let after1 = load("run1", "metrics-after-1.txt");
    let after2 = load("run1", "metrics-after-2.txt");
    let flops = "vllm:estimated_flops_per_gpu_total";
    let points: Vec<Point> = [(0.0, &after1), (100.0, &after2)]
        .iter()
        .map(|(t, s)| Point {
            t: *t,
            v: s.value(flops, &[]).unwrap(),
        })
        .collect();
    assert_eq!(reset_adjusted_delta(&points), Some(13_933_314_048.0));
    // A window that starts just before the first scrape: no extrapolation at either edge.
    let exact = increase(
        &points,
        Window {
            start: -1e-9,
            end: 100.0,
        },
    )
    .unwrap();
    assert!((exact - 13_933_314_048.0).abs() < 1.0);
    // Bucket deltas of the second benchmark: 0 ≤1, 235 ≤8 … ≤64, 240 ≤128, 245 ≤256 and above.
    // p50: rank 122.5 in (1, 8] → 1 + 7 × 122.5/235. p99: rank 242.55 in (128, 256] → 128 + 128 × 2.55/5.
    let name = "vllm:iteration_tokens_total";
    let p50 = windowed_quantile(0.5, &after1, &after2, name, &[]);
    assert!((p50 - (1.0 + 7.0 * 122.5 / 235.0)).abs() < 1e-9, "{p50}");
    let p99 = windowed_quantile(0.99, &after1, &after2, name, &[]);
    assert!((p99 - 193.28).abs() < 1e-9, "{p99}");
}

#[test]
fn ray_style_names_read_like_colon_names() {
    let path = fixtures_dir().join("vllm-0.32-cpu/run2-sched/metrics-after-1.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let colon = parse(&text).unwrap();
    let ray = parse(&text.replace("vllm:", "vllm_")).unwrap();
    assert_eq!(ray.samples().count(), colon.samples().count());
    for name in [
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:num_preemptions_total",
    ] {
        let want = colon.value(name, &[]);
        assert!(
            want.is_some_and(|v| v > 0.0) || name.contains("preemptions"),
            "{name}"
        );
        assert_eq!(ray.value(name, &[]), want, "{name}");
        assert_eq!(
            ray.value(&name.replace("vllm:", "vllm_"), &[]),
            want,
            "{name}"
        );
    }
    assert!(ray.family("vllm:iteration_tokens_total").is_some());
    assert_eq!(
        ray.histograms("vllm:iteration_tokens_total", &[]),
        colon.histograms("vllm:iteration_tokens_total", &[])
    );
}
