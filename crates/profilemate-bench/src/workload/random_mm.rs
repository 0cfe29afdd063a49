//! Provides the `random-mm` dataset: `random` prompts with synthetic images.
//!
//! Mirrors `RandomMultiModalDataset` in vllm/benchmarks/datasets/datasets.py, vLLM 0.32: the
//! items per request are integer-uniform on `[floor(n(1-r)), ceil(n(1+r))]` (the maximum capped
//! at the sum of the per-modality limits, `get_mm_item_sampling_params`); each item's
//! (height, width, frames) is drawn from the normalised bucket probabilities, a modality at
//! its limit dropping out (`get_mm_item_iterator`); an image is i.i.d. random RGB pixels
//! (`generate_synthetic_image`), sent as a JPEG data URL as `process_image` encodes it (PIL's
//! defaults; see [`super::jpeg`]). Video buckets (frames > 1) need an MP4 encoder and are
//! refused. The draws come from our seeded RNG, not numpy's.

use std::collections::BTreeMap;

use rand::distr::{Distribution, weighted::WeightedIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::jpeg::jpeg_rgb;
use super::media::{base64, image_part};
use super::{DatasetSpec, RangeRatio, SampleOptions, SampleRequest, into_chat_messages};
use crate::error::{BenchConfigError, DatasetError};
use crate::tokenizer::Tokenizer;

/// An item shape: (height, width, frames); one frame is an image, more a video.
pub type Shape = (u32, u32, u32);

/// `--random-mm-bucket-config`: shape -> probability.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketConfig(pub Vec<(Shape, f64)>);

impl Default for BucketConfig {
    /// vLLM's `DEFAULT_MM_ITEM_BUCKET_CONFIG`.
    fn default() -> Self {
        Self(vec![
            ((256, 256, 1), 0.5),
            ((720, 1280, 1), 0.5),
            ((720, 1280, 16), 0.0),
        ])
    }
}

impl BucketConfig {
    /// Parses vLLM's Python-literal form `{(256, 256, 1): 0.5, (720, 1280, 1): 0.5}` (keys may
    /// also be quoted, as JSON needs).
    pub fn parse(s: &str) -> Result<Self, BenchConfigError> {
        let bad = |reason: String| BenchConfigError::Invalid {
            flag: "--random-mm-bucket-config",
            value: s.to_string(),
            reason,
        };
        let body: String = s.chars().filter(|c| !matches!(c, '"' | '\'')).collect();
        let body = body
            .trim()
            .strip_prefix('{')
            .and_then(|b| b.strip_suffix('}'))
            .ok_or_else(|| bad("use {(H, W, T): P, ...}".into()))?;
        let mut out = Vec::new();
        let mut rest = body.trim();
        while !rest.is_empty() {
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.split_once(')'))
                .ok_or_else(|| bad(format!("expected a (H, W, T) key at {rest:?}")))?;
            let dims: Vec<u32> = inner
                .0
                .split(',')
                .map(|d| d.trim().parse::<u32>())
                .collect::<Result<_, _>>()
                .map_err(|_| bad(format!("key ({}) must be three integers", inner.0)))?;
            let [h, w, t] = dims[..] else {
                return Err(bad(format!("key ({}) must be (H, W, T)", inner.0)));
            };
            let after = inner
                .1
                .trim_start()
                .strip_prefix(':')
                .ok_or_else(|| bad("expected ':' after a key".into()))?;
            let (p, tail) = after.split_once(',').unwrap_or((after, ""));
            let p: f64 = p
                .trim()
                .parse()
                .map_err(|_| bad(format!("probability {:?} is not a number", p.trim())))?;
            out.push(((h, w, t), p));
            rest = tail.trim();
        }
        Ok(Self(out))
    }
}

/// The `random-mm` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomMmSpec {
    /// `--random-input-len`.
    pub input_len: u64,
    /// `--random-output-len`.
    pub output_len: u64,
    /// `--random-range-ratio`.
    pub range_ratio: RangeRatio,
    /// `--random-prefix-len`.
    pub prefix_len: u64,
    /// `--random-mm-base-items-per-request`.
    pub base_items_per_request: u64,
    /// `--random-mm-num-mm-items-range-ratio`, in [0, 1].
    pub num_mm_items_range_ratio: f64,
    /// `--random-mm-limit-mm-per-prompt` (default `{"image": 255, "video": 1}`).
    pub limit_mm_per_prompt: BTreeMap<String, u64>,
    /// `--random-mm-bucket-config`.
    pub bucket_config: BucketConfig,
    /// `--enable-multimodal-chat`.
    pub multimodal_chat: bool,
}

/// vLLM's `DEFAULT_LIMIT_MM_PER_PROMPT`.
pub fn default_limit_mm_per_prompt() -> BTreeMap<String, u64> {
    BTreeMap::from([("image".into(), 255), ("video".into(), 1)])
}

fn modality((_, _, frames): Shape) -> &'static str {
    if frames == 1 { "image" } else { "video" }
}

/// `normalize_bucket_config`: drop zero entries and scale to a sum of 1.
fn normalize(buckets: &[(Shape, f64)]) -> Result<Vec<(Shape, f64)>, DatasetError> {
    if buckets.iter().any(|(_, p)| *p < 0.0 || p.is_nan()) {
        return Err(DatasetError::Params(
            "Bucket config values must be non-negative.".into(),
        ));
    }
    let kept: Vec<_> = buckets.iter().copied().filter(|(_, p)| *p > 0.0).collect();
    let total: f64 = kept.iter().map(|(_, p)| p).sum();
    if kept.is_empty() {
        return Err(DatasetError::Params(
            "Got invalid bucket config. Bucket config values must be non-zero.".into(),
        ));
    }
    Ok(kept.into_iter().map(|(k, p)| (k, p / total)).collect())
}

/// The checked item range, limits and buckets (`get_mm_item_sampling_params`).
struct ItemPlan {
    min: u64,
    max: u64,
    limits: BTreeMap<&'static str, u64>,
    buckets: Vec<(Shape, f64)>,
}

fn plan(spec: &RandomMmSpec) -> Result<ItemPlan, DatasetError> {
    let r = spec.num_mm_items_range_ratio;
    if !(0.0..=1.0).contains(&r) {
        return Err(DatasetError::Params(
            "--random-mm-num-mm-items-range-ratio must be in [0, 1].".into(),
        ));
    }
    for (k, _) in &spec.bucket_config.0 {
        if k.2 == 0 {
            return Err(DatasetError::Params(format!(
                "Invalid multimodal item configuration: {k:?}"
            )));
        }
        if !spec.limit_mm_per_prompt.contains_key(modality(*k)) {
            return Err(DatasetError::Params(format!(
                "Modality {} is not in --random-mm-limit-mm-per-prompt ({:?})",
                modality(*k),
                spec.limit_mm_per_prompt.keys().collect::<Vec<_>>()
            )));
        }
    }
    let buckets = normalize(&spec.bucket_config.0)?;
    if let Some((k, _)) = buckets.iter().find(|(k, _)| modality(*k) == "video") {
        return Err(DatasetError::Params(format!(
            "random-mm video buckets ({k:?}) need an MP4 encoder, which profilemate does not have; give video buckets probability 0 in --random-mm-bucket-config"
        )));
    }
    let limits: BTreeMap<&'static str, u64> = ["image", "video"]
        .into_iter()
        .filter(|m| buckets.iter().any(|(k, _)| modality(*k) == *m))
        .filter_map(|m| spec.limit_mm_per_prompt.get(m).map(|v| (m, *v)))
        .collect();
    let base = spec.base_items_per_request as f64;
    let max = limits
        .values()
        .sum::<u64>()
        .min((base * (1.0 + r)).ceil() as u64);
    let min = (base * (1.0 - r)).floor().max(0.0) as u64;
    if min > max {
        return Err(DatasetError::Params(format!(
            "Min num mm items is greater than max mm items: {min} > {max}"
        )));
    }
    Ok(ItemPlan {
        min,
        max,
        limits,
        buckets,
    })
}

/// One request's item shapes (`get_mm_item_iterator`).
fn items(rng: &mut StdRng, plan: &ItemPlan) -> Vec<Shape> {
    let n = rng.random_range(plan.min..=plan.max);
    let mut buckets = plan.buckets.clone();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out = Vec::new();
    while (out.len() as u64) < n {
        let Ok(dist) = WeightedIndex::new(buckets.iter().map(|(_, p)| *p)) else {
            break; // every modality at its limit
        };
        let key = buckets[dist.sample(rng)].0;
        let m = modality(key);
        let count = counts.entry(m).or_default();
        if *count < plan.limits.get(m).copied().unwrap_or(0) {
            *count += 1;
            out.push(key);
        } else {
            for (k, p) in &mut buckets {
                if modality(*k) == m {
                    *p = 0.0;
                }
            }
        }
    }
    out
}

/// A random RGB image as a JPEG data URL part.
fn image(rng: &mut StdRng, height: u32, width: u32) -> serde_json::Value {
    let mut pixels = vec![0u8; height as usize * width as usize * 3];
    rng.fill(&mut pixels[..]);
    let jpeg = jpeg_rgb(width, height, &pixels);
    image_part(format!("data:image/jpeg;base64,{}", base64(&jpeg)))
}

pub(super) fn sample(
    spec: &RandomMmSpec,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let plan = plan(spec)?;
    let text = DatasetSpec::Random {
        input_len: spec.input_len,
        output_len: spec.output_len,
        range_ratio: spec.range_ratio,
        prefix_len: spec.prefix_len,
        batch_size: 1,
    };
    let text_opts = SampleOptions {
        token_ids: false,
        ..opts.clone()
    };
    let mut requests = super::random::sample(&text, &text_opts, tok)?;
    let mut rng = StdRng::seed_from_u64(opts.seed ^ 0x6d6d_0000);
    for req in &mut requests {
        req.mm_content = items(&mut rng, &plan)
            .into_iter()
            .map(|(h, w, _)| image(&mut rng, h, w))
            .collect();
        if spec.multimodal_chat {
            into_chat_messages(req);
        }
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_config_parses_vllm_literal_and_quoted_keys() {
        let b =
            BucketConfig::parse("{(256, 256, 1): 0.5, (720, 1280, 1): 0.4, (720, 1280, 16): 0.10}")
                .unwrap();
        assert_eq!(
            b.0,
            vec![
                ((256, 256, 1), 0.5),
                ((720, 1280, 1), 0.4),
                ((720, 1280, 16), 0.1)
            ]
        );
        let q = BucketConfig::parse(r#"{"(8, 4, 1)": 1}"#).unwrap();
        assert_eq!(q.0, vec![((8, 4, 1), 1.0)]);
        assert!(BucketConfig::parse("{(1, 2): 1}").is_err());
        assert!(BucketConfig::parse("(1,2,3): 1").is_err());
    }

    fn spec(base: u64, r: f64, limit: u64, buckets: Vec<(Shape, f64)>) -> RandomMmSpec {
        RandomMmSpec {
            input_len: 8,
            output_len: 4,
            range_ratio: RangeRatio::default(),
            prefix_len: 0,
            base_items_per_request: base,
            num_mm_items_range_ratio: r,
            limit_mm_per_prompt: BTreeMap::from([("image".into(), limit), ("video".into(), 0)]),
            bucket_config: BucketConfig(buckets),
            multimodal_chat: false,
        }
    }

    #[test]
    fn item_counts_follow_range_and_limits() {
        let p = plan(&spec(
            2,
            0.5,
            255,
            vec![((4, 4, 1), 1.0), ((9, 9, 16), 0.0)],
        ))
        .unwrap();
        assert_eq!((p.min, p.max), (1, 3));
        let capped = plan(&spec(1, 1.0, 1, vec![((4, 4, 1), 1.0)])).unwrap();
        assert_eq!((capped.min, capped.max), (0, 1), "max capped at the limit");
        let mut rng = StdRng::seed_from_u64(1);
        let limited = ItemPlan {
            min: 5,
            max: 5,
            limits: BTreeMap::from([("image", 2)]),
            buckets: vec![((4, 4, 1), 1.0)],
        };
        assert_eq!(
            items(&mut rng, &limited).len(),
            2,
            "stops at the image limit"
        );
        let err = |s: RandomMmSpec| plan(&s).err().unwrap().to_string();
        assert!(err(spec(1, 0.0, 1, vec![((4, 4, 16), 1.0)])).contains("MP4"));
        assert!(err(spec(1, 0.0, 1, vec![((4, 4, 1), 0.0)])).contains("non-zero"));
        assert!(err(spec(1, 1.5, 1, vec![((4, 4, 1), 1.0)])).contains("[0, 1]"));
        assert!(err(spec(3, 0.0, 1, vec![((4, 4, 1), 1.0)])).contains("3 > 1"));
    }
}
