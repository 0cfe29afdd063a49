//! Provides [`Gpu`]: the peak figures of one accelerator, from a built-in preset or a user's
//! JSON file.
//!
//! The user format is JSON (no TOML parser is pulled into this pure crate):
//!
//! ```json
//! { "name": "my-gpu", "memory_gib": 80, "memory_bandwidth_gb_s": 3350,
//!   "bf16_tflops": 989.4, "fp8_tflops": 1978.9, "interconnect_gb_s": 900 }
//! ```
//!
//! `fp8_tflops`, `interconnect_gb_s`, `description` and `data_center_blackwell` are optional.

pub mod presets;

use std::borrow::Cow;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// One accelerator's peaks, in base units (bytes, bytes/s, FLOP/s).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gpu {
    /// Short name used on the command line (`h100-sxm`).
    pub name: Cow<'static, str>,
    /// Marketing name.
    pub description: Cow<'static, str>,
    /// Device memory in bytes, as the driver reports it.
    pub memory_bytes: u64,
    /// Peak device-memory bandwidth in bytes/s.
    pub memory_bandwidth: f64,
    /// Peak dense BF16/FP16 Tensor Core FLOP/s.
    pub bf16_flops: f64,
    /// Peak dense FP8 FLOP/s, if the GPU has FP8 Tensor Cores.
    pub fp8_flops: Option<f64>,
    /// Per-GPU interconnect bandwidth in bytes/s, both directions together (datasheet).
    pub interconnect_bandwidth: f64,
    /// Device-capability family 100 (B200/GB200): vLLM's default capture ceiling is 1024.
    pub data_center_blackwell: bool,
}

impl Gpu {
    /// The peak matmul FLOP/s: the FP8 peak when `fp8_compute` (W8A8) and the GPU has FP8
    /// Tensor Cores, else the BF16 peak.
    pub fn peak_flops(&self, fp8_compute: bool) -> f64 {
        match (fp8_compute, self.fp8_flops) {
            (true, Some(fp8)) => fp8,
            _ => self.bf16_flops,
        }
    }

    /// Interconnect bandwidth in one direction (half the datasheet figure), which bounds a ring
    /// collective.
    pub fn interconnect_unidirectional(&self) -> f64 {
        self.interconnect_bandwidth / 2.0
    }

    /// Reads a user-defined GPU from a JSON file (see the module docs for the format).
    pub fn load(path: &Path) -> Result<Gpu, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_owned(),
            source,
        })?;
        Gpu::from_json_str(&text).map_err(|e| match e {
            GpuFileError::Json(source) => ModelError::Json {
                path: path.to_owned(),
                source,
            },
            GpuFileError::Invalid(reason) => ModelError::InvalidSetting {
                setting: "gpu",
                reason: format!("{}: {reason}", path.display()),
            },
        })
    }

    /// Parses a user-defined GPU from JSON text.
    pub fn from_json_str(text: &str) -> Result<Gpu, GpuFileError> {
        let file: GpuFile = serde_json::from_str(text).map_err(GpuFileError::Json)?;
        file.into_gpu()
    }
}

/// Why a GPU file was rejected.
#[derive(Debug)]
pub enum GpuFileError {
    /// Not JSON of the expected shape.
    Json(serde_json::Error),
    /// A figure is out of range (named in the message).
    Invalid(String),
}

impl std::fmt::Display for GpuFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuFileError::Json(e) => write!(f, "not a GPU description: {e}"),
            GpuFileError::Invalid(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for GpuFileError {}

/// The on-disk GPU format, in datasheet units.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GpuFile {
    name: String,
    #[serde(default)]
    description: Option<String>,
    memory_gib: f64,
    memory_bandwidth_gb_s: f64,
    bf16_tflops: f64,
    #[serde(default)]
    fp8_tflops: Option<f64>,
    #[serde(default)]
    interconnect_gb_s: Option<f64>,
    #[serde(default)]
    data_center_blackwell: bool,
}

impl GpuFile {
    fn into_gpu(self) -> Result<Gpu, GpuFileError> {
        for (field, value) in [
            ("memory_gib", Some(self.memory_gib)),
            ("memory_bandwidth_gb_s", Some(self.memory_bandwidth_gb_s)),
            ("bf16_tflops", Some(self.bf16_tflops)),
            ("fp8_tflops", self.fp8_tflops),
            ("interconnect_gb_s", self.interconnect_gb_s),
        ] {
            if value.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
                return Err(GpuFileError::Invalid(format!(
                    "`{field}` must be a positive number"
                )));
            }
        }
        Ok(Gpu {
            description: Cow::Owned(self.description.unwrap_or_else(|| self.name.clone())),
            name: Cow::Owned(self.name),
            memory_bytes: (self.memory_gib * (1u64 << 30) as f64) as u64,
            memory_bandwidth: self.memory_bandwidth_gb_s * 1e9,
            bf16_flops: self.bf16_tflops * 1e12,
            fp8_flops: self.fp8_tflops.map(|t| t * 1e12),
            interconnect_bandwidth: self.interconnect_gb_s.unwrap_or(0.0) * 1e9,
            data_center_blackwell: self.data_center_blackwell,
        })
    }
}

/// Short aliases accepted on the command line, in [`normalise`]d form.
const ALIASES: &[(&str, &str)] = &[
    ("a100", "a100-80gb"),
    ("a10040", "a100-40gb"),
    ("a10080", "a100-80gb"),
    ("h100", "h100-sxm"),
    ("h100sxm5", "h100-sxm"),
    ("h200sxm", "h200"),
    ("rtxpro6000blackwell", "rtx-pro-6000"),
    ("rtxpro6000server", "rtx-pro-6000"),
    ("rtxpro6000blackwellserveredition", "rtx-pro-6000"),
];

/// A GPU name in comparable form: lowercase, without `-`, `_`, `.` and spaces (`H100 NVL`,
/// `h100_nvl` and `h100-nvl` are one name).
fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The built-in GPU named `name` (case-insensitive, `-`, `_`, `.` and spaces ignored; `h100`,
/// `a100` and a few other short names are aliases).
pub fn preset(name: &str) -> Result<Gpu, ModelError> {
    let wanted = normalise(name);
    let canonical = ALIASES
        .iter()
        .find(|(alias, _)| *alias == wanted)
        .map_or(wanted.clone(), |(_, target)| normalise(target));
    presets::ALL
        .iter()
        .find(|g| normalise(&g.name) == canonical)
        .cloned()
        .ok_or_else(|| ModelError::UnknownGpu {
            name: name.to_owned(),
            available: names(),
        })
}

/// A preset name, or else a path to a JSON GPU file.
pub fn resolve(name_or_path: &str) -> Result<Gpu, ModelError> {
    let path = Path::new(name_or_path);
    if name_or_path.ends_with(".json") || path.is_file() {
        return Gpu::load(path);
    }
    preset(name_or_path)
}

/// The preset names, in listing order.
pub fn names() -> Vec<&'static str> {
    presets::ALL
        .iter()
        .map(|g| match g.name {
            Cow::Borrowed(n) => n,
            Cow::Owned(_) => "",
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_carry_datasheet_figures_in_base_units() {
        let h100 = preset("H100").unwrap();
        assert_eq!(h100.name, "h100-sxm");
        assert_eq!(h100.memory_bandwidth, 3.35e12);
        assert_eq!(h100.peak_flops(false), 989.4e12);
        assert_eq!(h100.peak_flops(true), 1978.9e12);
        assert_eq!(h100.memory_bytes, 81_559 << 20);
        assert_eq!(h100.interconnect_unidirectional(), 450e9);
        let a100 = preset("a100-40gb").unwrap();
        assert_eq!(a100.peak_flops(true), 312e12, "no FP8: BF16 peak");
        assert!(preset("b200").unwrap().data_center_blackwell);
        assert_eq!(presets::ALL.len(), 19);
    }

    /// The datasheet figures of the presets added beside the first nine (sources in
    /// `presets.rs`): name or alias as typed, driver-reported MiB, GB/s, dense BF16 and FP8
    /// TFLOPS, interconnect GB/s, data-centre Blackwell.
    #[test]
    fn added_presets_carry_their_datasheet_figures() {
        type Row = (
            &'static str,
            &'static str,
            u64,
            f64,
            f64,
            Option<f64>,
            f64,
            bool,
        );
        let table: [Row; 10] = [
            ("A10G", "a10g", 23_028, 600.0, 70.0, None, 64.0, false),
            ("a10", "a10", 23_028, 600.0, 125.0, None, 64.0, false),
            ("L4", "l4", 23_034, 300.0, 121.0, Some(242.5), 64.0, false),
            (
                "H100 NVL",
                "h100-nvl",
                95_830,
                3900.0,
                835.5,
                Some(1670.5),
                128.0,
                false,
            ),
            (
                "h20",
                "h20",
                97_871,
                4000.0,
                148.0,
                Some(296.0),
                900.0,
                false,
            ),
            (
                "h200_nvl",
                "h200-nvl",
                143_771,
                4800.0,
                835.5,
                Some(1670.5),
                900.0,
                false,
            ),
            (
                "GB200",
                "gb200",
                189_471,
                8000.0,
                2500.0,
                Some(5000.0),
                1800.0,
                true,
            ),
            (
                "b300",
                "b300",
                275_040,
                8000.0,
                2250.0,
                Some(4500.0),
                1800.0,
                true,
            ),
            (
                "MI355X",
                "mi355x",
                288 * 1024,
                8000.0,
                2516.6,
                Some(5033.2),
                1075.2,
                false,
            ),
            (
                "RTX PRO 6000",
                "rtx-pro-6000",
                97_887,
                1792.0,
                500.0,
                Some(1000.0),
                128.0,
                false,
            ),
        ];
        for (typed, name, mib, gb_s, bf16, fp8, link, blackwell) in table {
            let gpu = preset(typed).unwrap_or_else(|e| panic!("{typed}: {e}"));
            assert_eq!(gpu.name, name);
            assert_eq!(gpu.memory_bytes, mib << 20, "{name}");
            assert_eq!(gpu.memory_bandwidth, gb_s * 1e9, "{name}");
            assert_eq!(gpu.bf16_flops, bf16 * 1e12, "{name}");
            assert_eq!(gpu.fp8_flops, fp8.map(|t| t * 1e12), "{name}");
            assert_eq!(gpu.interconnect_bandwidth, link * 1e9, "{name}");
            assert_eq!(gpu.data_center_blackwell, blackwell, "{name}");
        }
        for alias in ["rtx-pro-6000-blackwell", "H100_NVL", "a100-40", "H200-SXM"] {
            assert!(preset(alias).is_ok(), "{alias}");
        }
    }

    #[test]
    fn unknown_gpu_lists_the_presets() {
        let err = preset("v100").unwrap_err().to_string();
        assert!(err.contains("v100") && err.contains("h100-sxm"), "{err}");
    }

    #[test]
    fn user_gpu_from_json() {
        let gpu = Gpu::from_json_str(
            r#"{"name": "x1", "memory_gib": 24, "memory_bandwidth_gb_s": 1000,
                "bf16_tflops": 100}"#,
        )
        .unwrap();
        assert_eq!(gpu.memory_bytes, 24 << 30);
        assert_eq!((gpu.bf16_flops, gpu.fp8_flops), (100e12, None));
        assert_eq!(gpu.memory_bandwidth, 1e12);
        let bad = Gpu::from_json_str(
            r#"{"name": "x", "memory_gib": 0, "memory_bandwidth_gb_s": 1, "bf16_tflops": 1}"#,
        );
        assert!(bad.unwrap_err().to_string().contains("memory_gib"));
        assert!(Gpu::from_json_str(r#"{"name": "x", "bogus": 1}"#).is_err());
    }
}
