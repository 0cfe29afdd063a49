//! Catalogue checks against the real vLLM scrapes and the observability anchors.

use super::*;
use crate::model::Scrape;
use crate::number::parse_go_float;
use crate::parse::parse;

const FIXTURE: &str = include_str!("../../../../testdata/vllm-0.32-cpu/run1/metrics-after-2.txt");
const ANCHORS: &str = include_str!("../../../../testdata/reference/observability-anchors.md");
/// run1 was served with `--max-model-len 2048`.
const MAX_MODEL_LEN: u64 = 2048;

fn vllm_families(scrape: &Scrape) -> impl Iterator<Item = &crate::model::MetricFamily> {
    scrape
        .families
        .iter()
        .filter(|f| f.name.starts_with("vllm:"))
}

#[test]
fn every_fixture_family_matches_its_definition() {
    let scrape = parse(FIXTURE).unwrap();
    let mut checked = 0;
    for family in vllm_families(&scrape) {
        let def = lookup(&family.name).unwrap_or_else(|| panic!("{} not catalogued", family.name));
        assert_eq!(def.family_name(), family.name);
        assert_eq!(def.kind, family.kind, "{}", family.name);
        assert_eq!(Some(def.help), family.help.as_deref(), "{}", family.name);
        let sample = family.samples.first().unwrap();
        let mut names: Vec<&str> = sample
            .labels
            .iter()
            .map(|(k, _)| k)
            .filter(|k| *k != "le")
            .collect();
        let mut want = def.labels.to_vec();
        if def.name != "vllm:cache_config_info" {
            names.sort_unstable();
            want.sort_unstable();
            assert_eq!(names, want, "{}", family.name);
        }
        checked += 1;
    }
    assert_eq!(checked, 39, "vLLM families in the run1 scrape");
}

#[test]
fn histogram_bounds_match_the_fixture() {
    let scrape = parse(FIXTURE).unwrap();
    for family in vllm_families(&scrape).filter(|f| f.kind == MetricType::Histogram) {
        let def = lookup(&family.name).unwrap();
        let first = &family.samples[0].labels;
        let les: Vec<f64> = family
            .samples
            .iter()
            .filter(|s| {
                s.name.ends_with("_bucket") && s.labels.without(&["le"]) == first.without(&["le"])
            })
            .filter_map(|s| parse_go_float(s.labels.get("le")?))
            .filter(|le| le.is_finite())
            .collect();
        assert_eq!(
            les,
            BucketConfig::new(MAX_MODEL_LEN).bounds(def.buckets.unwrap()),
            "{}",
            family.name
        );
    }
}

#[test]
fn every_name_in_the_anchors_section_1_is_catalogued() {
    let start = ANCHORS.find("## 1. vLLM 0.32 Prometheus metrics").unwrap();
    let end = ANCHORS.find("### 1.8 Removed V0 names").unwrap();
    // Placeholders, and the stem of the brace pattern `vllm:hisparse_host_block_{…}_seconds`.
    let not_metrics = [
        "vllm:x",
        "vllm:X",
        "vllm:X_total",
        "vllm:hisparse_host_block",
    ];
    let (mut seen, mut missing) = (0, Vec::new());
    for token in
        ANCHORS[start..end].split(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '_'))
    {
        let token = token.trim_end_matches('_');
        if token.len() <= 5
            || !token.starts_with("vllm:")
            || not_metrics.contains(&token)
            || token.ends_with("_tiering")
        {
            continue;
        }
        if lookup(token).is_none() {
            missing.push(token);
        }
        seen += 1;
    }
    assert!(missing.is_empty(), "not catalogued: {missing:?}");
    assert!(seen > 90, "scanned only {seen} names");
}

#[test]
fn the_whole_catalogue_registers_without_clashes() {
    let registry = crate::registry::Registry::new();
    for def in all() {
        def.register(&registry, &BucketConfig::new(MAX_MODEL_LEN))
            .unwrap_or_else(|e| panic!("{}: {e}", def.name));
    }
    let rendered = parse(&registry.render()).unwrap();
    assert_eq!(rendered.families.len(), all().count());
    assert_eq!(group(Group::KvOffloadTiering).count(), 18);
}

#[test]
fn lookup_accepts_sample_and_ray_names() {
    let flops = lookup("vllm_estimated_flops_per_gpu_created").unwrap();
    assert_eq!(flops.name, "vllm:estimated_flops_per_gpu_total");
    assert_eq!(
        lookup("vllm:prompt_tokens_total").unwrap().kind,
        MetricType::Counter
    );
    assert_eq!(
        lookup("vllm:iteration_tokens_total_bucket").unwrap().kind,
        MetricType::Histogram
    );
    assert!(
        lookup("vllm:prompt_tokens_sum").is_none(),
        "counters have no _sum"
    );
    assert!(lookup("vllm:gpu_cache_usage_perc").is_none());
}
