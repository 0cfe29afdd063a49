"""Golden-case generator: vLLM 0.32's own `ModelMetrics` over a grid of deployments.

Run it with the Python of a real vLLM 0.32 install (the CPU build is enough; see
`../shared/tools/vllm-ref/setup.sh`, which installs one in `~/.cache/vllm-ref/venv`):

    ~/.cache/vllm-ref/venv/bin/python tools/goldens/generate.py \
        --out cases.jsonl --refusals refusals.jsonl MODEL_DIR [MODEL_DIR ...]

For every model directory (the case's `model` is the directory's name), every dtype, KV-cache
dtype and parallel layout of the grid, it builds a `VllmConfig` exactly as vLLM does for a server:

    EngineArgs(model=DIR, skip_tokenizer_init=True, load_format="dummy", dtype=DTYPE,
               kv_cache_dtype=KV, tensor_parallel_size=TP, pipeline_parallel_size=PP,
               data_parallel_size=DP, enable_expert_parallel=EP).create_engine_config()

then `ModelMetrics(vllm_config)` (vllm/v1/metrics/perf.py) and, for every batch of the grid and
`per_gpu` true then false, writes one case in the schema of `testdata/goldens/perf/README.md`:
`ModelMetrics.get_{num_flops,read_bytes,write_bytes}_breakdown(ctx, per_gpu)` on an
`ExecutionContext` filled with the batch's rows in order. Nothing is computed here; every number
is vLLM's.

Refusals go to `--refusals`, one JSON object a line:
  - `"stage": "engine_config"`: `create_engine_config()` raised (e.g. attention heads not
    divisible by TP, expert parallelism on a dense model); the layout has no cases.
  - `"stage": "component"`: `ModelMetrics` skipped a component because its
    `from_vllm_config` raised `InvalidComponent` (e.g. a quantization method outside
    `_QUANT_WEIGHT_BYTE_SIZE`); the cases carry the components that remained. The two
    messages every model gets (MLA vs. standard attention detection) are not recorded.
  - `"stage": "metrics"`: a breakdown call raised; that case is not written.
Each carries `model`, `dtype`, `kv_cache_dtype`, `parallel`, `error_type` and `message`.

Grid (the defaults are the one `testdata/goldens/perf/README.md` describes):
  - dtypes: `--dtypes` (default `bfloat16`), overridden per model by
    `--model-dtypes NAME=bfloat16,float32` (the visible set: Llama-3.1-8B and Qwen3-8B);
  - KV-cache dtypes: `--kv-dtypes` (default `auto,fp8`);
  - parallel layouts: `--parallel` (default `TP1,TP2,TP8,TP4+PP2,DP2+TP4`) plus, for models
    with experts (`model_config.get_num_experts() > 0`), `--moe-parallel` (default
    `DP2+TP4+EP,TP8+EP`); a layout is `+`-joined `TP<n>`, `PP<n>`, `DP<n>`, `EP`;
  - batches: `--batches` (default all twelve of `BATCHES` below, in that order).

Output order is deterministic: models sorted by name, case-insensitively; per model, first
dtype x KV dtype x `--parallel` layout, then (models with experts) dtype x KV dtype x
`--moe-parallel` layout, each in grid order; per layout, batches in grid order, `per_gpu` true
before false. Case ids read
`<model>/<dtype>/kv-<kv>/<layout>/<batch>/<per_gpu|total>`. JSON is compact (`,` and `:`), keys
in schema order. Running it twice on the same inputs gives identical bytes.

Not run by CI (it needs a vLLM install); its output is checked in and tested by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# vLLM picks its platform at import; the CPU build needs it named on a machine without a GPU.
os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")


def _prefill2048_plus_255_decodes() -> list[list]:
    rows = [[2048, 2048, True]]
    rows += [[1, int(1000 + i * 3000 / 254), False] for i in range(255)]
    return rows


# The twelve batches of the visible set: name -> rows of [num_tokens, context_len, is_prefill].
BATCHES: dict[str, list[list]] = {
    "decode_ctx1": [[1, 1, False]],
    "decode_ctx128": [[1, 128, False]],
    "decode_ctx8192": [[1, 8192, False]],
    "decode_ctx131072": [[1, 131072, False]],
    "prefill_1": [[1, 1, True]],
    "prefill_7": [[7, 7, True]],
    "prefill_2048": [[2048, 2048, True]],
    "prefill_32768": [[32768, 32768, True]],
    "chunked_prefill_512_at_4096": [[512, 4096, True]],
    "prefill2048_plus_255_decodes": _prefill2048_plus_255_decodes(),
    "decode64_varied": [[1, 17 + 523 * i, False] for i in range(64)],
    "swa_cross_4096": [
        [1, 4095, False],
        [1, 4096, False],
        [1, 4097, False],
        [1, 10000, False],
        [1024, 5120, True],
        [300, 4000, True],
        [2000, 2000, True],
    ],
}

DEFAULT_PARALLEL = "TP1,TP2,TP8,TP4+PP2,DP2+TP4"
DEFAULT_MOE_PARALLEL = "DP2+TP4+EP,TP8+EP"

# InvalidComponent messages every model gets from perf.py's MLA/non-MLA detection parsers.
_DETECTION_MESSAGES = (
    "Model does not use MLA attention",
    "Model uses MLA attention; use MLAAttentionMetrics instead",
)


def parse_layout(name: str) -> dict:
    """`TP4+PP2` -> {"tp": 4, "pp": 2, "dp": 1, "ep": False}."""
    layout = {"tp": 1, "pp": 1, "dp": 1, "ep": False}
    for part in name.split("+"):
        if part == "EP":
            layout["ep"] = True
        elif part[:2] in ("TP", "PP", "DP") and part[2:].isdigit():
            layout[part[:2].lower()] = int(part[2:])
        else:
            raise SystemExit(f"generate.py: bad parallel layout {name!r} (use e.g. TP4+PP2, DP2+TP4+EP)")
    return layout


def split_list(text: str) -> list[str]:
    return [x for x in text.split(",") if x]


def engine_config(model_dir: Path, dtype: str, kv: str, layout: dict):
    from vllm.engine.arg_utils import EngineArgs

    return EngineArgs(
        model=str(model_dir),
        skip_tokenizer_init=True,
        load_format="dummy",
        dtype=dtype,
        kv_cache_dtype=kv,
        tensor_parallel_size=layout["tp"],
        pipeline_parallel_size=layout["pp"],
        data_parallel_size=layout["dp"],
        enable_expert_parallel=layout["ep"],
    ).create_engine_config()


def component_refusals(vllm_config) -> list[tuple[str, str, str]]:
    """(component, error type, message) for every component `ModelMetrics` skips."""
    from vllm.v1.metrics.perf import ComponentMetrics, InvalidComponent

    out = []
    for cls in ComponentMetrics.registered_metrics():
        try:
            cls.from_vllm_config(vllm_config)
        except InvalidComponent as err:
            if str(err) not in _DETECTION_MESSAGES:
                out.append((cls.component_type(), type(err).__name__, str(err)))
    return out


def context(rows: list[list]):
    from vllm.v1.metrics.perf import ExecutionContext

    ctx = ExecutionContext()
    for num_tokens, context_len, is_prefill in rows:
        ctx.add(num_tokens, context_len, is_prefill)
    return ctx


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def model_cases(model_dir: Path, dtypes, kvs, layouts, moe_layouts, batches, out, refusals) -> int:
    """Writes every case of one model; returns how many.

    First pass: dtype x KV dtype x `layouts`. Second pass, only for a model with experts (told by
    the first `VllmConfig` vLLM accepted): dtype x KV dtype x `moe_layouts`.
    """
    name = model_dir.name
    written, is_moe = 0, None
    for pass_layouts in (layouts, moe_layouts):
        if pass_layouts is moe_layouts and not is_moe:
            break
        for dtype in dtypes:
            for kv in kvs:
                for layout_name in pass_layouts:
                    vc = layout_config(model_dir, name, dtype, kv, layout_name, refusals)
                    if vc is None:
                        continue
                    if is_moe is None:
                        is_moe = vc.model_config.get_num_experts() > 0
                    written += layout_cases(vc, name, dtype, kv, layout_name, batches, out, refusals)
    return written


def refusal(refusals, where: dict, stage: str, err: BaseException | None = None, **extra) -> None:
    record = {**where, "stage": stage, **extra}
    if err is not None:
        record["error_type"] = type(err).__name__
        record["message"] = str(err)
    refusals.write(dumps(record) + "\n")


def layout_config(model_dir: Path, name: str, dtype: str, kv: str, layout_name: str, refusals):
    """vLLM's `VllmConfig` for one grid point, or None (refusal recorded) where vLLM raises."""
    layout = parse_layout(layout_name)
    where = {"model": name, "dtype": dtype, "kv_cache_dtype": kv, "parallel": layout,
             "layout": layout_name}
    try:
        vc = engine_config(model_dir, dtype, kv, layout)
    except Exception as err:  # noqa: BLE001 - every refusal is recorded
        refusal(refusals, where, "engine_config", err)
        return None
    for comp, etype, msg in component_refusals(vc):
        refusal(refusals, where, "component", component=comp, error_type=etype, message=msg)
    return vc


def layout_cases(vc, name, dtype, kv, layout_name, batches, out, refusals) -> int:
    """Writes the cases of one `VllmConfig`: every batch, `per_gpu` true then false."""
    from vllm.v1.metrics.perf import ModelMetrics

    layout = parse_layout(layout_name)
    metrics = ModelMetrics(vc)
    quant = vc.quant_config.get_name() if vc.quant_config is not None else None
    components = [m.component_type() for m in metrics.metrics]
    written = 0
    for batch_name, rows in batches:
        for per_gpu in (True, False):
            case_id = "/".join([name, dtype, f"kv-{kv}", layout_name, batch_name,
                                "per_gpu" if per_gpu else "total"])
            try:
                ctx = context(rows)
                flops = metrics.get_num_flops_breakdown(ctx, per_gpu)
                read = metrics.get_read_bytes_breakdown(ctx, per_gpu)
                write = metrics.get_write_bytes_breakdown(ctx, per_gpu)
            except Exception as err:  # noqa: BLE001
                where = {"model": name, "dtype": dtype, "kv_cache_dtype": kv,
                         "parallel": layout, "layout": layout_name, "id": case_id}
                refusal(refusals, where, "metrics", err)
                continue
            out.write(dumps({
                "id": case_id,
                "model": name,
                "dtype": dtype,
                "kv_cache_dtype": kv,
                "parallel": layout,
                "quantization": quant,
                "batch": rows,
                "per_gpu": per_gpu,
                "components": components,
                "flops": flops,
                "read_bytes": read,
                "write_bytes": write,
            }) + "\n")
            written += 1
    return written


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="model directories (config.json inside)")
    ap.add_argument("--out", type=Path, required=True, help="cases JSONL to write")
    ap.add_argument("--refusals", type=Path, required=True, help="refusals JSONL to write")
    ap.add_argument("--dtypes", default="bfloat16")
    ap.add_argument("--model-dtypes", action="append", default=[], metavar="NAME=D1,D2",
                    help="dtypes for one model, replacing --dtypes (repeatable)")
    ap.add_argument("--kv-dtypes", default="auto,fp8")
    ap.add_argument("--parallel", default=DEFAULT_PARALLEL)
    ap.add_argument("--moe-parallel", default=DEFAULT_MOE_PARALLEL,
                    help="extra layouts for models with experts ('' for none)")
    ap.add_argument("--batches", default=",".join(BATCHES), help="batch names, from: " + ",".join(BATCHES))
    args = ap.parse_args(argv)

    per_model = {}
    for item in args.model_dtypes:
        name, _, dts = item.partition("=")
        per_model[name] = split_list(dts)
    unknown = [b for b in split_list(args.batches) if b not in BATCHES]
    if unknown:
        raise SystemExit(f"generate.py: unknown batch {unknown[0]!r}; known: {', '.join(BATCHES)}")
    batches = [(b, BATCHES[b]) for b in split_list(args.batches)]
    for d in args.models:
        if not (d / "config.json").is_file():
            raise SystemExit(f"generate.py: {d} has no config.json; pass model directories")

    total = 0
    with open(args.out, "w") as out, open(args.refusals, "w") as refusals:
        for d in sorted(args.models, key=lambda p: (p.name.lower(), p.name)):
            n = model_cases(d, per_model.get(d.name, split_list(args.dtypes)),
                            split_list(args.kv_dtypes), split_list(args.parallel),
                            split_list(args.moe_parallel), batches, out, refusals)
            print(f"{d.name}: {n} cases", file=sys.stderr)
            total += n
    print(f"total: {total} cases -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
