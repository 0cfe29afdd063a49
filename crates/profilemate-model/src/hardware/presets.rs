//! Defines the built-in GPU presets, each with the sources of its figures.
//!
//! Dense means without 2:4 structured sparsity: NVIDIA datasheets headline the sparse Tensor
//! Core figure, exactly twice the dense one, so dense = datasheet ÷ 2 where only the sparse
//! figure is printed. Memory is the total the driver reports (`nvidia-smi` / `rocm-smi`), the
//! figure vLLM multiplies by `--gpu-memory-utilization`; the datasheet capacity is in the doc.
//! Interconnect is the per-GPU bidirectional figure of the datasheet. Figures were collected in
//! shared/reference/model-anchors.md §6 from secondary copies of the datasheets; where two
//! sources disagree, the doc says so and which one is used.

use std::borrow::Cow;

use crate::hardware::Gpu;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
const GB_S: f64 = 1e9;
const TFLOPS: f64 = 1e12;

/// NVIDIA A100 40 GB SXM4: 312 dense BF16 TFLOPS, no FP8, 1,555 GB/s HBM2, 40 GB (40,960
/// MiB), NVLink 3 600 GB/s.
///
/// Sources: NVIDIA A100 datasheet (312 / 624 sparse BF16, 1,555 GB/s, NVLink 600 GB/s);
/// llm-analysis `a100-sxm-40gb.json`; LLM-Viewer `nvidia_A100_40G`. GenZ lists 1,600 GB/s
/// (disagrees; the datasheet's 1,555 is used).
pub const A100_40GB: Gpu = preset(
    "a100-40gb",
    "NVIDIA A100 40GB SXM4",
    40_960 * MIB,
    1555.0,
    312.0,
    None,
    600.0,
);

/// NVIDIA A100 80 GB SXM4: 312 dense BF16 TFLOPS, no FP8, 2,039 GB/s HBM2e, 80 GB (81,920
/// MiB), NVLink 3 600 GB/s.
///
/// Sources: NVIDIA A100 datasheet (2,039 GB/s for the 80 GB SXM); llm-analysis
/// `a100-sxm-80gb.json`; LLM-Viewer `nvidia_A100_80G`; GenZ `A100_80GB_GPU`.
pub const A100_80GB: Gpu = preset(
    "a100-80gb",
    "NVIDIA A100 80GB SXM4",
    81_920 * MIB,
    2039.0,
    312.0,
    None,
    600.0,
);

/// NVIDIA H100 SXM5 80 GB: 989.4 dense BF16 TFLOPS (1,979 sparse), 1,979 dense FP8, 3.35 TB/s
/// HBM3, 80 GB (81,559 MiB), NVLink 4 900 GB/s.
///
/// Sources: NVIDIA H100 datasheet copy (sparse 1,979 / 3,958, 3.35 TB/s); llm-analysis
/// `h100-sxm-80gb.json` (3,350 GB/s, 989); glennklockwood (989.4 matrix BF16). LLM-Viewer uses
/// 3,072 GB/s and GenZ 3,400 GB/s (both disagree; the datasheet's 3.35 TB/s is used).
pub const H100_SXM: Gpu = preset(
    "h100-sxm",
    "NVIDIA H100 SXM5 80GB",
    81_559 * MIB,
    3350.0,
    989.4,
    Some(1978.9),
    900.0,
);

/// NVIDIA H100 PCIe 80 GB: 756 dense BF16 TFLOPS (1,513 sparse), 1,513 dense FP8, 2.0 TB/s
/// HBM2e, 80 GB (81,559 MiB), PCIe Gen5 128 GB/s.
///
/// Sources: llm-analysis `h100-pcie-80gb.json` (2,000 GB/s, 756); scaleway docs (2 TB/s);
/// LLM-Viewer `nvidia_H100_PCIe` uses 2,048 GB/s (disagrees; 2.0 TB/s used). The datasheet
/// also lists a 600 GB/s NVLink bridge, which joins pairs only, so tensor parallelism beyond 2
/// runs over PCIe: 128 GB/s is used.
pub const H100_PCIE: Gpu = preset(
    "h100-pcie",
    "NVIDIA H100 PCIe 80GB",
    81_559 * MIB,
    2000.0,
    756.0,
    Some(1513.0),
    128.0,
);

/// NVIDIA H200 SXM 141 GB: the H100's GH100 compute (989.4 / 1,979 dense), 4.8 TB/s HBM3e,
/// 141 GB (143,771 MiB), NVLink 4 900 GB/s.
///
/// Sources: lzwjava table (FP8 3,958 "with sparsity", 4.8 TB/s); aiwiki (141 GB, 4.8 TB/s,
/// same compute as H100); ai-hpc page (1,979 / 3,958 unlabeled, i.e. sparse).
pub const H200: Gpu = preset(
    "h200",
    "NVIDIA H200 SXM 141GB",
    143_771 * MIB,
    4800.0,
    989.4,
    Some(1978.9),
    900.0,
);

/// NVIDIA B200 (HGX, 1,000 W): 2,250 dense BF16 TFLOPS (4,500 sparse), 4,500 dense FP8, 8 TB/s
/// HBM3e, 180 GB usable (183,359 MiB; 192 GB physical), NVLink 5 1.8 TB/s.
///
/// Sources: glennklockwood B200 HGX table (the 1,200 W GB200 variant is 2,500 / 5,000); DGX
/// B200 summary (1,440 GB per 8 GPUs, FP8 72 PF sparse per 8); techpowerup (192 GB physical,
/// 8 TB/s). awesomeagents calls 9,000 FP8 "dense", which conflicts with DGX's 72 PF sparse ÷ 8
/// = 9,000 sparse; 4,500 dense is used.
pub const B200: Gpu = blackwell(preset(
    "b200",
    "NVIDIA B200 180GB (HGX)",
    183_359 * MIB,
    8000.0,
    2250.0,
    Some(4500.0),
    1800.0,
));

/// NVIDIA L40S 48 GB: 362 dense BF16 TFLOPS (733 sparse), 733 dense FP8, 864 GB/s GDDR6, 48 GB
/// (46,068 MiB with ECC), PCIe Gen4 x16 64 GB/s, no NVLink.
///
/// Sources: NVIDIA L40/L40S datasheet table reproduced at mullet.se and omegaco.ae.
pub const L40S: Gpu = preset(
    "l40s",
    "NVIDIA L40S 48GB",
    46_068 * MIB,
    864.0,
    362.05,
    Some(733.0),
    64.0,
);

/// AMD Instinct MI300X: 1,307.4 dense BF16 TFLOPS, 2,614.9 dense FP8 (5,229.8 sparse),
/// 5.3 TB/s HBM3, 192 GB, Infinity Fabric 896 GB/s (7 links × 128 GB/s).
///
/// Sources: GenZ `MI300X` (1,307; 192 GB; 5,300 GB/s, citing AMD's datasheet); jaredwatkins
/// (~1.3 PF FP16, ~2.6 PF FP8). codesota calls 2,615 "FP16 dense", which conflicts (that is
/// the sparse FP16 / dense FP8 figure); 1,307.4 is used.
pub const MI300X: Gpu = preset(
    "mi300x",
    "AMD Instinct MI300X 192GB",
    192 * GIB,
    5300.0,
    1307.4,
    Some(2614.9),
    896.0,
);

/// AMD Instinct MI325X: the MI300X's compute (1,307.4 / 2,614.9 dense), 6 TB/s HBM3E, 256 GB,
/// Infinity Fabric 896 GB/s.
///
/// Sources: awesomeagents spec table; slicast (same compute as MI300X); GenZ `MI325X`
/// (1,307; 256 GB; 6,000 GB/s).
pub const MI325X: Gpu = preset(
    "mi325x",
    "AMD Instinct MI325X 256GB",
    256 * GIB,
    6000.0,
    1307.4,
    Some(2614.9),
    896.0,
);

/// Every preset, in listing order.
pub const ALL: [Gpu; 9] = [
    A100_40GB, A100_80GB, H100_SXM, H100_PCIE, H200, B200, L40S, MI300X, MI325X,
];

/// Marks a data-centre Blackwell part (device-capability family 100).
const fn blackwell(mut gpu: Gpu) -> Gpu {
    gpu.data_center_blackwell = true;
    gpu
}

/// A preset from datasheet units (GB/s and TFLOPS).
const fn preset(
    name: &'static str,
    description: &'static str,
    memory_bytes: u64,
    hbm_gb_s: f64,
    bf16_tflops: f64,
    fp8_tflops: Option<f64>,
    interconnect_gb_s: f64,
) -> Gpu {
    Gpu {
        name: Cow::Borrowed(name),
        description: Cow::Borrowed(description),
        memory_bytes,
        memory_bandwidth: hbm_gb_s * GB_S,
        bf16_flops: bf16_tflops * TFLOPS,
        fp8_flops: match fp8_tflops {
            Some(t) => Some(t * TFLOPS),
            None => None,
        },
        interconnect_bandwidth: interconnect_gb_s * GB_S,
        data_center_blackwell: false,
    }
}
