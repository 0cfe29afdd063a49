//! Provides the golden-case runner: one JSON case in the schema of
//! `testdata/goldens/perf/README.md` in, vLLM's breakdowns out.
//!
//! A case names a model directory, dtype, KV-cache dtype, parallel layout, a batch of
//! `[num_tokens, context_len, is_prefill]` rows and `per_gpu`; the answer is the component list
//! and the three breakdowns, exactly as `ModelMetrics` returns them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::breakdown::Breakdown;
use crate::components::{Deployment, Metric};
use crate::context::ExecutionContext;
use crate::dtype::{Dtype, KvCacheDtype};
use crate::error::ModelError;
use crate::model::PerfModel;
use crate::parallel::ParallelConfig;
use crate::spec::ModelSpec;

/// One golden case (extra keys such as the expected answers are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// Unique case id.
    pub id: String,
    /// Model directory name under the configs directory.
    pub model: String,
    /// Model dtype.
    pub dtype: String,
    /// KV-cache dtype.
    pub kv_cache_dtype: String,
    /// Parallel layout.
    pub parallel: CaseParallel,
    /// `[num_tokens, context_len, is_prefill]` rows, added in order.
    pub batch: Vec<(u64, u64, bool)>,
    /// Whether to divide per GPU.
    pub per_gpu: bool,
}

/// The `parallel` object of a case.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct CaseParallel {
    /// Tensor-parallel size.
    pub tp: u64,
    /// Pipeline-parallel size.
    pub pp: u64,
    /// Data-parallel size.
    pub dp: u64,
    /// `enable_expert_parallel`.
    pub ep: bool,
}

/// The answer to a case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseAnswer {
    /// The case id.
    pub id: String,
    /// Component types vLLM instantiates, in order.
    pub components: Vec<&'static str>,
    /// FLOPs breakdown.
    pub flops: Breakdown,
    /// Read-bytes breakdown.
    pub read_bytes: Breakdown,
    /// Write-bytes breakdown.
    pub write_bytes: Breakdown,
}

impl Case {
    /// The deployment the case describes.
    pub fn deployment(&self) -> Result<Deployment, ModelError> {
        let p = self.parallel;
        Ok(Deployment {
            dtype: self.dtype.parse::<Dtype>()?,
            kv_cache_dtype: self.kv_cache_dtype.parse::<KvCacheDtype>()?,
            parallel: ParallelConfig::new(p.tp, p.pp, p.dp, p.ep)?,
            disable_sliding_window: false,
        })
    }

    /// The case's batch as an [`ExecutionContext`].
    pub fn context(&self) -> ExecutionContext {
        let mut ctx = ExecutionContext::new();
        for &(tokens, context_len, is_prefill) in &self.batch {
            ctx.add(tokens, context_len, is_prefill);
        }
        ctx
    }

    /// Answers the case for `spec`; a layout vLLM refuses is refused
    /// ([`crate::ParallelConfig::verify_for`]).
    pub fn answer(&self, spec: &ModelSpec) -> Result<CaseAnswer, ModelError> {
        let deployment = self.deployment()?;
        deployment.parallel.verify_for(spec)?;
        let model = PerfModel::vllm_exact_lenient(spec, &deployment);
        let ctx = self.context();
        crate::limits::check_batch(&ctx)?;
        let [flops, read_bytes, write_bytes] =
            Metric::ALL.map(|m| model.breakdown(m, &ctx, self.per_gpu));
        for (what, breakdown) in [
            ("flops", &flops),
            ("read_bytes", &read_bytes),
            ("write_bytes", &write_bytes),
        ] {
            crate::limits::fits_u64(what, breakdown.total())?;
        }
        Ok(CaseAnswer {
            id: self.id.clone(),
            components: model.component_types().collect(),
            flops,
            read_bytes,
            write_bytes,
        })
    }
}

/// Answers case lines against model directories under one configs directory, caching specs.
#[derive(Debug)]
pub struct CaseRunner {
    configs_dir: PathBuf,
    specs: HashMap<String, ModelSpec>,
}

impl CaseRunner {
    /// A runner reading `<configs_dir>/<model>/config.json`.
    pub fn new(configs_dir: &Path) -> Self {
        Self {
            configs_dir: configs_dir.to_path_buf(),
            specs: HashMap::new(),
        }
    }

    /// Answers one JSONL line: the answer object, or `{"id", "error"}` when the case cannot be
    /// computed (the second element is then `false`).
    pub fn answer_line(&mut self, line: &str) -> (Value, bool) {
        let case: Case = match serde_json::from_str(line) {
            Ok(case) => case,
            Err(err) => {
                return (
                    error_value(id_of(line), &format!("invalid case: {err}")),
                    false,
                );
            }
        };
        match self.answer(&case) {
            Ok(answer) => (serde_json::to_value(answer).unwrap_or(Value::Null), true),
            Err(err) => (error_value(Value::from(case.id), &err.to_string()), false),
        }
    }

    /// Answers a parsed case.
    pub fn answer(&mut self, case: &Case) -> Result<CaseAnswer, ModelError> {
        if !self.specs.contains_key(&case.model) {
            let spec = ModelSpec::load(&self.configs_dir.join(&case.model))?;
            self.specs.insert(case.model.clone(), spec);
        }
        case.answer(&self.specs[&case.model])
    }
}

fn id_of(line: &str) -> Value {
    serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .unwrap_or(Value::Null)
}

fn error_value(id: Value, message: &str) -> Value {
    serde_json::json!({ "id": id, "error": message })
}
