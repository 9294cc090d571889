"""Roofline floor of one policy step for every full-size preset on Jetson AGX Orin and RTX 4090, next to the
published measured figures (../shared/VLA_REFERENCE.md). Exports shapes-only graphs once (weights are never needed
to count) into out/full-exports/, then predicts. Prints a Markdown table for the README.

    python scripts/roofline_table.py [--precision fp16] [--out out/full-exports]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from deployprof.export import export_preset
from deployprof.qualify.roofline import predict_export
from deployprof.targets import load_target_profile

# (published figure in ms per policy step, what it is) per preset and target; None where nothing comparable is published.
PUBLISHED = {
    "openvla-full": {"rtx-4090": (1000 / 6, "about 6 Hz, bf16 (OpenVLA paper)")},
    "pi0-full": {"rtx-4090": (73.0, "14 + 32 + 27 ms, 3 cameras (openpi)")},
    "groot-full": {"jetson-agx-orin-64gb": (11.96 + 17.25 + 4 * 7.77, "GR00T N1.5 TensorRT FP16: ViT + LLM + 4 DiT steps")},
    "octo-full": {"rtx-4090": (1000 / 13, "Octo-Base 13 it/s")},
}
PRESETS = ["openvla-full", "openvla-oft-full", "pi0-full", "smolvla-full", "groot-full", "octo-full", "act-full"]
TARGETS = ["jetson-agx-orin-64gb", "rtx-4090"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", default="fp16")
    ap.add_argument("--out", type=Path, default=Path("out/full-exports"))
    args = ap.parse_args()
    rows = []
    for preset in PRESETS:
        folder = args.out / preset
        if not (folder / "manifest.json").exists():
            t0 = time.perf_counter()
            export_preset(preset, folder, weights="meta", force=True)  # a leftover partial folder is replaced
            print(f"exported {preset} (shapes only) in {time.perf_counter() - t0:.0f} s", flush=True)
        cells = [preset]
        for target in TARGETS:
            (p,) = predict_export(folder, load_target_profile(target), [args.precision])
            pub = PUBLISHED.get(preset, {}).get(target)
            cells += [f"{p.step_lower_bound_ms:.1f}", f"{p.memory.total_bytes / 2**30:.1f} GiB ({p.memory.fraction_of_device:.0%})",
                      f"{pub[0]:.0f} ms ({pub[1]})" if pub else "-", f"{pub[0] / p.step_lower_bound_ms:.1f}x" if pub else "-"]
        rows.append(cells)
    head = ["preset"] + [f"{t}: {h}" for t in ("AGX Orin", "RTX 4090")
                         for h in ("floor ms", "memory", "published", "published / floor")]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
