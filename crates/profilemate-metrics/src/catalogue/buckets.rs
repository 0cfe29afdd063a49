//! Histogram bucket bounds: vLLM's eight overridable families (`v1/metrics/buckets.py`) and the
//! fixed ladders of connector and frontend histograms.

/// `request_latency`: e2e, queue, inference, prefill and decode times.
pub const REQUEST_LATENCY: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];
/// `time_to_first_token`.
pub const TIME_TO_FIRST_TOKEN: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
/// `inter_token_latency`: ITL and per-request TPOT.
pub const INTER_TOKEN_LATENCY: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];
/// `iteration_tokens`: tokens per engine step.
pub const ITERATION_TOKENS: &[f64] = &[
    1.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0,
];
/// `request_params_n`.
pub const REQUEST_PARAMS_N: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0];
/// `request_num_preemptions` (the first bucket mixes 0 and 1 preemptions).
pub const REQUEST_NUM_PREEMPTIONS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0];
/// `kv_cache_residency`: block lifetime, idle time, reuse gaps.
pub const KV_CACHE_RESIDENCY: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0,
    120.0, 300.0, 600.0, 1200.0, 1800.0,
];
/// KV-offload transfer sizes in bytes (`TRANSFER_SIZE_BUCKETS`).
pub const TRANSFER_SIZE: &[f64] = &[1e6, 5e6, 10e6, 20e6, 40e6, 60e6, 80e6, 100e6, 150e6, 200e6];
/// One offload lookup call, in seconds.
pub const LOOKUP_SYNC_DELAY: &[f64] = &[
    1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0,
];
/// A deferred offload lookup until it resolves, in seconds.
pub const LOOKUP_ASYNC_DELAY: &[f64] =
    &[1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
/// CPU chunks per `prepare_store`.
pub const CPU_ALLOCATION_SIZE: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0,
];
/// NIXL post time (the transfer-time ladder starts one step later).
pub const NIXL_POST_TIME: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 5.0,
];
/// NIXL transfer time: the post-time ladder without its first bound.
pub const NIXL_XFER_TIME: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 5.0,
];
/// NIXL bytes per transfer: 2^11 … 2^33, step ×4.
pub const NIXL_BYTES_TRANSFERRED: &[f64] = &[
    2048.0,
    8192.0,
    32768.0,
    131072.0,
    524288.0,
    2097152.0,
    8388608.0,
    33554432.0,
    134217728.0,
    536870912.0,
    2147483648.0,
    8589934592.0,
];
/// NIXL descriptors per transfer.
pub const NIXL_NUM_DESCRIPTORS: &[f64] = &[
    10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 200.0, 400.0, 1000.0, 2000.0, 4000.0, 10000.0, 20000.0,
    50000.0,
];
/// HF3FS save and load durations.
pub const HF3FS_DURATION: &[f64] = NIXL_POST_TIME;
/// Mooncake store operation time.
pub const MOONCAKE_OPERATION_TIME: &[f64] = &[
    1e-3, 5e-3, 1e-2, 5e-2, 1e-1, 2e-1, 3e-1, 4e-1, 5e-1, 7.5e-1, 1.0, 1.5, 2.0, 3.0, 4.0,
];
/// RL weight-update and sleep-mode operation durations.
pub const OPERATION_DURATION: &[f64] = &[0.01, 0.1, 1.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];
/// WebSocket connection durations.
pub const WEBSOCKET_CONNECTION_DURATION: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

/// A bucket family that `--custom-histogram-buckets` can replace as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BucketFamily {
    /// `request_latency`.
    RequestLatency,
    /// `time_to_first_token`.
    TimeToFirstToken,
    /// `inter_token_latency`.
    InterTokenLatency,
    /// `iteration_tokens`.
    IterationTokens,
    /// `request_params_n`.
    RequestParamsN,
    /// `request_num_preemptions`.
    RequestNumPreemptions,
    /// `request_tokens`: a 1-2-5 series capped at `max_model_len`.
    RequestTokens,
    /// `kv_cache_residency`.
    KvCacheResidency,
}

impl BucketFamily {
    /// Every family.
    pub const ALL: [Self; 8] = [
        Self::RequestLatency,
        Self::TimeToFirstToken,
        Self::InterTokenLatency,
        Self::IterationTokens,
        Self::RequestParamsN,
        Self::RequestNumPreemptions,
        Self::RequestTokens,
        Self::KvCacheResidency,
    ];

    /// The key `--custom-histogram-buckets` uses.
    pub fn key(self) -> &'static str {
        match self {
            Self::RequestLatency => "request_latency",
            Self::TimeToFirstToken => "time_to_first_token",
            Self::InterTokenLatency => "inter_token_latency",
            Self::IterationTokens => "iteration_tokens",
            Self::RequestParamsN => "request_params_n",
            Self::RequestNumPreemptions => "request_num_preemptions",
            Self::RequestTokens => "request_tokens",
            Self::KvCacheResidency => "kv_cache_residency",
        }
    }

    /// The family for a `--custom-histogram-buckets` key.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.key() == key)
    }

    /// The default bounds; `max_model_len` caps the `request_tokens` series.
    pub fn defaults(self, max_model_len: u64) -> Vec<f64> {
        match self {
            Self::RequestLatency => REQUEST_LATENCY.to_vec(),
            Self::TimeToFirstToken => TIME_TO_FIRST_TOKEN.to_vec(),
            Self::InterTokenLatency => INTER_TOKEN_LATENCY.to_vec(),
            Self::IterationTokens => ITERATION_TOKENS.to_vec(),
            Self::RequestParamsN => REQUEST_PARAMS_N.to_vec(),
            Self::RequestNumPreemptions => REQUEST_NUM_PREEMPTIONS.to_vec(),
            Self::RequestTokens => one_two_five(max_model_len),
            Self::KvCacheResidency => KV_CACHE_RESIDENCY.to_vec(),
        }
    }
}

/// A histogram's bounds: an overridable family or a fixed ladder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Buckets {
    /// One of vLLM's eight families.
    Family(BucketFamily),
    /// Fixed bounds.
    Fixed(&'static [f64]),
}

/// How histogram bounds are chosen when registering: `max_model_len` caps the `request_tokens`
/// family and `overrides` replace whole families, as `--custom-histogram-buckets` does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BucketConfig {
    /// The served model's `max_model_len`.
    pub max_model_len: u64,
    /// Replacement bounds per family.
    pub overrides: std::collections::BTreeMap<BucketFamily, Vec<f64>>,
}

impl BucketConfig {
    /// vLLM's defaults for a model with this `max_model_len`.
    pub fn new(max_model_len: u64) -> Self {
        Self {
            max_model_len,
            overrides: Default::default(),
        }
    }

    /// The bounds of `buckets` under this configuration.
    pub fn bounds(&self, buckets: Buckets) -> Vec<f64> {
        match buckets {
            Buckets::Family(f) => match self.overrides.get(&f) {
                Some(custom) => custom.clone(),
                None => f.defaults(self.max_model_len),
            },
            Buckets::Fixed(b) => b.to_vec(),
        }
    }
}

/// `build_1_2_5_buckets(max)`: 1, 2, 5, 10, 20, 50, … while ≤ `max`.
pub fn one_two_five(max: u64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut scale: u64 = 1;
    loop {
        for m in [1, 2, 5] {
            match scale.checked_mul(m) {
                Some(v) if v <= max => out.push(v as f64),
                _ => return out,
            }
        }
        let Some(next) = scale.checked_mul(10) else {
            return out;
        };
        scale = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_two_five_caps_at_max_model_len() {
        assert_eq!(one_two_five(100), [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]);
        let b = one_two_five(8192);
        assert_eq!(b.last(), Some(&5000.0));
        assert_eq!(b.len(), 12);
        assert_eq!(one_two_five(131072).last(), Some(&100000.0));
        assert!(one_two_five(0).is_empty());
        assert_eq!(one_two_five(u64::MAX).len(), 58, "stops before overflowing");
    }

    #[test]
    fn overrides_replace_whole_families_only() {
        let mut config = BucketConfig::new(100);
        config
            .overrides
            .insert(BucketFamily::RequestLatency, vec![0.5, 5.0]);
        let latency = Buckets::Family(BucketFamily::RequestLatency);
        assert_eq!(config.bounds(latency), [0.5, 5.0]);
        let tokens = config.bounds(Buckets::Family(BucketFamily::RequestTokens));
        assert_eq!(tokens, [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]);
        assert_eq!(config.bounds(Buckets::Fixed(TRANSFER_SIZE)), TRANSFER_SIZE);
    }

    #[test]
    fn family_keys_round_trip() {
        for f in BucketFamily::ALL {
            assert_eq!(BucketFamily::from_key(f.key()), Some(f));
        }
        assert_eq!(BucketFamily::from_key("nope"), None);
    }
}
