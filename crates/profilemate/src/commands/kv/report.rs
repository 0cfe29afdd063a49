//! Renders the `kv` report: a table for people, JSON with integer byte counts for machines.

use std::fmt::Write;

use profilemate_model::kv::{KvCapacity, KvLayout, KvRow, KvSizingConfig};
use serde_json::{Value, json};

use profilemate_model::hardware::Gpu;

use crate::commands::deployment_args::Setup;

/// Everything `kv` computed.
pub(crate) struct KvReport<'a> {
    pub(crate) resolved: &'a Setup,
    pub(crate) gpu: &'a Gpu,
    pub(crate) whole: KvLayout,
    pub(crate) per_gpu: KvLayout,
    pub(crate) sizing: KvSizingConfig,
    pub(crate) capacity: KvCapacity,
    pub(crate) rows: Vec<KvRow>,
}

impl KvReport<'_> {
    /// KV bytes of `max_model_len × max_num_seqs` tokens, whole model.
    fn kv_cache_bytes(&self) -> u128 {
        self.whole.bytes_for_sequence(self.sizing.max_model_len)
            * u128::from(self.sizing.max_num_seqs)
    }

    /// The human report.
    pub(crate) fn to_table(&self) -> String {
        let mut out = String::new();
        self.write_header(&mut out);
        let _ = writeln!(
            out,
            "\n{:>13} {:>12} {:>14} {:>6} {:>13} {:>14} {:>7} {:>12}",
            "max_model_len",
            "KV/seq",
            "KV×max_seqs",
            "fit",
            "decode KV/req",
            "prefill attn",
            "batch",
            "decode step"
        );
        for row in &self.rows {
            let step = row.decode_step_time.map_or_else(
                || "-".to_owned(),
                |t| format!("{:.2} ms", t.as_secs_f64() * 1e3),
            );
            let _ = writeln!(
                out,
                "{:>13} {:>12} {:>14} {:>6} {:>13} {:>14} {:>7} {:>12}",
                row.max_model_len,
                binary(row.kv_bytes_per_sequence),
                binary(row.kv_bytes_for_max_num_seqs),
                row.max_concurrent_sequences,
                binary(row.decode_kv_read_per_request),
                format!("{:.2} TFLOP", row.prefill_attention_flops as f64 / 1e12),
                row.decode_batch,
                step,
            );
        }
        out.push_str(
            "\nKV/seq and decode KV/req: all layers, whole model. fit: full-length sequences in the KV \
             budget. prefill attn: QKᵀ+AV FLOPs of one fresh prompt as vLLM counts them (no causal \
             halving). decode step: roofline time of `batch` requests at that context (default \
             efficiencies).\n",
        );
        out
    }

    fn write_header(&self, out: &mut String) {
        let (r, w, c, s) = (self.resolved, &self.whole, &self.capacity, &self.sizing);
        let d = &r.deployment;
        let _ = writeln!(
            out,
            "model        {} ({}, {} cache, {} {})",
            r.label,
            w.kind,
            d.kv_cache_dtype,
            d.parallel.label(),
            d.dtype
        );
        let _ = writeln!(
            out,
            "KV / token   {} (all {} layers){}",
            binary(u128::from(w.bytes_per_token())),
            w.full_layers + w.sliding_layers,
            window_note(w)
        );
        let _ = writeln!(
            out,
            "             {} per GPU",
            binary(u128::from(self.per_gpu.bytes_per_token()))
        );
        let _ = writeln!(
            out,
            "GPU          {}: {} × {:.2} = {} − weights {} − reserve {} = KV {}",
            self.gpu.name,
            binary(u128::from(self.gpu.memory_bytes)),
            s.gpu_memory_utilization,
            binary(u128::from(c.budget_bytes)),
            binary(u128::from(c.weight_bytes)),
            binary(u128::from(c.activation_reserve_bytes)),
            binary(u128::from(c.kv_bytes))
        );
        let _ = writeln!(
            out,
            "capacity     {} tokens per GPU; {:.2} sequences of {} tokens",
            c.tokens, c.max_len_sequences, s.max_model_len
        );
        let _ = writeln!(
            out,
            "KV for {} × {} seqs: {} (whole model)",
            s.max_model_len,
            s.max_num_seqs,
            binary(self.kv_cache_bytes())
        );
    }

    /// The JSON document; byte counts are integers.
    pub(crate) fn to_json(&self) -> Value {
        let (r, c, s) = (self.resolved, &self.capacity, &self.sizing);
        json!({
            "model": r.label,
            "attention": self.whole.kind,
            "kv_cache_dtype": r.deployment.kv_cache_dtype.name(),
            "gpu": self.gpu.name,
            "max_model_len": s.max_model_len,
            "max_num_seqs": s.max_num_seqs,
            "gpu_memory_utilization": s.gpu_memory_utilization,
            "kv_cache_bytes_per_token": self.whole.bytes_per_token(),
            "kv_cache_bytes_per_token_per_gpu": self.per_gpu.bytes_per_token(),
            "kv_cache_bytes": int(self.kv_cache_bytes()),
            "num_layers": self.whole.full_layers + self.whole.sliding_layers,
            "num_sliding_layers": self.whole.sliding_layers,
            "sliding_window": self.whole.sliding_window,
            "capacity": {
                "budget_bytes": c.budget_bytes,
                "weight_bytes": c.weight_bytes,
                "activation_reserve_bytes": c.activation_reserve_bytes,
                "kv_bytes": c.kv_bytes,
                "tokens": c.tokens,
                "max_model_len_sequences": c.max_len_sequences,
            },
            "table": self.rows.iter().map(row_json).collect::<Vec<_>>(),
        })
    }
}

fn row_json(row: &KvRow) -> Value {
    json!({
        "max_model_len": row.max_model_len,
        "kv_bytes_per_sequence": int(row.kv_bytes_per_sequence),
        "kv_bytes_for_max_num_seqs": int(row.kv_bytes_for_max_num_seqs),
        "max_concurrent_sequences": row.max_concurrent_sequences,
        "decode_kv_read_bytes_per_request": int(row.decode_kv_read_per_request),
        "prefill_attention_flops": int(row.prefill_attention_flops),
        "decode_batch": row.decode_batch,
        "decode_step_time_ms": row.decode_step_time.map(|t| t.as_secs_f64() * 1e3),
    })
}

/// A JSON integer; counts past `u64::MAX` (16 EiB) saturate.
fn int(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

fn window_note(w: &KvLayout) -> String {
    match w.sliding_window {
        Some(win) if w.sliding_layers > 0 => {
            format!("; {} sliding layers keep {win} tokens", w.sliding_layers)
        }
        _ => String::new(),
    }
}

/// Bytes with a binary prefix: `512.00 GiB`, `64.00 MiB`.
fn binary(bytes: u128) -> String {
    const UNITS: [(u32, &str); 4] = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")];
    match UNITS.iter().find(|(shift, _)| bytes >= 1u128 << shift) {
        Some((shift, unit)) => format!("{:.2} {unit}", bytes as f64 / (1u128 << shift) as f64),
        None => format!("{bytes} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::binary;

    #[test]
    fn binary_prefixes() {
        assert_eq!(binary(512 << 30), "512.00 GiB");
        assert_eq!(binary(524_288), "512.00 KiB");
        assert_eq!(binary(1000), "1000 B");
    }
}
