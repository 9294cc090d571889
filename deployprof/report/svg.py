"""Static SVG charts, written as strings: the HTML report must open offline, anywhere, with no script libraries.
Every chart is an <svg class="plot"> with a title; hover text comes from <title> elements."""
from __future__ import annotations

import math
from html import escape
from typing import Optional, Sequence

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
W, H = 640, 300
ML, MR, MT, MB = 64, 16, 30, 44


# (from, divide by, prefix): plain decimals from 0.001 to 999, SI prefixes beyond
_PREFIXES = ((1e12, 1e12, "T"), (1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e3, 1e3, "k"), (1e-3, 1.0, ""), (1e-6, 1e-6, "µ"),
             (0.0, 1e-9, "n"))


def _fmt(v: float) -> str:
    """A plain number with an SI prefix (12.5k, 250µ): never "1e+03" beside "1.0e+04" on one axis."""
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else str(v)
    a = abs(v)
    scale, prefix = next((d, p) for s, d, p in _PREFIXES if a >= s)
    text = f"{v / scale:.3g}"
    return (text if "e" not in text else f"{v / scale:.0f}") + prefix


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


LEGEND_W = 190  # the legend sits right of the plot area, never over its lines, points or ceilings


def spans_decades(values: Sequence[float], decades: float = 2.0) -> bool:
    """Positive values spread over more than `decades` powers of ten: a linear axis would flatten the small ones
    (FP16 errors beside INT8's), so the caller plots them on a log axis."""
    pos = [v for v in values if v > 0]
    return len(pos) > 1 and math.log10(max(pos) / min(pos)) > decades


def _frame(title: str, x_label: str, y_label: str, body: list[str], legend: Sequence[tuple[str, str]] = (),
           width: int = W, height: int = H) -> str:
    plot_w = width
    width += LEGEND_W if legend else 0
    height = max(height, MT + 14 * len(legend) + 12)
    out = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{escape(title)}">',
           f'<text x="{width / 2}" y="18" text-anchor="middle" class="t">{escape(title)}</text>',
           f'<text x="{(ML + plot_w - MR) / 2}" y="{height - 6}" text-anchor="middle" class="l">{escape(x_label)}</text>',
           f'<text transform="translate(14,{(MT + height - MB) / 2}) rotate(-90)" text-anchor="middle" class="l">{escape(y_label)}</text>']
    out += body
    for i, (name, color) in enumerate(legend):
        y = MT + 6 + 14 * i
        out.append(f'<rect x="{plot_w + 4}" y="{y - 8}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{plot_w + 19}" y="{y + 1}" class="k">{escape(name[:30])}<title>{escape(name)}</title></text>')
    out.append("</svg>")
    return "\n".join(out)


class _Axes:
    def __init__(self, x0, x1, y0, y1, logx=False, logy=False, width=W, height=H, xlabels=None):
        self.logx, self.logy, self.xlabels = logx, logy, xlabels
        tx = (lambda v: math.log10(v)) if logx else (lambda v: v)
        ty = (lambda v: math.log10(v)) if logy else (lambda v: v)
        self.tx, self.ty = tx, ty
        self.x0, self.x1, self.y0, self.y1 = tx(x0), tx(x1), ty(y0), ty(y1)
        if self.x1 <= self.x0:
            self.x1 = self.x0 + 1
        if self.y1 <= self.y0:
            self.y1 = self.y0 + 1
        self.w, self.h = width, height

    def px(self, v: float) -> float:
        return ML + (self.tx(v) - self.x0) / (self.x1 - self.x0) * (self.w - ML - MR)

    def py(self, v: float) -> float:
        return self.h - MB - (self.ty(v) - self.y0) / (self.y1 - self.y0) * (self.h - MT - MB)

    def grid(self) -> list[str]:
        out = [f'<line x1="{ML}" y1="{self.h - MB}" x2="{self.w - MR}" y2="{self.h - MB}" class="a"/>',
               f'<line x1="{ML}" y1="{MT}" x2="{ML}" y2="{self.h - MB}" class="a"/>']
        xs = [10 ** e for e in range(math.floor(self.x0), math.ceil(self.x1) + 1)] if self.logx else \
            _thin(list(self.xlabels)) if self.xlabels else _ticks(self.x0, self.x1)
        ys = [10 ** e for e in range(math.floor(self.y0), math.ceil(self.y1) + 1)] if self.logy else _ticks(self.y0, self.y1)
        for v in xs:
            x = self.px(v)
            if ML - 0.5 <= x <= self.w - MR + 0.5:
                out.append(f'<line x1="{x:.1f}" y1="{MT}" x2="{x:.1f}" y2="{self.h - MB}" class="g"/>'
                           f'<text x="{x:.1f}" y="{self.h - MB + 14}" text-anchor="middle" class="k">'
                           f'{escape(self.xlabels[v]) if self.xlabels else _fmt(v)}</text>')
        for v in ys:
            y = self.py(v)
            if MT - 0.5 <= y <= self.h - MB + 0.5:
                out.append(f'<line x1="{ML}" y1="{y:.1f}" x2="{self.w - MR}" y2="{y:.1f}" class="g"/>'
                           f'<text x="{ML - 4}" y="{y + 4:.1f}" text-anchor="end" class="k">{_fmt(v)}</text>')
        return out


def _thin(xs: list, most: int = 8) -> list:
    """At most `most` labelled ticks, evenly picked, the last always kept."""
    step = max(1, math.ceil(len(xs) / most))
    return sorted(set(xs[::step]) | {xs[-1]}) if xs else xs


def line_chart(title: str, series: Sequence[tuple[str, Sequence[float], Sequence[float]]], x_label: str, y_label: str,
               *, logx: bool = False, logy: bool = False, step: bool = False, markers: bool = False,
               hlines: Sequence[tuple[str, float]] = (),
               bands: Optional[dict[str, tuple[Sequence[float], Sequence[float]]]] = None,
               xlabels: Optional[dict[float, str]] = None) -> str:
    """series: (name, xs, ys). step=True draws a staircase (an empirical CDF). bands: series name -> (lows, highs)
    at the series' xs, drawn as a shaded interval (a confidence interval) under its line. xlabels: the x ticks as
    text (a commit or a date at each stored run) instead of numbers."""
    bands = bands or {}
    xs = [x for _, sx, _ in series for x in sx if not logx or x > 0]
    ys = [y for _, _, sy in series for y in sy if not logy or y > 0] + [v for _, v in hlines]
    ys += [v for lo, hi in bands.values() for v in (*lo, *hi) if not logy or v > 0]
    if not xs or not ys:
        return ""
    lo_y = min(ys) if logy else min(0.0, min(ys))
    ax = _Axes(min(xs), max(xs), lo_y, max(ys) * (1.0 if logy else 1.05), logx, logy, xlabels=xlabels)
    body = ax.grid()
    legend = []
    for i, (name, sx, sy) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        pts = [(x, y) for x, y in zip(sx, sy) if (not logx or x > 0) and (not logy or y > 0)]
        if name in bands:
            lo, hi = bands[name]
            edge = [(x, h) for x, h in zip(sx, hi)] + [(x, l) for x, l in reversed(list(zip(sx, lo)))]
            body.append(f'<polygon fill="{color}" fill-opacity="0.18" stroke="none" points="'
                        + " ".join(f"{ax.px(x):.1f},{ax.py(y):.1f}" for x, y in edge) + f'"><title>{escape(name)}: CI</title></polygon>')
        if step:
            stair = []
            for j, (x, y) in enumerate(pts):
                if j:
                    stair.append((x, pts[j - 1][1]))
                stair.append((x, y))
            pts = stair
        path = " ".join(f"{ax.px(x):.1f},{ax.py(y):.1f}" for x, y in pts)
        body.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{path}"><title>{escape(name)}</title></polyline>')
        if markers:
            body += [f'<circle cx="{ax.px(x):.1f}" cy="{ax.py(y):.1f}" r="3" fill="{color}"><title>{escape(name)}: '
                     f'{_fmt(x)}, {_fmt(y)}</title></circle>' for x, y in pts]
        legend.append((name, color))
    for name, v in hlines:
        y = ax.py(v)
        body.append(f'<line x1="{ML}" y1="{y:.1f}" x2="{W - MR}" y2="{y:.1f}" stroke="#555" stroke-dasharray="4 3"/>'
                    f'<text x="{ML + 4}" y="{y - 3:.1f}" class="k">{escape(name)}</text>')
    return _frame(title, x_label, y_label, body, legend)


def histogram(title: str, series: Sequence[tuple[str, Sequence[float]]], x_label: str, bins: int = 40,
              *, logx: bool = False) -> str:
    """Share of each series' samples per bin; logx: bins of equal ratio on a log axis (a 1.6 ms backend beside a
    700 ms one is then not one bar at zero)."""
    values = [v for _, vs in series for v in vs if not logx or v > 0]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    f, inv = (math.log10, lambda v: 10 ** v) if logx else ((lambda v: v), (lambda v: v))
    width = (f(hi) - f(lo)) / bins or 1.0
    edges = [inv(f(lo) + j * width) for j in range(bins + 1)]
    counts = []
    for name, vs in series:
        c = [0] * bins
        for v in vs:
            if not logx or v > 0:
                c[min(int((f(v) - f(lo)) / width), bins - 1)] += 1
        counts.append((name, [n / max(len(vs), 1) for n in c]))
    ax = _Axes(edges[0], edges[-1], 0.0, max(max(c) for _, c in counts) * 1.05, logx=logx)
    body = ax.grid()
    legend = []
    for i, (name, c) in enumerate(counts):
        color = PALETTE[i % len(PALETTE)]
        for j, share in enumerate(c):
            if share:
                x0, x1 = ax.px(edges[j]), ax.px(edges[j + 1])
                body.append(f'<rect x="{x0:.1f}" y="{ax.py(share):.1f}" width="{max(x1 - x0 - 0.5, 0.5):.1f}" '
                            f'height="{ax.py(0) - ax.py(share):.1f}" fill="{color}" fill-opacity="0.55">'
                            f'<title>{escape(name)}: {_fmt(edges[j])}-{_fmt(edges[j + 1])}: {share:.1%}</title></rect>')
        legend.append((name, color))
    return _frame(title, x_label, "share of samples", body, legend)


def flop_unit(values: Sequence[float]) -> tuple[float, str]:
    """The divisor and unit that show FLOP counts as plain numbers (788 MFLOPs, not 788µ GFLOPs)."""
    top = max(values, default=0.0)
    return next(((d, u) for d, u in ((1e12, "TFLOPs"), (1e9, "GFLOPs"), (1e6, "MFLOPs"), (1e3, "kFLOPs"))
                 if top >= d), (1.0, "FLOPs"))


def bar_chart(title: str, labels: Sequence[str], stacks: Sequence[tuple[str, Sequence[float]]], value_label: str,
              *, log: bool = False) -> str:
    """Horizontal bars, one per label; several stacks are drawn stacked (e.g. stages within a policy step)."""
    if not labels or not stacks:
        return ""
    totals = [sum(s[1][i] for s in stacks) for i in range(len(labels))]
    top = max(totals) or 1.0
    row = 22
    height = MT + MB + row * len(labels)
    left = 170
    right = 60  # room for the value labels (the legend goes beside the plot)
    scale = (W - left - right) / (math.log10(top) + 1 if log else top)
    body = []
    legend = []
    for i, label in enumerate(labels):
        y = MT + i * row
        body.append(f'<text x="{left - 6}" y="{y + row / 2 + 4}" text-anchor="end" class="k">{escape(label[:30])}</text>')
        x = left
        for k, (name, values) in enumerate(stacks):
            v = values[i]
            w = (math.log10(v) + 1 if log and v > 0 else 0.0) * scale if log else v * scale
            color = PALETTE[k % len(PALETTE)]
            if w > 0:
                body.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{color}">'
                            f'<title>{escape(label)} · {escape(name)}: {_fmt(v)} {escape(value_label)}</title></rect>')
            x += w
        body.append(f'<text x="{x + 4:.1f}" y="{y + row / 2 + 4}" class="k">{_fmt(totals[i])}</text>')
    if len(stacks) > 1:
        legend = [(name, PALETTE[k % len(PALETTE)]) for k, (name, _) in enumerate(stacks)]
    body.append(f'<line x1="{left}" y1="{MT}" x2="{left}" y2="{height - MB}" class="a"/>')
    return _frame(title, value_label, "", body, legend, height=height)


def roofline(title: str, peak_gflops: float, bandwidth_gbs: float, points: Sequence[tuple[str, float, float]],
             ceilings: Sequence[tuple[str, float]] = ()) -> str:
    """Log-log roofline: attainable GFLOP/s = min(peak, AI x bandwidth); points are (name, FLOP/byte, GFLOP/s)."""
    ais = [p[1] for p in points if p[1] > 0] or [1.0]
    lo_ai, hi_ai = min(min(ais) / 4, peak_gflops / bandwidth_gbs / 10), max(max(ais) * 4, peak_gflops / bandwidth_gbs * 10)
    perf = [p[2] for p in points if p[2] > 0] + [peak_gflops]
    ax = _Axes(lo_ai, hi_ai, min(min(perf) / 4, lo_ai * bandwidth_gbs), peak_gflops * 2, logx=True, logy=True)
    body = ax.grid()
    ridge = peak_gflops / bandwidth_gbs
    roof = [(lo_ai, lo_ai * bandwidth_gbs), (ridge, peak_gflops), (hi_ai, peak_gflops)]
    body.append('<polyline fill="none" stroke="#333" stroke-width="2" points="'
                + " ".join(f"{ax.px(x):.1f},{ax.py(y):.1f}" for x, y in roof) + '"><title>roof</title></polyline>')
    for name, value in ceilings:
        y = ax.py(value)
        body.append(f'<line x1="{ax.px(max(lo_ai, value / bandwidth_gbs)):.1f}" y1="{y:.1f}" x2="{W - MR}" y2="{y:.1f}" '
                    f'stroke="#999" stroke-dasharray="4 3"/><text x="{W - MR - 4}" y="{y - 3:.1f}" text-anchor="end" class="k">{escape(name)}</text>')
    legend = []
    for i, (name, ai, gf) in enumerate(points):
        color = PALETTE[i % len(PALETTE)]
        if ai > 0 and gf > 0:
            body.append(f'<circle cx="{ax.px(ai):.1f}" cy="{ax.py(gf):.1f}" r="5" fill="{color}">'
                        f'<title>{escape(name)}: {_fmt(ai)} FLOP/B, {_fmt(gf)} GFLOP/s</title></circle>')
            legend.append((name, color))
    return _frame(title, "arithmetic intensity (FLOP/byte)", "GFLOP/s", body, legend)


def scatter(title: str, points: Sequence[tuple[str, float, float]], x_label: str, y_label: str,
            frontier: bool = False) -> str:
    """Labelled points; with frontier=True the Pareto front (nothing both faster and more accurate) is joined. A y
    spanning decades (errors of FP16 beside INT8) gets a log axis; a label that would overlap one already placed is
    left to the point's tooltip."""
    pts = [(n, x, y) for n, x, y in points if x == x and y == y]  # NaN-free
    if not pts:
        return ""
    xs, ys = [x for _, x, _ in pts], [y for _, _, y in pts]
    logy = spans_decades(ys) and min(ys) > 0
    span_x, span_y = (max(xs) - min(xs)) or max(abs(max(xs)), 1e-9), (max(ys) - min(ys)) or max(abs(max(ys)), 1e-9)
    ax = _Axes(min(xs) - 0.08 * span_x, max(xs) + 0.08 * span_x, min(ys) / 2 if logy else min(0.0, min(ys)),
               max(ys) * 2 if logy else max(ys) + 0.12 * span_y, logy=logy)
    # every point's marker is taken before any label is placed: a label never covers another point
    placed: list[tuple[float, float, float, float]] = [(ax.px(x) - 5, ax.py(y) - 5, ax.px(x) + 5, ax.py(y) + 5)
                                                       for _, x, y in pts]
    body = ax.grid()
    front = pareto_front([(x, y) for _, x, y in pts]) if frontier else []
    if len(front) > 1:
        path = " ".join(f"{ax.px(x):.1f},{ax.py(y):.1f}" for x, y in front)
        body.append(f'<polyline fill="none" stroke="#888" stroke-dasharray="5 3" stroke-width="1.5" points="{path}">'
                    "<title>Pareto front</title></polyline>")
    for i, (name, x, y) in enumerate(pts):
        color = PALETTE[i % len(PALETTE)]
        on = (x, y) in front
        ring = ' stroke="#222" stroke-width="1.5"' if on else ""
        body.append(f'<circle cx="{ax.px(x):.1f}" cy="{ax.py(y):.1f}" r="{5 if on else 3.5}" fill="{color}"'
                    f'{ring}><title>{escape(name)}: {_fmt(x)}, {_fmt(y)}</title></circle>')
        label = _place(name[:32], ax.px(x), ax.py(y), placed)
        if label:
            body.append(label)
    return _frame(title, x_label, y_label, body)


def _place(text: str, x: float, y: float, placed: list[tuple[float, float, float, float]]) -> Optional[str]:
    """A point's label above or below, right or left of it, in the first place that overlaps no label already
    placed (boxes estimated at 6.5 px a character of the 10 px font, 12 px high); None when every place is taken."""
    w, h = 6.5 * len(text), 12.0
    for dx, dy in ((6, -6), (6, 14), (-6 - w, -6), (-6 - w, 14)):
        x0, y0 = x + dx, y + dy - h
        if x0 < ML or x0 + w > W - MR:
            continue
        if all(x0 + w < a or x0 > c or y0 + h < b or y0 > d for a, b, c, d in placed):
            placed.append((x0, y0, x0 + w, y0 + h))
            return f'<text x="{x0:.1f}" y="{y + dy:.1f}" class="k">{escape(text)}</text>'
    return None


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both (lower x and lower y), by x."""
    best: list[tuple[float, float]] = []
    for x, y in sorted(set(points)):
        if not best or y < best[-1][1]:
            best.append((x, y))
    return best


BOUND_COLORS = {"compute": "#d62728", "memory": "#1f77b4", "overhead": "#ff7f0e", "unknown": "#9a9a9a"}


def icicle(title: str, cells: Sequence[tuple[str, int, float, float, str, str]], depth: int,
           total_ms: Optional[float] = None) -> str:
    """A module tree laid out left to right by time: each cell is (label, depth from 1, start, width as shares of the
    stage's node time, bound, hover text); colour by roofline bound. Under it, a scale in shares of that time (and
    in ms per run, given `total_ms`)."""
    if not cells:
        return ""
    row = 26
    height = MT + MB + row * depth
    left, right = 16, 16
    span = W - left - right
    body = []
    for label, d, start, width, bound, hover in cells:
        x, y, w = left + start * span, MT + (d - 1) * row, width * span
        body.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w - 1, 0.5):.1f}" height="{row - 2}" '
                    f'fill="{BOUND_COLORS.get(bound, BOUND_COLORS["unknown"])}"><title>{escape(hover)}</title></rect>')
        if w > 7 * min(len(label), 24):
            body.append(f'<text x="{x + 3:.1f}" y="{y + row / 2 + 3}" class="k" fill="#fff">{escape(label[-24:])}</text>')
    base = MT + row * depth + 2
    body.append(f'<line x1="{left}" y1="{base}" x2="{left + span}" y2="{base}" class="a"/>')
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = left + share * span
        ms = f" · {_fmt(share * total_ms)} ms" if total_ms else ""
        anchor = "start" if share == 0 else "end" if share == 1 else "middle"
        body.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" class="a"/>'
                    f'<text x="{x:.1f}" y="{base + 15}" text-anchor="{anchor}" class="k">{share:.0%}{ms}</text>')
    legend = [(f"{b}-bound" if b != "unknown" else "no roofline", c) for b, c in BOUND_COLORS.items()]
    return _frame(title, "share of the stage's node time, ms per run (hover: FLOPs, bytes, achieved rates)",
                  "module depth", body, legend, height=height + 16)
