//! The MFU exporter: `vllm:estimated_{flops,read_bytes,write_bytes}_per_gpu_total` per engine,
//! fed from the model crate's [`PerfStats`] (`PerfMetricsProm` in vLLM's `v1/metrics/perf.py`).
//!
//! TFLOPS is then `rate(vllm:estimated_flops_per_gpu_total[1m]) / 1e12`.

use profilemate_model::PerfStats;

use crate::catalogue;
use crate::error::{ExportError, RegistryError};
use crate::registry::{Counter, EngineLabels, PerEngine, Registry, per_engine};

/// The three registered names, in the order vLLM registers them.
pub const MFU_METRICS: [&str; 3] = [
    "vllm:estimated_flops_per_gpu_total",
    "vllm:estimated_read_bytes_per_gpu_total",
    "vllm:estimated_write_bytes_per_gpu_total",
];

/// Per-engine handles on the three MFU counters.
#[derive(Debug, Clone)]
pub struct MfuExporter {
    flops: PerEngine<Counter>,
    read_bytes: PerEngine<Counter>,
    write_bytes: PerEngine<Counter>,
}

impl MfuExporter {
    /// Registers the counters (help text from the catalogue) and binds them for every engine.
    pub fn new(registry: &Registry, engines: &EngineLabels) -> Result<Self, RegistryError> {
        let bind = |name: &str| {
            let help = catalogue::lookup(name).map_or("", |d| d.help);
            let family = registry.counter(name, help, &EngineLabels::NAMES)?;
            per_engine(&family, engines, &[])
        };
        let [flops, read, write] = MFU_METRICS;
        Ok(Self {
            flops: bind(flops)?,
            read_bytes: bind(read)?,
            write_bytes: bind(write)?,
        })
    }

    /// Adds one step's estimate for `engine`. All-zero stats are skipped, as vLLM does.
    pub fn observe(&self, stats: &PerfStats, engine: usize) -> Result<(), ExportError> {
        let handles = (
            self.flops.get(engine),
            self.read_bytes.get(engine),
            self.write_bytes.get(engine),
        );
        let (Some(flops), Some(read), Some(write)) = handles else {
            return Err(ExportError::UnknownEngine(engine));
        };
        if !stats.is_zero() {
            flops.inc_by(stats.num_flops_per_gpu as f64);
            read.inc_by(stats.num_read_bytes_per_gpu as f64);
            write.inc_by(stats.num_write_bytes_per_gpu as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;
    use crate::query::Matcher;

    fn stats(flops: u128, read: u128, write: u128) -> PerfStats {
        PerfStats {
            num_flops_per_gpu: flops,
            num_read_bytes_per_gpu: read,
            num_write_bytes_per_gpu: write,
            ..PerfStats::default()
        }
    }

    #[test]
    fn accumulates_per_engine_and_renders_like_vllm() {
        let reg = Registry::new();
        let mfu = MfuExporter::new(&reg, &EngineLabels::new("tiny-llama", [0, 1])).unwrap();
        mfu.observe(&stats(3_000_000_000, 10, 0), 0).unwrap();
        mfu.observe(&stats(34_803_556_352 - 3_000_000_000, 5, 7), 0)
            .unwrap();
        mfu.observe(&stats(0, 0, 0), 1).unwrap();
        let text = reg.render();
        let want = "vllm:estimated_flops_per_gpu_total{engine=\"0\",model_name=\"tiny-llama\"} 3.4803556352e+10\n";
        assert!(text.contains(want), "{text}");
        let scrape = parse(&text).unwrap();
        let e = |i| [Matcher::eq("engine", i)];
        assert_eq!(
            scrape.value("vllm:estimated_read_bytes_per_gpu_total", &e("0")),
            Some(15.0)
        );
        assert_eq!(
            scrape.value("vllm:estimated_write_bytes_per_gpu_total", &e("0")),
            Some(7.0)
        );
        assert_eq!(
            scrape.value("vllm:estimated_flops_per_gpu_total", &e("1")),
            Some(0.0)
        );
        assert!(
            scrape
                .value("vllm:estimated_flops_per_gpu_created", &e("1"))
                .is_some()
        );
        let help = "# HELP vllm:estimated_flops_per_gpu_total Estimated number of floating point \
                    operations per GPU (for Model Flops Utilization calculations).\n";
        assert!(text.starts_with(help));
    }

    #[test]
    fn unknown_engines_are_errors() {
        let mfu = MfuExporter::new(&Registry::new(), &EngineLabels::new("m", [0])).unwrap();
        assert!(matches!(
            mfu.observe(&stats(1, 1, 1), 3),
            Err(ExportError::UnknownEngine(3))
        ));
    }
}
