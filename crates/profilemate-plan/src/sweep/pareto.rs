//! `bench sweep plot_pareto`'s data: each run's output tokens/s per user and per GPU, and the
//! Pareto frontier between them, as vLLM 0.32's `benchmarks/sweep/plot_pareto.py` computes it.

use serde_json::{Map, Value};

/// One run placed on the trade-off.
#[derive(Debug, Clone, PartialEq)]
pub struct ParetoPoint {
    /// Output tokens/s per concurrent user (`tokens_per_user`).
    pub tokens_per_user: f64,
    /// Output tokens/s per GPU (`tokens_per_gpu`).
    pub tokens_per_gpu: f64,
    /// The user count it was divided by (`user_count_estimate`).
    pub user_count: f64,
    /// The GPU count it was divided by (`gpu_count`).
    pub gpu_count: f64,
    /// The run's record, for labels.
    pub record: Map<String, Value>,
}

/// Why a run could not be placed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParetoError {
    /// A run has no `output_throughput`.
    #[error("cannot find throughput metric 'output_throughput' in a run (its keys: {0})")]
    NoThroughput(String),
    /// A key that must be numeric is not.
    #[error("expected a number for one of {keys:?}, found {found}")]
    NotNumeric {
        /// The keys looked up.
        keys: Vec<String>,
        /// The value found.
        found: String,
    },
}

/// The value of the first of `keys` present, trying each with `_` and `-` swapped too
/// (vLLM's `_first_present`).
fn first_present<'a>(record: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|key| {
        [
            key.to_string(),
            key.replace('_', "-"),
            key.replace('-', "_"),
        ]
        .iter()
        .find_map(|k| record.get(k))
    })
}

/// vLLM's `_get_numeric`: the first present key as a float (`"inf"` and numeric strings
/// included), `None` when absent (or zero, unless `allow_zero`).
fn numeric(
    record: &Map<String, Value>,
    keys: &[&str],
    allow_zero: bool,
) -> Result<Option<f64>, ParetoError> {
    let Some(value) = first_present(record, keys) else {
        return Ok(None);
    };
    let number = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) => python_float(s),
        _ => None,
    }
    .ok_or_else(|| ParetoError::NotNumeric {
        keys: keys.iter().map(|k| k.to_string()).collect(),
        found: value.to_string(),
    })?;
    Ok((allow_zero || number != 0.0).then_some(number))
}

/// Python's `float(str)` for the spellings a sweep record holds.
fn python_float(text: &str) -> Option<f64> {
    let t = text.trim().to_ascii_lowercase();
    match t.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" | "+nan" | "-nan" => Some(f64::NAN),
        _ => t.parse().ok(),
    }
}

/// Places every run: throughput over its user count (`user_count_var`, else `request_rate`,
/// else the observed `max_concurrent_requests`) and over its GPU count (`gpu_count_var`, else
/// TP × PP × DP of the keys present, else 1). Returns the points and how many runs had no
/// user count (skipped, as vLLM skips them).
pub fn prepare_points(
    records: &[Map<String, Value>],
    user_count_var: Option<&str>,
    gpu_count_var: Option<&str>,
) -> Result<(Vec<ParetoPoint>, usize), ParetoError> {
    let mut points = Vec::new();
    let mut skipped = 0;
    for record in records {
        let throughput = numeric(record, &["output_throughput"], true)?.ok_or_else(|| {
            ParetoError::NoThroughput(record.keys().cloned().collect::<Vec<_>>().join(", "))
        })?;
        let mut user_keys: Vec<&str> = user_count_var.into_iter().collect();
        user_keys.push("request_rate");
        let user_count = match numeric(record, &user_keys, false)? {
            Some(n) => Some(n),
            None => numeric(record, &["max_concurrent_requests"], false)?,
        };
        let Some(user_count) = user_count else {
            skipped += 1;
            continue;
        };
        let direct = match gpu_count_var {
            Some(var) => numeric(record, &[var], false)?,
            None => None,
        };
        let gpu_count = match direct {
            Some(n) => n,
            None => {
                let mut world = 1.0;
                for keys in [
                    ["tensor_parallel_size", "tp"],
                    ["pipeline_parallel_size", "pp"],
                    ["data_parallel_size", "dp"],
                ] {
                    if let Some(size) = numeric(record, &keys, true)?
                        && size != 0.0
                    {
                        world *= size;
                    }
                }
                world
            }
        };
        points.push(ParetoPoint {
            tokens_per_user: throughput / user_count,
            tokens_per_gpu: throughput / gpu_count,
            user_count,
            gpu_count,
            record: record.clone(),
        });
    }
    Ok((points, skipped))
}

/// The frontier's indices into `points`, by vLLM's `_pareto_frontier`: from the highest
/// tokens/s/user down (ties by the higher tokens/s/GPU first), a point is on the frontier when
/// its tokens/s/GPU is at least the best seen so far (less 10⁻⁹). So a point is off it exactly
/// when another has at least its tokens/s/user and more tokens/s/GPU; one that only ties the
/// best tokens/s/GPU at a lower tokens/s/user stays on it, as in vLLM. Points with a NaN
/// coordinate are left out (vLLM drops them first). Returned in ascending tokens/s/user, the
/// order the frontier's line is drawn in.
pub fn pareto_frontier(points: &[ParetoPoint]) -> Vec<usize> {
    const EPSILON: f64 = 1e-9;
    let mut order: Vec<usize> = (0..points.len())
        .filter(|&i| !points[i].tokens_per_user.is_nan() && !points[i].tokens_per_gpu.is_nan())
        .collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (&points[a], &points[b]);
        pb.tokens_per_user
            .total_cmp(&pa.tokens_per_user)
            .then(pb.tokens_per_gpu.total_cmp(&pa.tokens_per_gpu))
    });
    let mut best = f64::NEG_INFINITY;
    let mut front = Vec::new();
    for i in order {
        let y = points[i].tokens_per_gpu;
        if y >= best - EPSILON {
            front.push(i);
            best = best.max(y);
        }
    }
    front.sort_by(|&a, &b| {
        points[a]
            .tokens_per_user
            .total_cmp(&points[b].tokens_per_user)
    });
    front
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(value: serde_json::Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn point(x: f64, y: f64) -> ParetoPoint {
        ParetoPoint {
            tokens_per_user: x,
            tokens_per_gpu: y,
            user_count: 1.0,
            gpu_count: 1.0,
            record: Map::new(),
        }
    }

    #[test]
    fn the_frontier_of_a_known_set() {
        // (tokens/s/user, tokens/s/GPU). Dominated: (2, 5) by (3, 6); (1, 8) by (1, 9);
        // (4, 2) by (4, 3). (3, 6) twice: both kept; (2, 6) only ties (3, 6)'s tokens/s/GPU
        // at fewer tokens/s/user: kept too, as vLLM's `>= best - epsilon` keeps it.
        let pts: Vec<ParetoPoint> = [
            (1.0, 9.0),
            (2.0, 5.0),
            (3.0, 6.0),
            (4.0, 3.0),
            (5.0, 1.0),
            (1.0, 8.0),
            (4.0, 2.0),
            (3.0, 6.0),
            (2.0, 6.0),
            (f64::NAN, 100.0),
        ]
        .iter()
        .map(|&(x, y)| point(x, y))
        .collect();
        let front = pareto_frontier(&pts);
        let coords: Vec<(f64, f64)> = front
            .iter()
            .map(|&i| (pts[i].tokens_per_user, pts[i].tokens_per_gpu))
            .collect();
        assert_eq!(
            coords,
            [
                (1.0, 9.0),
                (2.0, 6.0),
                (3.0, 6.0),
                (3.0, 6.0),
                (4.0, 3.0),
                (5.0, 1.0)
            ]
        );
        assert!(pareto_frontier(&[]).is_empty());
    }

    proptest::proptest! {
        /// A point is off the frontier exactly when another has at least its tokens/s/user
        /// and strictly more tokens/s/GPU (vLLM's rule, see [`pareto_frontier`]).
        #[test]
        fn the_frontier_is_exactly_the_undominated_points(
            raw in proptest::collection::vec((0u8..20, 0u8..20), 1..40),
        ) {
            let pts: Vec<ParetoPoint> =
                raw.iter().map(|&(x, y)| point(f64::from(x), f64::from(y))).collect();
            let front = pareto_frontier(&pts);
            let dominates = |a: &ParetoPoint, b: &ParetoPoint| {
                a.tokens_per_user >= b.tokens_per_user && a.tokens_per_gpu > b.tokens_per_gpu
            };
            for (i, p) in pts.iter().enumerate() {
                let dominated = pts.iter().any(|q| dominates(q, p));
                proptest::prop_assert_eq!(front.contains(&i), !dominated, "point {}", i);
            }
        }
    }

    #[test]
    fn places_runs_by_user_and_gpu_counts_as_vllm_does() {
        let runs = vec![
            run(json!({"output_throughput": 1000.0, "max_concurrency": 10,
                       "tensor_parallel_size": 2, "data_parallel_size": 2})),
            // No max_concurrency: request_rate; "inf" reads as infinity (0 tokens per user).
            run(json!({"output_throughput": 600.0, "request_rate": "inf", "tp": 4})),
            // Neither: the observed peak.
            run(
                json!({"output_throughput": 500.0, "max_concurrent_requests": 25,
                       "max-concurrency": 0}),
            ),
            // No user count at all: skipped.
            run(json!({"output_throughput": 100.0})),
        ];
        let (points, skipped) = prepare_points(&runs, Some("max_concurrency"), None).unwrap();
        assert_eq!(skipped, 1);
        assert_eq!(
            points
                .iter()
                .map(|p| (p.tokens_per_user, p.tokens_per_gpu, p.gpu_count))
                .collect::<Vec<_>>(),
            [(100.0, 250.0, 4.0), (0.0, 150.0, 4.0), (20.0, 500.0, 1.0)]
        );
        let with_gpus = vec![run(
            json!({"output_throughput": 900.0, "max_concurrency": 3,
                                          "num_gpus": 3, "tp": 8}),
        )];
        let (points, _) =
            prepare_points(&with_gpus, Some("max_concurrency"), Some("num_gpus")).unwrap();
        assert_eq!(points[0].tokens_per_gpu, 300.0);
        let bad = vec![run(json!({"max_concurrency": 3}))];
        assert!(matches!(
            prepare_points(&bad, None, None),
            Err(ParetoError::NoThroughput(_))
        ));
        let bad = vec![run(
            json!({"output_throughput": "fast", "max_concurrency": 3}),
        )];
        assert!(
            prepare_points(&bad, None, None)
                .unwrap_err()
                .to_string()
                .contains("fast")
        );
    }
}
