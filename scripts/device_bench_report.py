"""Turns the firmware reports of scripts/device-bench.sh into
target/device-bench.json and a Markdown table.

    python3 scripts/device_bench_report.py RUNS.txt OUT.json OUT.md

Every figure is instructions retired under QEMU (-icount shift=0), not cycles.
The milliseconds are estimates: one cycle per instruction at the clock of a
named part with that core.
"""

import json
import re
import sys

# A real part per core and its clock, for the estimated milliseconds.
PARTS = {
    "M0": ("nRF51822", 16),
    "M4F": ("nRF52840", 64),
    "M7": ("STM32H743", 480),
    "M33": ("nRF5340 application core", 128),
    "M55": ("Alif Ensemble E3 high-efficiency core", 160),
}


def parse(path):
    rows, run = [], None
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line.startswith("run "):
            run = dict(kv.split("=", 1) for kv in line[4:].split())
            run["arena"] = run["stack"] = None
            continue
        m = re.match(r"arena (\d+) bytes, runtime peak stack (\d+) bytes", line)
        if m and run is not None:
            run["arena"], run["stack"] = int(m.group(1)), int(m.group(2))
            continue
        m = re.match(r"bench sampling: (\d+) instructions per token", line)
        if m and run is not None:
            run["sampling"] = int(m.group(1))
            continue
        if line.startswith("bench kernels=") and run is not None:
            f = dict(kv.split("=", 1) for kv in line[len("bench "):].split())
            text, rodata = (int(v) for v in run["sizes"].split(","))
            instr = int(f["instructions_per_step"])
            product = int(f["product_instructions_per_step"])
            macs = int(f["macs_per_step"])
            part, mhz = PARTS[run["core"]]
            model, layout = run["model"], "portable"
            if model.endswith("-dsp"):
                model, layout = model[: -len("-dsp")], "arm-dsp"
            row = {
                "core": run["core"],
                "board": run["board"],
                "build": run["label"],
                "model": model,
                "layout": layout,
                "model_bytes": int(run["model_bytes"]),
                "kernels": f["kernels"],
                "steps_measured": int(f["steps"]),
                "instructions_per_token": instr,
                "macs_per_token": macs,
                "product_instructions_per_token": product if product else None,
                "product_macs_per_instruction": round(macs / product, 3) if product else None,
                "step_macs_per_instruction": round(macs / instr, 3),
                "rest_instructions_per_token": instr - product if product else None,
                "sampling_instructions_per_token": run.get("sampling"),
                "same_as_host": f["same_as_host"] == "true",
                "flash_bytes_without_model": text + rodata - int(run["model_bytes"]),
                "arena_bytes": run["arena"],
                "peak_stack_bytes": run["stack"],
                "estimate_part": part,
                "estimate_clock_mhz": mhz,
                "estimated_ms_per_token": round(instr / (mhz * 1000.0), 3),
            }
            run.pop("sampling", None)
            rows.append(row)
    return rows


def code_sizes(path):
    """The `code ...` lines: the runtime's .text per core, with its kernel sets and portable."""
    sizes = []
    for line in open(path, encoding="utf-8"):
        if line.startswith("code "):
            fields = dict(kv.split("=", 1) for kv in line[5:].split())
            fields["runtime_text"] = int(fields["runtime_text"])
            sizes.append(fields)
    return sizes


def code_table(sizes):
    by = {(s["core"], s["kernels"]): s for s in sizes}
    out = [
        "| core | build | runtime .text, kernel sets in (B) | portable (B) | the kernel sets add (B) | with the arm-dsp layout (B) | the layout adds (B) |",
        "|---|---|---|---|---|---|---|",
    ]
    for core in PARTS:
        if (core, "all") not in by or (core, "portable") not in by:
            continue
        s, p = by[(core, "all")], by[(core, "portable")]
        cpu = f", `-C target-cpu={s['cpu']}`" if s["cpu"] != "-" else ""
        w = by.get((core, "arm-dsp-layout"))
        layout = f"{w['runtime_text']:,} | {w['runtime_text'] - s['runtime_text']:,}" if w else " | "
        out.append(
            f"| {core} | `{s['target']}`{cpu} | {s['runtime_text']:,} | {p['runtime_text']:,} | "
            f"{s['runtime_text'] - p['runtime_text']:,} | {layout} |"
        )
    out.append("")
    out.append(
        "The runtime's code: the `.text` of the quiet test firmware (`--features quiet`, model `tiny`, `opt-level = \"s\"`) "
        "less the test harness's functions (`scripts/runtime_text.py`); portable is the same build with "
        "`EDGEGRU_CORTEX_M_KERNELS=portable` (scalar kernels only); the arm-dsp layout column is the build with the "
        "runtime's `arm-dsp-layout` feature (loading and running models in that layout), the same model."
    )
    return "\n".join(out) + "\n"


def layout_table(rows):
    """The arm-dsp layout against the portable one, same core, model and kernels."""
    key = lambda r: (r["core"], r["model"], r["kernels"])
    portable = {key(r): r for r in rows if r["build"] == "now" and r["layout"] == "portable"}
    out = [
        "| core | model | kernels | instructions/token, portable | arm-dsp layout | fewer | MACs/instr. (products), portable | arm-dsp layout | model file (B), portable | arm-dsp layout | flash cost (B) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p = portable.get(key(r))
        if r["build"] != "now" or r["layout"] != "arm-dsp" or r["kernels"] == "scalar" or p is None:
            continue
        n, pn = r["instructions_per_token"], p["instructions_per_token"]
        out.append(
            f"| {r['core']} | {r['model']} | {r['kernels']} | {pn:,} | {n:,} | {pn / n:.2f}x | "
            f"{p['product_macs_per_instruction']} | {r['product_macs_per_instruction']} | "
            f"{p['model_bytes']:,} | {r['model_bytes']:,} | {r['model_bytes'] - p['model_bytes']:,} |"
        )
    out.append("")
    out.append(
        "The arm-dsp layout (`edgegru export --model M --layout arm-dsp`) stores the int8 matrices as 16-bit values in "
        "`SMLAD` order: the same outputs, bit for bit (the host's text for both files is compared, and each firmware run "
        "must reproduce it), for the flash in the last column."
    )
    return "\n".join(out) + "\n"


def table(rows):
    scalar = {
        (r["core"], r["model"]): r["instructions_per_token"]
        for r in rows
        if r["build"] == "now" and r["kernels"] == "scalar" and r["layout"] == "portable"
    }
    before = {(r["core"], r["model"]): r["instructions_per_token"] for r in rows if r["build"] == "before"}
    out = [
        "| core | model | kernels | instructions/token | of which products | the rest | MACs/token | MACs/instr. (products) | MACs/instr. (step) | fewer than scalar | fewer than before | flash (B) | arena (B) | stack (B) | est. ms/token |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        key = (r["core"], r["model"])
        n = r["instructions_per_token"]
        ratio = lambda d: f"{d[key] / n:.2f}x" if key in d else ""
        label = r["kernels"] if r["build"] == "now" else f"{r['kernels']} (before)"
        model = r["model"] if r["layout"] == "portable" else f"{r['model']} (arm-dsp layout)"
        product = r["product_macs_per_instruction"]
        split = lambda v: f"{v:,}" if v is not None else ""
        out.append(
            f"| {r['core']} | {model} | {label} | {n:,} | {split(r['product_instructions_per_token'])} | "
            f"{split(r['rest_instructions_per_token'])} | {r['macs_per_token']:,} | "
            f"{product if product is not None else ''} | {r['step_macs_per_instruction']} | "
            f"{ratio(scalar) if r['build'] == 'now' else ''} | {ratio(before) if r['build'] == 'now' else ''} | "
            f"{r['flash_bytes_without_model']:,} | {r['arena_bytes']:,} | {r['peak_stack_bytes']:,} | "
            f"{r['estimated_ms_per_token']} @ {r['estimate_clock_mhz']} MHz |"
        )
    parts = ", ".join(f"{core}: {part} at {mhz} MHz" for core, (part, mhz) in PARTS.items())
    out.append("")
    out.append(
        "Instructions retired under QEMU 7.2 (`-icount shift=0`, SysTick calibrated against a loop of known length), "
        "not cycles. A token is one greedy sample plus one step (language models) or one step (basicmotions). "
        "The products are the step's matrix products timed alone (`Matrix::product_i8`, each with a fixed input); "
        "the rest is everything else a token costs (requantization, gates, state update, outputs, sampling). "
        "MACs count stored weights (32 per 8x4 block). Flash is the firmware's .text + .rodata without the model "
        "(runtime, harness, printing, test inputs). Estimated ms assume one cycle per instruction: " + parts + "."
    )
    return "\n".join(out) + "\n"


def main():
    rows = parse(sys.argv[1])
    if not rows:
        sys.exit("no benchmark lines in " + sys.argv[1])
    bad = [r for r in rows if not r["same_as_host"]]
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1)
    sizes = code_sizes(sys.argv[1])
    with open(sys.argv[3], "w", encoding="utf-8") as f:
        f.write(table(rows))
        f.write("\n" + layout_table(rows))
        if sizes:
            f.write("\n" + code_table(sizes))
    if bad:
        sys.exit(f"{len(bad)} runs differ from the host's output")


if __name__ == "__main__":
    main()
