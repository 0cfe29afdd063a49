//! Which deployment to pick: cost per million output tokens at each configuration's
//! SLO-meeting capacity, the Pareto front of throughput per GPU against latency, and a
//! recommendation with the reasons it won.

/// Indicative on-demand prices in US dollars per GPU-hour for the GPU presets: assumptions
/// for ranking configurations, not quotes. Pass `--gpu-hour-cost` with your own price.
pub const GPU_HOUR_COST_USD: [(&str, f64); 19] = [
    ("a100-40gb", 1.30),
    ("a100-80gb", 1.80),
    ("h100-sxm", 2.99),
    ("h100-pcie", 2.49),
    ("h100-nvl", 2.79),
    ("h200", 3.79),
    ("h200-nvl", 3.59),
    ("h20", 1.50),
    ("b200", 5.99),
    ("b300", 7.49),
    ("gb200", 6.99),
    ("l40s", 1.09),
    ("l4", 0.80),
    ("a10g", 1.01),
    ("a10", 0.75),
    ("mi300x", 2.49),
    ("mi325x", 2.99),
    ("mi355x", 3.99),
    ("rtx-pro-6000", 1.79),
];

/// The default price of a GPU preset, if it has one.
pub fn default_gpu_hour_cost(preset: &str) -> Option<f64> {
    GPU_HOUR_COST_USD
        .iter()
        .find(|(name, _)| *name == preset)
        .map(|(_, cost)| *cost)
}

/// One configuration's capacity under the SLOs.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigCapacity {
    /// What was varied (`--max-num-seqs 64 --gpu h100-sxm …`).
    pub label: String,
    /// GPUs one engine uses (TP × PP).
    pub gpus: u64,
    /// US dollars per GPU-hour.
    pub gpu_hour_cost: f64,
    /// Highest request rate meeting every SLO (`None`: none does).
    pub capacity_rps: Option<f64>,
    /// Output tokens per second at that rate.
    pub output_tok_s: Option<f64>,
    /// The first SLO's value at that rate, in ms (the latency axis of the front).
    pub latency_ms: Option<f64>,
}

impl ConfigCapacity {
    /// Output tokens per second per GPU at capacity.
    pub fn tok_s_per_gpu(&self) -> Option<f64> {
        Some(self.output_tok_s? / self.gpus.max(1) as f64)
    }

    /// Dollars per million output tokens at capacity: GPUs × price / tokens per hour × 10⁶.
    pub fn cost_per_million_tokens(&self) -> Option<f64> {
        let tokens_per_hour = self.output_tok_s? * 3600.0;
        (tokens_per_hour > 0.0)
            .then(|| self.gpus as f64 * self.gpu_hour_cost / tokens_per_hour * 1e6)
    }
}

/// The configurations no other beats on both throughput per GPU (higher) and latency (lower),
/// by index, in input order. Configurations without a capacity are never on it.
pub fn pareto_front(configs: &[ConfigCapacity]) -> Vec<usize> {
    let point = |c: &ConfigCapacity| Some((c.tok_s_per_gpu()?, c.latency_ms?));
    (0..configs.len())
        .filter(|&i| {
            let Some((tput, lat)) = point(&configs[i]) else {
                return false;
            };
            !configs.iter().enumerate().any(|(j, other)| {
                j != i
                    && point(other)
                        .is_some_and(|(t, l)| t >= tput && l <= lat && (t > tput || l < lat))
            })
        })
        .collect()
}

/// The pick and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// Index of the recommended configuration.
    pub index: usize,
    /// The reasons, one sentence each.
    pub reasons: Vec<String>,
}

/// The configuration with the lowest cost per million output tokens at its SLO-meeting
/// capacity (ties: more throughput per GPU), with the reasons; `None` when none meets the SLOs.
pub fn recommend(configs: &[ConfigCapacity]) -> Option<Recommendation> {
    let mut ranked: Vec<(usize, f64)> = configs
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, c.cost_per_million_tokens()?)))
        .collect();
    ranked.sort_by(|a, b| {
        a.1.total_cmp(&b.1).then_with(|| {
            let t = |i: usize| configs[i].tok_s_per_gpu().unwrap_or(0.0);
            t(b.0).total_cmp(&t(a.0))
        })
    });
    let &(index, cost) = ranked.first()?;
    let best = &configs[index];
    let mut reasons = vec![format!(
        "lowest cost: ${cost:.3} per million output tokens at {:.2} req/s within the SLOs",
        best.capacity_rps.unwrap_or(0.0)
    )];
    if let Some(&(runner_up, next_cost)) = ranked.get(1) {
        reasons.push(format!(
            "{:.0} % cheaper than the next best ({})",
            (1.0 - cost / next_cost) * 100.0,
            configs[runner_up].label
        ));
    }
    if let Some(per_gpu) = best.tok_s_per_gpu() {
        reasons.push(format!(
            "{per_gpu:.0} output tok/s per GPU on {} GPU(s)",
            best.gpus
        ));
    }
    if pareto_front(configs).contains(&index) {
        reasons.push("on the Pareto front of throughput per GPU against latency".into());
    }
    let unmet = configs.iter().filter(|c| c.capacity_rps.is_none()).count();
    if unmet > 0 {
        reasons.push(format!(
            "{unmet} configuration(s) meet the SLOs at no load tried"
        ));
    }
    Some(Recommendation { index, reasons })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(label: &str, gpus: u64, tok_s: Option<f64>, latency: f64) -> ConfigCapacity {
        ConfigCapacity {
            label: label.into(),
            gpus,
            gpu_hour_cost: 2.0,
            capacity_rps: tok_s.map(|t| t / 100.0),
            output_tok_s: tok_s,
            latency_ms: Some(latency),
        }
    }

    #[test]
    fn cost_per_million_tokens_is_gpu_hours_over_tokens() {
        // 2 GPUs × $2/h = $4/h; 1,000 tok/s = 3.6 M tok/h → $1.111 per million.
        let c = config("a", 2, Some(1000.0), 100.0);
        assert!((c.cost_per_million_tokens().unwrap() - 4.0 / 3.6).abs() < 1e-12);
        assert_eq!(c.tok_s_per_gpu(), Some(500.0));
        assert_eq!(config("none", 1, None, 1.0).cost_per_million_tokens(), None);
    }

    #[test]
    fn the_front_keeps_only_undominated_configurations() {
        let configs = [
            config("fast", 1, Some(1000.0), 200.0),
            config("snappy", 1, Some(600.0), 80.0),
            config("worse", 1, Some(500.0), 150.0), // beaten by snappy on both
            config("none", 1, None, 10.0),
            config("big", 4, Some(3000.0), 90.0), // 750/GPU, 90 ms: undominated
        ];
        assert_eq!(pareto_front(&configs), [0, 1, 4]);
    }

    #[test]
    fn recommends_the_cheapest_and_says_why() {
        let configs = [
            config("fast", 1, Some(1000.0), 200.0),
            config("big", 4, Some(3000.0), 90.0),
            config("none", 1, None, 10.0),
        ];
        let pick = recommend(&configs).unwrap();
        assert_eq!(pick.index, 0);
        assert!(
            pick.reasons[0].starts_with("lowest cost: $0.556 per million"),
            "{:?}",
            pick.reasons
        );
        assert!(
            pick.reasons[1].contains("25 % cheaper than the next best (big)"),
            "{:?}",
            pick.reasons
        );
        assert!(pick.reasons.iter().any(|r| r.contains("Pareto front")));
        assert!(
            pick.reasons
                .iter()
                .any(|r| r.starts_with("1 configuration(s)"))
        );
        assert_eq!(recommend(&[config("none", 1, None, 1.0)]), None);
    }

    #[test]
    fn every_gpu_preset_has_a_default_price() {
        assert_eq!(default_gpu_hour_cost("h100-sxm"), Some(2.99));
        for name in profilemate_model::hardware::names() {
            assert!(
                default_gpu_hour_cost(name).is_some(),
                "{name} has no default price"
            );
        }
        assert_eq!(default_gpu_hour_cost("tpu"), None);
    }
}
