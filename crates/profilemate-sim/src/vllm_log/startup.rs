//! Provides [`StartupInfo`]: the startup lines of a vLLM 0.32 server that state the deployment,
//! as `profilemate analyze log` reads them — the non-default args, the chunked-prefill line,
//! the engine config line and the KV cache size line.

use std::io::Write;
use std::time::Duration;

use profilemate_model::Deployment;

use super::envelope::{Logger, Process, origin};
use crate::config::EngineConfig;

/// What the startup lines state: the model, its deployment and the engine settings.
#[derive(Debug, Clone)]
pub struct StartupInfo<'a> {
    /// The model as `--model` named it.
    pub model: &'a str,
    /// `quantization` of the checkpoint, if any.
    pub quantization: Option<&'a str>,
    /// Dtypes and parallel layout.
    pub deployment: &'a Deployment,
    /// The engine settings the run used.
    pub engine: &'a EngineConfig,
    /// Whether the KV cache size was given (`--num-gpu-blocks-override`) rather than profiled.
    pub num_gpu_blocks_override: bool,
    /// `device_config` (`cuda`).
    pub device: &'a str,
    /// Boolean flags given on the command line (`enable_mfu_metrics`, …), for the
    /// non-default args line.
    pub flags: &'a [&'a str],
}

impl StartupInfo<'_> {
    /// Writes the lines at virtual time 0.
    pub fn write<W: Write>(&self, logger: &mut Logger<W>) {
        let at = Duration::ZERO;
        logger.info(at, origin::NON_DEFAULT_ARGS, &self.non_default_args());
        if self.engine.enable_chunked_prefill {
            // Mirrors `SchedulerConfig.__post_init__` (vllm/config/scheduler.py).
            let tokens = self.engine.max_num_batched_tokens;
            let line = format!("Chunked prefill is enabled with max_num_batched_tokens={tokens}.");
            logger.info(at, origin::CHUNKED_PREFILL, &line);
        }
        let config = self.engine_config();
        logger.info_from(Process::EngineCore, at, origin::ENGINE_CONFIG, &config);
        let kv = self.kv_cache_size();
        logger.info_from(Process::EngineCore, at, origin::KV_CACHE_SIZE, &kv);
    }

    /// `non-default args: {…}` (`log_non_default_args`, vllm/entrypoints/serve/utils/api_utils.py).
    /// Unlike vLLM, the scheduler limits are listed whether given or defaulted, so the log
    /// states the limits the run used.
    fn non_default_args(&self) -> String {
        let e = self.engine;
        let mut args = vec![
            format!("'model': '{}'", self.model),
            format!("'max_model_len': {}", e.max_model_len),
            format!("'block_size': {}", e.block_size),
        ];
        if self.num_gpu_blocks_override {
            args.push(format!("'num_gpu_blocks_override': {}", e.num_gpu_blocks));
        }
        args.push(format!(
            "'enable_prefix_caching': {}",
            python_bool(e.enable_prefix_caching)
        ));
        args.extend(self.flags.iter().map(|f| format!("'{f}': True")));
        args.push(format!(
            "'max_num_batched_tokens': {}",
            e.max_num_batched_tokens
        ));
        args.push(format!("'max_num_seqs': {}", e.max_num_seqs));
        format!("non-default args: {{{}}}", args.join(", "))
    }

    /// `Initializing a V1 LLM engine (v0.32.0) with config: …`: the fields of
    /// `VllmConfig.__str__` (vllm/config/vllm.py) that the simulation knows, in its order.
    fn engine_config(&self) -> String {
        let (d, e) = (self.deployment, self.engine);
        let p = &d.parallel;
        let mode = e.cudagraph.mode;
        let mode_value = match mode.name() {
            "NONE" => "0",
            "PIECEWISE" => "1",
            "FULL" => "2",
            "FULL_DECODE_ONLY" => "(2, 0)",
            _ => "(2, 1)",
        };
        let spec = match &e.spec_decode {
            Some(s) => format!("{{'num_speculative_tokens': {}}}", s.num_speculative_tokens),
            None => "None".to_owned(),
        };
        format!(
            "Initializing a V1 LLM engine (v0.32.0) with config: model='{model}', \
             speculative_config={spec}, tokenizer='{model}', dtype=torch.{dtype}, \
             max_seq_len={len}, tensor_parallel_size={tp}, pipeline_parallel_size={pp}, \
             data_parallel_size={dp}, quantization={quant}, enforce_eager={eager}, \
             kv_cache_dtype={kv}, device_config={device}, seed={seed}, \
             served_model_name={model}, enable_prefix_caching={prefix}, \
             enable_chunked_prefill={chunked}, compilation_config={{'cudagraph_mode': \
             <CUDAGraphMode.{mode_name}: {mode_value}>}}",
            model = self.model,
            dtype = d.dtype,
            len = e.max_model_len,
            tp = p.tp,
            pp = p.pp,
            dp = p.dp,
            quant = self.quantization.unwrap_or("None"),
            eager = python_bool(mode.name() == "NONE"),
            kv = d.kv_cache_dtype,
            device = self.device,
            seed = e.seed,
            prefix = python_bool(e.enable_prefix_caching),
            chunked = python_bool(e.enable_chunked_prefill),
            mode_name = mode.name(),
        )
    }

    /// `{GPU} KV cache size: N tokens, Maximum concurrency for L tokens per request: C.CCx`,
    /// with `get_kv_cache_capacity`'s arithmetic for one full-attention group
    /// (vllm/v1/core/kv_cache_utils.py): C = blocks / ceil(L / block size), N = ⌊C × L⌋.
    fn kv_cache_size(&self) -> String {
        let e = self.engine;
        let len = u64::from(e.max_model_len);
        let per_request = len.div_ceil(u64::from(e.block_size.max(1))).max(1);
        let concurrency = f64::from(e.num_gpu_blocks) / per_request as f64;
        let tokens = (concurrency * len as f64) as u64;
        let pool = if self.device == "cuda" {
            "GPU".to_owned()
        } else {
            self.device.to_uppercase()
        };
        format!(
            "{pool} KV cache size: {} tokens, Maximum concurrency for {} tokens per request: {concurrency:.2}x",
            grouped(tokens),
            grouped(len)
        )
    }
}

fn python_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// `16384` → `16,384` (Python's `f"{n:,}"`).
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EngineConfig;
    use crate::cudagraph::CudaGraphConfig;
    use crate::vllm_log::LogClock;
    use profilemate_model::Dtype;

    /// The run2-sched capture's settings give its KV cache line and the values of its
    /// engine config line.
    #[test]
    fn lines_state_the_run2_capture_settings() {
        let engine = EngineConfig {
            max_num_seqs: 8,
            max_num_batched_tokens: 512,
            block_size: 128,
            num_gpu_blocks: 128,
            enable_prefix_caching: false,
            max_model_len: 2048,
            cudagraph: CudaGraphConfig::eager(),
            ..EngineConfig::default()
        };
        let deployment = Deployment::new(Dtype::Bfloat16);
        let info = StartupInfo {
            model: "./tiny-llama",
            quantization: None,
            deployment: &deployment,
            engine: &engine,
            num_gpu_blocks_override: true,
            device: "cpu",
            flags: &["enable_mfu_metrics"],
        };
        let mut logger = Logger::new(Vec::new(), LogClock::Virtual { start_unix_secs: 0 }, 1);
        info.write(&mut logger);
        let text = String::from_utf8(logger.get_ref().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].ends_with(
            "non-default args: {'model': './tiny-llama', 'max_model_len': 2048, 'block_size': 128, \
             'num_gpu_blocks_override': 128, 'enable_prefix_caching': False, \
             'enable_mfu_metrics': True, 'max_num_batched_tokens': 512, 'max_num_seqs': 8}"
        ));
        assert!(lines[1].ends_with(
            "[scheduler.py:307] Chunked prefill is enabled with max_num_batched_tokens=512."
        ));
        assert!(lines[2].starts_with("(EngineCore pid=2) INFO 01-01 00:00:00 [core.py:133] "));
        for field in [
            "model='./tiny-llama', speculative_config=None",
            ", dtype=torch.bfloat16, max_seq_len=2048, tensor_parallel_size=1,",
            ", quantization=None, enforce_eager=True, kv_cache_dtype=auto, device_config=cpu,",
            ", enable_prefix_caching=False, enable_chunked_prefill=True,",
            "{'cudagraph_mode': <CUDAGraphMode.NONE: 0>}",
        ] {
            assert!(lines[2].contains(field), "{field} in {}", lines[2]);
        }
        assert!(lines[3].ends_with(
            "[kv_cache_utils.py:2327] CPU KV cache size: 16,384 tokens, \
             Maximum concurrency for 2,048 tokens per request: 8.00x"
        ));
    }

    #[test]
    fn numbers_are_grouped_like_python() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1_234_567, "1,234,567"),
        ];
        for (n, text) in cases {
            assert_eq!(grouped(n), text);
        }
    }
}
