//! Defines the built-in GPU presets, each with the sources of its figures.
//!
//! Dense means without 2:4 structured sparsity: NVIDIA datasheets headline the sparse Tensor
//! Core figure, exactly twice the dense one, so dense = datasheet ÷ 2 where only the sparse
//! figure is printed. Memory is the total the driver reports (`nvidia-smi` / `rocm-smi`), the
//! figure vLLM multiplies by `--gpu-memory-utilization`; the datasheet capacity is in the doc.
//! Interconnect is the per-GPU bidirectional figure of the datasheet. Figures of the A100s,
//! H100 SXM/PCIe, H200, B200, L40S, MI300X and MI325X were collected in the project's reference
//! notes (model-anchors §6) from secondary copies of the datasheets; the others name their
//! sources in their docs. Where two sources disagree, the doc says so and which one is used.

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

/// NVIDIA A10G (AWS EC2 G5): 70 dense BF16 TFLOPS, no FP8, 600 GB/s GDDR6, 24 GB (23,028 MiB
/// with ECC), PCIe Gen4 x16 64 GB/s, no NVLink.
///
/// Sources: NVIDIA publishes no A10G datasheet; Baseten "NVIDIA A10 vs A10G for ML model
/// inference" (A10G: 70 BF16/FP16 Tensor TFLOPS against the A10's 125; both 24 GB, 600 GB/s);
/// AWS G5 instance page (24 GB per GPU). Memory: `nvidia-smi` on g5 instances (23,028 MiB).
pub const A10G: Gpu = preset(
    "a10g",
    "NVIDIA A10G 24GB (AWS)",
    23_028 * MIB,
    600.0,
    70.0,
    None,
    64.0,
);

/// NVIDIA A10: 125 dense BF16 TFLOPS (250 sparse), no FP8, 600 GB/s GDDR6, 24 GB (23,028 MiB
/// with ECC), PCIe Gen4 x16 64 GB/s.
///
/// Sources: NVIDIA A10 Tensor Core GPU datasheet (BF16 125 / 250 sparse, 24 GB GDDR6,
/// 600 GB/s, PCIe Gen4 64 GB/s). Memory: `nvidia-smi` (23,028 MiB).
pub const A10: Gpu = preset(
    "a10",
    "NVIDIA A10 24GB",
    23_028 * MIB,
    600.0,
    125.0,
    None,
    64.0,
);

/// NVIDIA L4: 121 dense BF16 TFLOPS (242 sparse), 242.5 dense FP8 (485 sparse), 300 GB/s
/// GDDR6, 24 GB (23,034 MiB with ECC), PCIe Gen4 x16 64 GB/s, no NVLink.
///
/// Sources: NVIDIA L4 Tensor Core GPU datasheet (BF16 242 and FP8 485 TFLOPS "with
/// sparsity", 24 GB, 300 GB/s, PCIe Gen4 x16 64 GB/s). Memory: `nvidia-smi` (23,034 MiB).
pub const L4: Gpu = preset(
    "l4",
    "NVIDIA L4 24GB",
    23_034 * MIB,
    300.0,
    121.0,
    Some(242.5),
    64.0,
);

/// NVIDIA H100 NVL 94 GB (PCIe): 835.5 dense BF16 TFLOPS (1,671 sparse), 1,670.5 dense FP8
/// (3,341 sparse), 3.9 TB/s HBM3, 94 GB (95,830 MiB), PCIe Gen5 128 GB/s.
///
/// Sources: NVIDIA H100 Tensor Core GPU datasheet, H100 NVL column (BF16 1,671 / FP8 3,341
/// with sparsity, 94 GB, 3.9 TB/s, NVLink 600 GB/s, PCIe Gen5 128 GB/s). Memory: `nvidia-smi`
/// (95,830 MiB). As for the H100 PCIe, the NVLink bridge joins pairs only, so tensor
/// parallelism beyond 2 runs over PCIe: 128 GB/s is used.
pub const H100_NVL: Gpu = preset(
    "h100-nvl",
    "NVIDIA H100 NVL 94GB",
    95_830 * MIB,
    3900.0,
    835.5,
    Some(1670.5),
    128.0,
);

/// NVIDIA H20 96 GB: 148 dense BF16 TFLOPS, 296 dense FP8, 4.0 TB/s HBM3, 96 GB (97,871 MiB),
/// NVLink 4 900 GB/s.
///
/// Sources: willitrunai H20 page (96 GB HBM3, 4,000 GB/s, 148 TFLOPS FP16, 296 INT8, NVLink
/// 900 GB/s); Chinese spec summaries (FP16 dense 148, INT8/FP8 296, TF32 74, FP64 1); ~15 %
/// of the H100's 989. Memory: `nvidia-smi` (97,871 MiB).
pub const H20: Gpu = preset(
    "h20",
    "NVIDIA H20 96GB",
    97_871 * MIB,
    4000.0,
    148.0,
    Some(296.0),
    900.0,
);

/// NVIDIA H200 NVL 141 GB (PCIe): 835.5 dense BF16 TFLOPS (1,671 sparse), 1,670.5 dense FP8
/// (3,341 sparse), 4.8 TB/s HBM3e, 141 GB (143,771 MiB), NVLink bridge 900 GB/s.
///
/// Sources: NVIDIA H200 Tensor Core GPU datasheet, H200 NVL column (BF16 1,671 / FP8 3,341
/// with sparsity, 141 GB, 4.8 TB/s, 2- or 4-way NVLink bridge 900 GB/s, PCIe Gen5 128 GB/s).
/// Memory: `nvidia-smi` (143,771 MiB). The bridge joins up to 4 GPUs: 900 GB/s holds for
/// tensor parallelism up to 4.
pub const H200_NVL: Gpu = preset(
    "h200-nvl",
    "NVIDIA H200 NVL 141GB",
    143_771 * MIB,
    4800.0,
    835.5,
    Some(1670.5),
    900.0,
);

/// NVIDIA GB200 (one Blackwell GPU of a GB200 superchip, 1,200 W): 2,500 dense BF16 TFLOPS
/// (5,000 sparse), 5,000 dense FP8, 8 TB/s HBM3e, 186 GB (189,471 MiB), NVLink 5 1.8 TB/s.
///
/// Sources: glennklockwood B200 page (GB200 1,200 W variant: 2,500 / 5,000 dense); NVIDIA
/// GB200 NVL72 datasheet (per superchip of 2 GPUs: BF16 10 PF and FP8 20 PF sparse, 16 TB/s;
/// 130 TB/s NVLink over 72 GPUs = 1.8 TB/s each). Memory: `nvidia-smi` (189,471 MiB).
pub const GB200: Gpu = blackwell(preset(
    "gb200",
    "NVIDIA GB200 186GB (per GPU)",
    189_471 * MIB,
    8000.0,
    2500.0,
    Some(5000.0),
    1800.0,
));

/// NVIDIA B300 (HGX, Blackwell Ultra): 2,250 dense BF16 TFLOPS (4,500 sparse), 4,500 dense
/// FP8, 8 TB/s HBM3e, 288 GB (275,040 MiB), NVLink 5 1.8 TB/s.
///
/// Sources: glennklockwood B300 page (HGX B300: BF16 2,250 matrix / 4,500 sparse, FP8 4,500 /
/// 9,000; 288 GB HBM3e, 8 TB/s); HGX B300 datasheet (FP16/BF16 36 PF and FP8 72 PF sparse per
/// 8 GPUs; NVLink 1.8 TB/s per GPU). Memory: `nvidia-smi` on B300 SXM6 AC (275,040 MiB).
pub const B300: Gpu = blackwell(preset(
    "b300",
    "NVIDIA B300 288GB (HGX)",
    275_040 * MIB,
    8000.0,
    2250.0,
    Some(4500.0),
    1800.0,
));

/// AMD Instinct MI355X: 2,516.6 dense BF16 TFLOPS, 5,033.2 dense FP8, 8 TB/s HBM3E, 288 GB,
/// Infinity Fabric 1,075.2 GB/s (7 links × 153.6 GB/s).
///
/// Sources: AMD Instinct MI355X spec (2.5 PF BF16 matrix, 5 PF FP8, 288 GB HBM3E, 8 TB/s;
/// 153.6 GB/s per Infinity Fabric link); a derivation from AMD's Matrix Core count
/// (256 CUs × 8,192 FP8 FLOP/clock × 2.4 GHz = 5,033.2; BF16 half of it, 2,516.6); ISSCC 2026
/// (8,192 FP8 FLOP per CU per clock). Memory as for the MI300X (GiB).
pub const MI355X: Gpu = preset(
    "mi355x",
    "AMD Instinct MI355X 288GB",
    288 * GIB,
    8000.0,
    2516.6,
    Some(5033.2),
    1075.2,
);

/// NVIDIA RTX PRO 6000 Blackwell Server Edition: 500 dense BF16 TFLOPS, 1,000 dense FP8,
/// 1,792 GB/s GDDR7, 96 GB (97,887 MiB with ECC), PCIe Gen5 x16 128 GB/s, no NVLink.
///
/// Sources: NVIDIA's launch figures ("4,000 AI TOPS", FP4 with sparsity: FP4 dense 2,000,
/// FP8 dense 1,000, BF16 dense 500); VideoCardz / gpu.name (96 GB GDDR7, 512-bit, 1,792 GB/s;
/// the three RTX PRO 6000 editions share this memory); some copies give ~1.6 TB/s for the
/// Server Edition (1,792 GB/s is used). Memory: `nvidia-smi` (97,887 MiB).
pub const RTX_PRO_6000: Gpu = preset(
    "rtx-pro-6000",
    "NVIDIA RTX PRO 6000 Blackwell Server Edition 96GB",
    97_887 * MIB,
    1792.0,
    500.0,
    Some(1000.0),
    128.0,
);

/// Every preset, in listing order.
pub const ALL: [Gpu; 19] = [
    A100_40GB,
    A100_80GB,
    H100_SXM,
    H100_PCIE,
    H100_NVL,
    H200,
    H200_NVL,
    H20,
    B200,
    GB200,
    B300,
    L40S,
    L4,
    A10,
    A10G,
    RTX_PRO_6000,
    MI300X,
    MI325X,
    MI355X,
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
