//! Provides the `prefix_repetition` dataset: `num_prefixes` shared prefixes, each followed by
//! `num_prompts / num_prefixes` random suffixes, shuffled.
//!
//! Mirrors `PrefixRepetitionRandomDataset` in vllm/benchmarks/datasets/datasets.py, vLLM 0.32.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{DatasetSpec, SampleOptions, SampleRequest, shuffle};
use crate::error::DatasetError;
use crate::tokenizer::Tokenizer;

pub(super) fn sample(
    spec: &DatasetSpec,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let DatasetSpec::PrefixRepetition {
        prefix_len,
        suffix_len,
        num_prefixes,
        output_len,
    } = *spec
    else {
        return Ok(Vec::new());
    };
    let per_prefix = (opts.num_prompts as u64)
        .checked_div(num_prefixes)
        .unwrap_or(0);
    if per_prefix == 0 {
        return Err(DatasetError::Params(format!(
            "num_requests ({}) must be greater than or equal to num_prefixes ({num_prefixes})",
            opts.num_prompts
        )));
    }
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let vocab = tok.vocab_size();
    let mut random_ids =
        |n: u64| -> Vec<u32> { (0..n).map(|_| rng.random_range(0..vocab)).collect() };
    let mut out = Vec::new();
    for _ in 0..num_prefixes {
        let prefix = random_ids(prefix_len);
        for _ in 0..per_prefix {
            let mut ids = prefix.clone();
            ids.extend(random_ids(suffix_len));
            out.push(SampleRequest::from_ids(ids, output_len, 0, opts, tok));
        }
    }
    if !opts.disable_shuffle {
        shuffle(&mut out, opts.seed);
    }
    for (i, r) in out.iter_mut().enumerate() {
        r.request_id = format!("{}{i}", opts.request_id_prefix);
    }
    Ok(out)
}
