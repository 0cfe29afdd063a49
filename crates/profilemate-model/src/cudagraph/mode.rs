//! Defines [`CudaGraphMode`] (the configured mode) and [`RuntimeMode`] (what one step ran as).
//!
//! Mirrors `CUDAGraphMode` in vllm/config/compilation.py, vLLM 0.32: the two composite modes
//! are `(decode_mode, mixed_mode)` pairs.

use std::fmt;
use std::str::FromStr;

use crate::error::ModelError;

/// `compilation_config.cudagraph_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CudaGraphMode {
    /// No graphs (`--enforce-eager`, optimization level O0).
    None,
    /// Piecewise graphs, attention left outside (O1).
    Piecewise,
    /// Full graphs for every batch.
    Full,
    /// Full graphs for uniform-decode batches; mixed batches run eager.
    FullDecodeOnly,
    /// Full graphs for uniform decode, piecewise for the rest (vLLM V1's default, O2/O3).
    FullAndPiecewise,
}

/// The mode one step actually ran in, as vLLM's CUDA-graph stats record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeMode {
    /// Eager, unpadded.
    None,
    /// A piecewise graph.
    Piecewise,
    /// A full graph.
    Full,
}

const NAMES: [(&str, CudaGraphMode); 5] = [
    ("NONE", CudaGraphMode::None),
    ("PIECEWISE", CudaGraphMode::Piecewise),
    ("FULL", CudaGraphMode::Full),
    ("FULL_DECODE_ONLY", CudaGraphMode::FullDecodeOnly),
    ("FULL_AND_PIECEWISE", CudaGraphMode::FullAndPiecewise),
];

impl CudaGraphMode {
    /// The enum name vLLM prints (`str(CUDAGraphMode)`).
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("NONE", |(n, _)| n)
    }

    /// The mode of uniform-decode batches (`decode_mode()`).
    pub fn decode_mode(self) -> RuntimeMode {
        match self {
            CudaGraphMode::None => RuntimeMode::None,
            CudaGraphMode::Piecewise => RuntimeMode::Piecewise,
            _ => RuntimeMode::Full,
        }
    }

    /// The mode of mixed and prefill batches (`mixed_mode()`).
    pub fn mixed_mode(self) -> RuntimeMode {
        match self {
            CudaGraphMode::None | CudaGraphMode::FullDecodeOnly => RuntimeMode::None,
            CudaGraphMode::Piecewise | CudaGraphMode::FullAndPiecewise => RuntimeMode::Piecewise,
            CudaGraphMode::Full => RuntimeMode::Full,
        }
    }

    /// Whether decode and mixed batches use separate routines (`separate_routine()`).
    pub fn separate_routine(self) -> bool {
        matches!(
            self,
            CudaGraphMode::FullDecodeOnly | CudaGraphMode::FullAndPiecewise
        )
    }
}

impl fmt::Display for CudaGraphMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CudaGraphMode {
    type Err = ModelError;

    /// Parses vLLM's spelling, case-insensitively (`FULL_AND_PIECEWISE`, `full_decode_only`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.to_ascii_uppercase();
        NAMES
            .iter()
            .find(|(n, _)| *n == upper)
            .map(|(_, m)| *m)
            .ok_or_else(|| ModelError::InvalidSetting {
                setting: "cudagraph-mode",
                reason: format!(
                    "`{s}` is not one of NONE, PIECEWISE, FULL, FULL_DECODE_ONLY, \
                     FULL_AND_PIECEWISE"
                ),
            })
    }
}

impl RuntimeMode {
    /// The name vLLM prints in the stats table.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeMode::None => "NONE",
            RuntimeMode::Piecewise => "PIECEWISE",
            RuntimeMode::Full => "FULL",
        }
    }
}

impl fmt::Display for RuntimeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_modes_split_into_decode_and_mixed() {
        let fp = CudaGraphMode::FullAndPiecewise;
        assert_eq!(
            (fp.decode_mode(), fp.mixed_mode()),
            (RuntimeMode::Full, RuntimeMode::Piecewise)
        );
        let fdo = CudaGraphMode::FullDecodeOnly;
        assert_eq!(
            (fdo.decode_mode(), fdo.mixed_mode()),
            (RuntimeMode::Full, RuntimeMode::None)
        );
        assert!(fp.separate_routine() && fdo.separate_routine());
        assert!(!CudaGraphMode::Full.separate_routine());
    }

    #[test]
    fn names_round_trip_and_bad_names_are_errors() {
        for (name, mode) in NAMES {
            assert_eq!(name.parse::<CudaGraphMode>().unwrap(), mode);
            assert_eq!(mode.to_string(), name);
        }
        let err = "FULLISH".parse::<CudaGraphMode>().unwrap_err().to_string();
        assert!(
            err.contains("cudagraph-mode") && err.contains("FULLISH"),
            "{err}"
        );
    }
}
