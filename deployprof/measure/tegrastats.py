"""Parsers for Jetson tools' text: tegrastats lines (JetPack 4-7, Xavier/Nano/Orin/Thor variants), `nvpmodel -q`
and `jetson_clocks --show`. Pure functions over text, tested on samples of every variant."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_GR3D = re.compile(r"\bGR3D_FREQ (?:(\d+)%)?@?(?:\[([\d,\s]+)\]|(\d+))?")
_EMC = re.compile(r"\bEMC_FREQ (\d+)%@(\d+)")
_TEMP = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C\b")
_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]+) (\d+)(?:mW)?/(\d+)(?:mW)?\b")
BOARD_RAILS = ("VDD_IN", "POM_5V_IN")
OFFLINE_C = -256.0


@dataclass(frozen=True)
class TegraSample:
    ram_used_mb: Optional[int]
    ram_total_mb: Optional[int]
    gpu_util_pct: Optional[float]            # absent on Thor
    gpu_freq_mhz: tuple[int, ...]            # one value (Xavier) or one per GPC/partition (Orin, Thor)
    emc_freq_mhz: Optional[int]
    temperatures_c: dict[str, float] = field(default_factory=dict)   # offline sensors (-256C) left out
    rails_mw: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (current, average)

    @property
    def board_power_mw(self) -> tuple[Optional[str], Optional[float]]:
        for rail in BOARD_RAILS:
            if rail in self.rails_mw:
                return rail, self.rails_mw[rail][0]
        if self.rails_mw:
            return "sum of rails", sum(c for c, _ in self.rails_mw.values())
        return None, None


def parse_tegrastats(line: str) -> Optional[TegraSample]:
    """None for a line that is not a tegrastats sample (a banner, an error)."""
    ram = _RAM.search(line)
    if not ram and "GR3D_FREQ" not in line:
        return None
    util, freqs = None, ()
    g = _GR3D.search(line)
    if g:
        util = float(g.group(1)) if g.group(1) is not None else None
        if g.group(2):
            freqs = tuple(int(f) for f in g.group(2).replace(" ", "").split(",") if f)
        elif g.group(3):
            freqs = (int(g.group(3)),)
    emc = _EMC.search(line)
    temps = {}
    for name, value in _TEMP.findall(line):
        v = float(value)
        if v > OFFLINE_C and name not in ("RAM",):
            temps[name.lower()] = v
    rails = {}
    for name, cur, avg in _RAIL.findall(line):
        if name in ("RAM", "SWAP", "EMC_FREQ", "GR3D_FREQ", "IRAM", "APE", "MTS", "VIC_FREQ"):
            continue
        rails[name] = (float(cur), float(avg))
    return TegraSample(int(ram.group(1)) if ram else None, int(ram.group(2)) if ram else None, util, freqs,
                       int(emc.group(2)) if emc else None, temps, rails)


def parse_nvpmodel(text: str) -> tuple[Optional[str], Optional[int]]:
    """`nvpmodel -q` prints 'NV Power Mode: MAXN' and the mode id on the next line."""
    m = re.search(r"NV Power Mode:\s*(\S+)", text)
    ids = re.findall(r"^\s*(\d+)\s*$", text, re.M)
    return (m.group(1) if m else None), (int(ids[0]) if ids else None)


def parse_jetson_clocks(text: str) -> Optional[bool]:
    """Clocks are locked when the GPU's minimum frequency equals its maximum (what jetson_clocks sets)."""
    m = re.search(r"^GPU MinFreq=(\d+) MaxFreq=(\d+)", text, re.M)
    if not m:
        return None
    return m.group(1) == m.group(2)
