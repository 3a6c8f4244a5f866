#!/usr/bin/env python3
"""Plots loadgen latency CSVs as one percentile-spectrum SVG.

Each input is a file written by `loadgen --latency_out` (rows
`percentile,latency_us` after a header line) with a label; the output is one
self-contained SVG with one line per input: x is the percentile on the log
scale of 1/(1-p) (ticks 0% .. 99.999%), y the latency on a log scale.

    tools/bench/plot_latency.py --out=overload-2x.svg \\
        --title='fast route at 2x capacity' \\
        brisk=brisk-fast.csv httplib=httplib-fast.csv

A label is the text before the '=' that precedes the file's path (either may
hold '='; without a label, the file name without its extension). Python 3
standard library only.

The drawing is the same as tools/loadgen/plot.cc (loadgen --plot_out): same
layout, ticks, arithmetic and number formats, so both write identical bytes
for the same points (checked against one golden file by both tests). Change
both together.

Exit status: 0 written; 2 bad arguments or an unreadable/malformed CSV.
"""

import argparse
import math
import os
import sys

WIDTH = 960
HEIGHT = 600
LEFT = 84
RIGHT = 912
TOP = 56
BOTTOM = 536
DECADES = 5  # of 1/(1-p) on the x axis: 0% .. 99.999%

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

PERCENTILE_TICKS = [(0, "0%"), (90, "90%"), (99, "99%"), (99.9, "99.9%"),
                    (99.99, "99.99%"), (99.999, "99.999%")]


def coord(v):
    return "%.1f" % v


def escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&quot;"))


def percentile_decades(p):
    """-log10(1 - p/100), clamped to [0, DECADES]."""
    if p >= 100.0:
        return float(DECADES)
    decades = -math.log10((100.0 - p) / 100.0)
    return min(max(decades, 0.0), float(DECADES))


def x_of(p):
    return LEFT + percentile_decades(p) / DECADES * (RIGHT - LEFT)


def percentile_ticks():
    """[(percentile, x, label)], equally spaced by decade index."""
    return [(p, LEFT + i / DECADES * (RIGHT - LEFT), label)
            for i, (p, label) in enumerate(PERCENTILE_TICKS)]


def next_step(v):
    """The value after v in 1, 2, 5, 10, 20, 50, ..."""
    power = 1
    while power * 10 <= v:
        power *= 10
    mantissa = v // power
    return 2 * power if mantissa == 1 else 5 * power if mantissa == 2 else 10 * power


def is_power_of_ten(v):
    while v % 10 == 0:
        v //= 10
    return v == 1


def latency_label(us):
    if us < 1000:
        return "%d\u00b5s" % us
    if us < 1000000:
        return "%dms" % (us // 1000)
    return "%ds" % (us // 1000000)


class LatencyAxis:
    """The y axis: 1-2-5 values around [min_us, max_us], log scale."""

    def __init__(self, min_us, max_us):
        low = max(min_us, 1.0)
        high = max(max_us, low)
        self.low_us = 1
        while next_step(self.low_us) <= low:
            self.low_us = next_step(self.low_us)
        self.high_us = self.low_us
        while self.high_us < high:
            self.high_us = next_step(self.high_us)
        if self.high_us == self.low_us:
            self.high_us = next_step(self.low_us)
        values = []
        v = self.low_us
        while v <= self.high_us:
            values.append(v)
            v = next_step(v)
        # [(microseconds, y, label or "")]
        self.ticks = [(v, self.position(v),
                       latency_label(v) if len(values) <= 10 or is_power_of_ten(v) else "")
                      for v in values]

    def position(self, latency_us):
        v = max(float(latency_us), 1.0)
        return BOTTOM - (math.log10(v) - math.log10(float(self.low_us))) / (
            math.log10(float(self.high_us)) - math.log10(float(self.low_us))) * (BOTTOM - TOP)


def has_data(points):
    return any(latency > 0 for _, latency in points)


def render(series, title):
    """series: [(label, [(percentile, latency_us)])] -> SVG text."""
    latencies = [lat for _, pts in series if has_data(pts) for _, lat in pts]
    if latencies:
        axis = LatencyAxis(min(max(lat, 1.0) for lat in latencies), max(latencies))
    else:
        axis = LatencyAxis(1, 1)
    w, h = str(WIDTH), str(HEIGHT)
    left, right, top, bottom = str(LEFT), str(RIGHT), str(TOP), str(BOTTOM)
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" '
           'viewBox="0 0 %s %s" font-family="sans-serif" font-size="13">\n' % (w, h, w, h),
           "<title>%s</title>\n" % escape(title),
           '<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>\n' % (w, h),
           '<text class="title" x="%d" y="32" text-anchor="middle" font-size="17">%s</text>\n'
           % (WIDTH // 2, escape(title)),
           '<g class="grid" stroke-width="1">\n']
    x_ticks = percentile_ticks()
    for _, x, _ in x_ticks:
        out.append('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#d0d0d0"/>\n'
                   % (coord(x), top, coord(x), bottom))
    for _, y, label in axis.ticks:
        out.append('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>\n'
                   % (left, coord(y), right, coord(y), "#d0d0d0" if label else "#ececec"))
    out.append("</g>\n")
    out.append('<rect class="frame" x="%s" y="%s" width="%d" height="%d" '
               'fill="none" stroke="#444444"/>\n' % (left, top, RIGHT - LEFT, BOTTOM - TOP))
    out.append('<g class="x-ticks" text-anchor="middle">\n')
    for _, x, label in x_ticks:
        out.append('<text x="%s" y="%d">%s</text>\n' % (coord(x), BOTTOM + 20, label))
    out.append('</g>\n<g class="y-ticks" text-anchor="end">\n')
    for _, y, label in axis.ticks:
        if label:
            out.append('<text x="%d" y="%s">%s</text>\n' % (LEFT - 8, coord(y + 4), label))
    out.append("</g>\n")
    x_mid, y_mid = (LEFT + RIGHT) // 2, (TOP + BOTTOM) // 2
    out.append('<text class="x-label" x="%d" y="%d" text-anchor="middle">Percentile</text>\n'
               % (x_mid, HEIGHT - 14))
    out.append('<text class="y-label" x="20" y="%d" text-anchor="middle" '
               'transform="rotate(-90 20 %d)">Latency</text>\n' % (y_mid, y_mid))
    out.append('<g class="series" fill="none" stroke-width="2" stroke-linejoin="round">\n')
    for i, (label, pts) in enumerate(series):
        if not has_data(pts):
            continue
        points = " ".join("%s,%s" % (coord(x_of(p)), coord(axis.position(lat)))
                          for p, lat in pts)
        out.append('<polyline data-label="%s" stroke="%s" points="%s"/>\n'
                   % (escape(label), COLORS[i % len(COLORS)], points))
    out.append("</g>\n")
    legend = [label if has_data(pts) else label + " (no data)" for label, pts in series]
    widest = max([len(text) for text in legend] + [0])
    lx, ly = LEFT + 12, TOP + 12
    out.append('<g class="legend">\n')
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="#ffffff" '
               'fill-opacity="0.9" stroke="#bbbbbb"/>\n'
               % (lx, ly, 44 + 7 * widest, 8 + 20 * len(legend)))
    for i, text in enumerate(legend):
        row = ly + 20 * i
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>\n'
                   % (lx + 8, row + 14, lx + 32, row + 14, COLORS[i % len(COLORS)]))
        out.append('<text x="%d" y="%d">%s</text>\n' % (lx + 40, row + 18, escape(text)))
    out.append("</g>\n</svg>\n")
    return "".join(out)


def read_csv(path):
    """[(percentile, latency_us)] from a loadgen latency CSV."""
    points = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or (number == 1 and line.startswith("percentile")):
                continue
            fields = line.split(",")
            try:
                if len(fields) != 2:
                    raise ValueError
                p, latency = float(fields[0]), float(fields[1])
            except ValueError:
                raise ValueError("%s:%d: expected percentile,latency_us, got %r"
                                 % (path, number, line)) from None
            if not 0 <= p <= 100 or latency < 0 or math.isnan(latency) or math.isinf(latency):
                raise ValueError("%s:%d: out of range: %r" % (path, number, line))
            points.append((p, latency))
    return points


def parse_series_arg(arg):
    """'LABEL=PATH' -> (label, path); 'PATH' -> (file name sans extension, path).

    Either side may hold '=': a label may be loadgen's own (a query target,
    'GET /slow?ms=50=slow.csv') and a path may too ('brisk=runs/rate=1000.csv').
    The label ends at the last '=' after which an existing file is named,
    else the whole argument is a path if it names a file, else the label
    ends at the last '=' (and the missing file is reported).
    """
    if "=" not in arg:
        return os.path.splitext(os.path.basename(arg))[0], arg
    at = arg.rfind("=")
    while at >= 0:
        if os.path.isfile(arg[at + 1:]):
            return arg[:at], arg[at + 1:]
        at = arg.rfind("=", 0, at)
    if os.path.isfile(arg):
        return os.path.splitext(os.path.basename(arg))[0], arg
    label, path = arg.rsplit("=", 1)
    return label, path


def main(argv):
    parser = argparse.ArgumentParser(
        description="One percentile-spectrum SVG from loadgen latency CSVs.")
    parser.add_argument("--out", required=True, help="the SVG file to write ('-': stdout)")
    parser.add_argument("--title", default="Latency by percentile", help="the plot's title")
    parser.add_argument("series", nargs="+", metavar="LABEL=FILE.csv",
                        help="a loadgen --latency_out CSV and its label")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        series = [(label, read_csv(path))
                  for label, path in map(parse_series_arg, args.series)]
    except (OSError, ValueError) as e:
        print("plot_latency: %s" % e, file=sys.stderr)
        return 2
    svg = render(series, args.title)
    if args.out == "-":
        sys.stdout.write(svg)
    else:
        with open(args.out, "w", encoding="utf-8", newline="\n") as f:
            f.write(svg)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
