//! Name aliases: Ray-style `vllm_` spellings of `vllm:` names, and removed V0 names.

use std::borrow::Cow;

/// The canonical `vllm:` spelling of a metric or sample name.
///
/// vLLM's Ray exporter replaces every character outside `[a-zA-Z0-9_]` with `_`, so `vllm:x` is
/// exported as `vllm_x` (and some Ray setups prefix application metrics with `ray_`). Both map
/// back to `vllm:x`; every other name is returned unchanged.
pub fn canonical_name(name: &str) -> Cow<'_, str> {
    let rest = name
        .strip_prefix("ray_vllm_")
        .or_else(|| name.strip_prefix("vllm_"));
    match rest {
        Some(rest) => Cow::Owned(format!("vllm:{rest}")),
        None => Cow::Borrowed(name),
    }
}

/// Whether two names denote the same metric once Ray spellings are folded.
pub fn same_metric(a: &str, b: &str) -> bool {
    a == b || canonical_name(a) == canonical_name(b)
}

/// Removed vLLM V0 names still read by community tools, with their 0.32 replacement where one
/// exists (observability anchors §1.8).
pub const REMOVED_V0_NAMES: &[(&str, Option<&str>)] = &[
    (
        "vllm:gpu_cache_usage_perc",
        Some("vllm:kv_cache_usage_perc"),
    ),
    ("vllm:num_requests_swapped", None),
    ("vllm:cpu_cache_usage_perc", None),
    ("vllm:cpu_prefix_cache_hit_rate", None),
    ("vllm:gpu_prefix_cache_hit_rate", None),
    (
        "vllm:time_in_queue_requests",
        Some("vllm:request_queue_time_seconds"),
    ),
    ("vllm:model_forward_time_milliseconds", None),
    ("vllm:model_execute_time_milliseconds", None),
];

/// The 0.32 replacement for a removed V0 name (Ray spellings accepted), if it has one.
pub fn replacement_for_removed(name: &str) -> Option<&'static str> {
    let name = canonical_name(name);
    REMOVED_V0_NAMES
        .iter()
        .find(|(old, _)| *old == name)
        .and_then(|(_, new)| *new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ray_names_fold_to_colon_names() {
        assert_eq!(
            canonical_name("vllm_num_requests_waiting"),
            "vllm:num_requests_waiting"
        );
        assert_eq!(
            canonical_name("ray_vllm_kv_cache_usage_perc"),
            "vllm:kv_cache_usage_perc"
        );
        assert_eq!(
            canonical_name("vllm:num_requests_running"),
            "vllm:num_requests_running"
        );
        assert_eq!(canonical_name("process_open_fds"), "process_open_fds");
        assert!(same_metric(
            "vllm_prompt_tokens_total",
            "vllm:prompt_tokens_total"
        ));
        assert!(!same_metric(
            "vllm_prompt_tokens_total",
            "vllm:generation_tokens_total"
        ));
    }

    #[test]
    fn removed_names_point_at_replacements() {
        assert_eq!(
            replacement_for_removed("vllm_gpu_cache_usage_perc"),
            Some("vllm:kv_cache_usage_perc")
        );
        assert_eq!(replacement_for_removed("vllm:num_requests_swapped"), None);
        assert_eq!(replacement_for_removed("vllm:num_requests_running"), None);
    }
}
