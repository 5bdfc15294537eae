#!/usr/bin/env python3
"""Summarise a compare.sh run (Python stdlib only).

    summarize.py RESULTS_DIR        reads RESULTS_DIR/raw.jsonl, prints the table, writes
                                    summary.md, and compare.png when gnuplot is installed
    summarize.py --brief JSON_LINE  one short line for a single zkbench report (progress log)

Every figure is shown per server as the median over rounds with the min-max spread, and
the ratio of the medians zkserver / ZooKeeper. Whether higher or lower is better is printed
beside each figure, so a ratio reads the same way for throughput and for latency.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys

SERVERS = ("zookeeper", "zkserver")
NAMES = {"zookeeper": "ZooKeeper 3.8", "zkserver": "zkserver"}


def brief(line):
    r = json.loads(line)
    lat = r.get("latency_us", {})
    return (
        f"{r.get('status')} ops={r.get('ops')} {r.get('ops_per_sec')}/s "
        f"errors={r.get('errors')} p50={lat.get('p50')}us p99={lat.get('p99')}us "
        f"max={lat.get('max')}us elapsed={r.get('elapsed_s')}s"
    )


class Figures:
    """(figure, unit, better) -> server -> [values], in first-seen order."""

    def __init__(self):
        self.order = []
        self.values = {}

    def add(self, name, unit, better, server, value):
        key = (name, unit, better)
        if key not in self.values:
            self.order.append(key)
            self.values[key] = {}
        self.values[key].setdefault(server, []).append(float(value))


def collect(rows):
    figs = Figures()
    failures = []
    for row in rows:
        server, case = row.get("server"), row.get("case")
        if "value" in row:
            figs.add(case, row.get("unit", ""), row.get("better", "lower"), server, row["value"])
            continue
        res = row.get("result", {})
        if res.get("status") != "ok" or res.get("errors", 0) > 0:
            failures.append(
                f"{server} round {row.get('round')} {case}: status {res.get('status')}, "
                f"errors {res.get('errors')} {res.get('error_codes')}, {res.get('message', '')}"
            )
            if res.get("status") != "ok":
                continue
        lat = res.get("latency_us", {})
        wl = res.get("workload")
        if wl == "watch":
            for q in ("p50", "p99", "max"):
                figs.add(f"{case} notify {q}", "us", "lower", server, lat.get(q, 0))
        elif wl == "bulk-load":
            figs.add(f"{case} create rate", "znodes/s", "higher", server, res.get("ops_per_sec", 0))
        else:
            figs.add(f"{case} throughput", "ops/s", "higher", server, res.get("ops_per_sec", 0))
            figs.add(f"{case} p50", "us", "lower", server, lat.get("p50", 0))
            figs.add(f"{case} p99", "us", "lower", server, lat.get("p99", 0))
    return figs, failures


def fmt(x):
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def cell(vals):
    if not vals:
        return "–"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(vals))}–{fmt(max(vals))})"


def table(figs):
    head = ["figure", "unit", "better", NAMES["zookeeper"], NAMES["zkserver"], "zkserver/ZK"]
    rows = []
    for key in figs.order:
        name, unit, better = key
        per = figs.values[key]
        zk, zks = per.get("zookeeper", []), per.get("zkserver", [])
        ratio = "–"
        if zk and zks and statistics.median(zk) != 0:
            ratio = f"{statistics.median(zks) / statistics.median(zk):.2f}"
        rows.append([name, unit, better, cell(zk), cell(zks), ratio])
    return head, rows


def markdown(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def plain(head, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths))
    return "\n".join([line(head)] + [line(r) for r in rows])


def plot(figs, outdir):
    """Two panels: throughput and p99 latency of the read/write/mixed cases, per server,
    median bars with min-max error bars."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return None
    cases = [k[0][: -len(" throughput")] for k in figs.order if k[0].endswith(" throughput")]
    if not cases:
        return None

    def stats3(name):
        for key in figs.order:
            if key[0] == name:
                out = []
                for s in SERVERS:
                    v = figs.values[key].get(s, [])
                    out += [statistics.median(v), min(v), max(v)] if v else ["NaN"] * 3
                return out
        return ["NaN"] * 6

    data = os.path.join(outdir, "plot.dat")
    with open(data, "w") as f:
        f.write("# case zk_med zk_min zk_max zks_med zks_min zks_max (throughput) | same for p99\n")
        for c in cases:
            vals = stats3(f"{c} throughput") + stats3(f"{c} p99")
            f.write(c + " " + " ".join(str(v) for v in vals) + "\n")
    png = os.path.join(outdir, "compare.png")
    script = f"""
set terminal pngcairo size 1100,800 font ",10"
set output '{png}'
set termoption noenhanced
set yrange [0:*]
set datafile missing 'NaN'
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set key top right
set grid ytics
set multiplot layout 2,1 title 'zkserver vs Apache ZooKeeper 3.8 (standalone, 127.0.0.1; median, min-max bars)'
set ylabel 'ops/s'
set title 'Throughput (higher is better)'
plot '{data}' using 2:3:4:xtic(1) title '{NAMES["zookeeper"]}' lc rgb '#d95f02', \\
     '' using 5:6:7 title '{NAMES["zkserver"]}' lc rgb '#1b9e77'
set ylabel 'microseconds'
set title 'p99 latency (lower is better)'
plot '{data}' using 8:9:10:xtic(1) title '{NAMES["zookeeper"]}' lc rgb '#d95f02', \\
     '' using 11:12:13 title '{NAMES["zkserver"]}' lc rgb '#1b9e77'
unset multiplot
"""
    gp = os.path.join(outdir, "plot.gp")
    with open(gp, "w") as f:
        f.write(script)
    r = subprocess.run([gnuplot, gp], capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(f"gnuplot failed: {r.stderr}\n")
        return None
    return png


def main(argv):
    if len(argv) == 3 and argv[1] == "--brief":
        print(brief(argv[2]))
        return 0
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    outdir = argv[1]
    with open(os.path.join(outdir, "raw.jsonl")) as f:
        rows = [json.loads(l) for l in f if l.strip()]
    figs, failures = collect(rows)
    head, body = table(figs)
    rounds = sorted({r.get("round") for r in rows if r.get("round") is not None})
    env = ""
    env_path = os.path.join(outdir, "env.txt")
    if os.path.exists(env_path):
        with open(env_path) as f:
            env = f.read()
    png = plot(figs, outdir)
    md = [
        "# zkserver vs Apache ZooKeeper 3.8",
        "",
        f"Rounds: {len(rounds)}. Each cell: median over rounds (min–max). "
        "Ratio: median zkserver / median ZooKeeper; read it with the 'better' column.",
        "",
        markdown(head, body),
        "",
    ]
    if failures:
        md += ["## Failed or erroring runs", ""] + [f"- {x}" for x in failures] + [""]
    if png:
        md += [f"![throughput and p99 latency]({os.path.basename(png)})", ""]
    md += ["## Environment", "", "```", env.rstrip(), "```", ""]
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write("\n".join(md))
    print(plain(head, body))
    if failures:
        print("\nFailed or erroring runs:")
        for x in failures:
            print("  " + x)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
