//! Defines the crate's errors: [`ModelError`] for input that cannot be used at all, and
//! [`InvalidComponent`] for a component that vLLM would silently skip.

use std::fmt;
use std::path::PathBuf;

/// Why a model could not be loaded or estimated.
#[derive(Debug)]
#[non_exhaustive]
pub enum ModelError {
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A model directory has no `config.json`.
    NoConfigJson {
        /// The directory.
        dir: PathBuf,
    },
    /// A file is not valid JSON.
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        source: serde_json::Error,
    },
    /// The configuration is JSON but not usable as a Hugging Face config.
    InvalidConfig {
        /// The config key at fault (dotted for nested keys).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A dtype name is not one we know.
    UnknownDtype {
        /// Which setting (`dtype`, `kv-cache-dtype`).
        what: &'static str,
        /// The value given.
        value: String,
        /// The accepted values.
        expected: &'static str,
    },
    /// A deployment setting is out of range.
    InvalidSetting {
        /// The setting, spelled as the command-line flag.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A batch or a result is beyond what the model's arithmetic admits
    /// ([`crate::limits`]).
    BeyondLimits {
        /// What (`the step's tokens`, `the flops total`, …).
        what: String,
        /// By how much, and what to check.
        reason: String,
    },
    /// The tensor-parallel size does not divide the attention heads: vLLM 0.32 refuses the
    /// layout when it verifies the config (`ModelConfig.verify_with_parallel_config`).
    HeadsNotDivisibleByTp {
        /// The config field (`num_attention_heads`).
        field: &'static str,
        /// Its value.
        heads: u64,
        /// The tensor-parallel size asked for.
        tp: u64,
    },
    /// No preset has this name.
    UnknownPreset {
        /// The name given.
        name: String,
        /// The names that exist.
        available: Vec<&'static str>,
    },
    /// No GPU preset has this name (and it is not a JSON file).
    UnknownGpu {
        /// The name given.
        name: String,
        /// The presets that exist.
        available: Vec<&'static str>,
    },
    /// The weights (and the activation reserve) leave no memory for the KV cache on one GPU.
    DoesNotFit(Box<crate::kv::DoesNotFit>),
    /// Not one component of the model could be built: nothing can be estimated.
    NoComponents {
        /// Why each component was skipped.
        skipped: Vec<InvalidComponent>,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Io { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            ModelError::NoConfigJson { dir } => write!(
                f,
                "no config.json in {} (expected a Hugging Face model directory, the folder that \
                 holds the model's config.json)",
                dir.display()
            ),
            ModelError::Json { path, source } => {
                write!(f, "{} is not valid JSON: {source}", path.display())
            }
            ModelError::InvalidConfig { field, reason } => {
                write!(f, "invalid model config: `{field}` {reason}")
            }
            ModelError::UnknownDtype {
                what,
                value,
                expected,
            } => write!(f, "unknown {what} `{value}` (expected one of: {expected})"),
            ModelError::InvalidSetting { setting, reason } => {
                write!(f, "invalid --{setting}: {reason}")
            }
            ModelError::BeyondLimits { what, reason } => write!(f, "{what} {reason}"),
            ModelError::HeadsNotDivisibleByTp { field, heads, tp } => {
                let divisors: Vec<String> = (1..=*heads)
                    .filter(|d| heads.is_multiple_of(*d))
                    .take(12)
                    .map(|d| d.to_string())
                    .collect();
                write!(
                    f,
                    "`{field}` ({heads}) is not divisible by --tensor-parallel-size {tp}, so vLLM \
                     refuses this layout; use a tensor-parallel size that divides {heads} ({})",
                    divisors.join(", ")
                )
            }
            ModelError::UnknownPreset { name, available } => write!(
                f,
                "no model preset named `{name}` (available: {})",
                available.join(", ")
            ),
            ModelError::UnknownGpu { name, available } => write!(
                f,
                "no GPU preset named `{name}` (available: {}; or give a JSON file)",
                available.join(", ")
            ),
            ModelError::DoesNotFit(fit) => fit.fmt(f),
            ModelError::NoComponents { skipped } => {
                write!(f, "no component of the model can be estimated:")?;
                for s in skipped {
                    write!(f, " [{s}]")?;
                }
                Ok(())
            }
        }
    }
}

/// The source errors (`Io`, `Json`) are printed in the message itself and are not returned by
/// `source()`, so that a chain printer (anyhow's `{:#}`) does not print them twice.
impl std::error::Error for ModelError {}

/// A component that cannot be built for this model (vLLM's `InvalidComponent`): the model's
/// other components are still estimated, exactly as vLLM skips it with a debug log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidComponent {
    /// The component (`attn`, `mla_attn`, `ffn`, `unembed`).
    pub component: &'static str,
    /// Why, naming the config field at fault.
    pub reason: String,
}

impl fmt::Display for InvalidComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.component, self.reason)
    }
}

impl std::error::Error for InvalidComponent {}
