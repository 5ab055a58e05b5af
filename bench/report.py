#!/usr/bin/env python3
"""Markdown for bench/run.sh.

report.py section ...   renders one benchmark's results (hyperfine JSON and
                        what run.sh measured around it) as markdown on stdout
report.py splice ...    puts a section between <!-- bench:NAME --> and
                        <!-- /bench:NAME --> in a docs file, keeping the rest;
                        appends the markers if they are not there yet
"""
import argparse
import datetime
import json
import math
import os
import re
import sys
import tempfile


def fmt_time(s):
    if s is None:
        return "n/a"
    if s < 1.0:
        return f"{s * 1000:.1f} ms"
    return f"{s:.3f} s"


def fmt_bytes(n):
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    v = float(n)
    i = 0
    while v >= 1024 and i < len(units) - 1:
        v /= 1024
        i += 1
    return f"{int(v)} {units[i]}" if i == 0 else f"{v:.1f} {units[i]}"


def section(a):
    with open(a.hyperfine) as f:
        results = json.load(f)["results"]
    rss = [int(x) if x.isdigit() else None for x in a.rss.split()] if a.rss else []
    core_bytes = os.path.getsize(a.core) if a.core else None
    summary = {}
    if a.core and os.path.exists(a.core + ".json"):
        with open(a.core + ".json") as f:
            try:
                summary = json.loads(f.readline())
            except ValueError:
                summary = {}
    chunks = summary.get("chunks")

    out = []
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = f"### {a.name}: {a.title}"
    if a.quick:
        title += " (quick smoke run: small input, not representative)"
    out.append(title)
    out.append("")
    out.append(f"- Date: {when}")
    out.append(f"- Machine: {a.machine}")
    out.append(f"- Versions: {a.versions}")
    if core_bytes is not None:
        what = f"- Core: {fmt_bytes(core_bytes)} ({core_bytes} bytes), from `workload {a.workload_args}`"
        if chunks is not None:
            what += f": {chunks:,} chunks, {summary.get('leaked_chunks', 0):,} of them leaked"
        out.append(what)
    out.append(f"- Method: one hyperfine run, {a.warmup} warmup and {a.runs} timed runs "
               "per command, warm page cache; peak RSS from one extra run under /usr/bin/time")
    out.append("")
    header = "| command | mean ± σ | min … max |"
    rule = "|---|---|---|"
    if core_bytes:
        header += " time per GiB of core |"
        rule += "---|"
    header += " peak RSS |"
    rule += "---|"
    if chunks:
        header += " peak RSS per chunk |"
        rule += "---|"
    out.append(header)
    out.append(rule)
    for i, r in enumerate(results):
        disp = a.display[i] if i < len(a.display) else r["command"]
        row = (f"| `{disp}` | {fmt_time(r['mean'])} ± {fmt_time(r['stddev'] or 0)} "
               f"| {fmt_time(r['min'])} … {fmt_time(r['max'])} |")
        if core_bytes:
            row += f" {fmt_time(r['mean'] / (core_bytes / 2**30))} |"
        kb = rss[i] if i < len(rss) else None
        row += f" {fmt_bytes(kb * 1024) if kb else 'n/a'} |"
        if chunks:
            row += f" {kb * 1024 / chunks:.1f} B |" if kb else " n/a |"
        out.append(row)
    out.append("")

    if len(results) >= 2:
        m0, s0 = results[0]["mean"], results[0]["stddev"] or 0.0
        m1, s1 = results[1]["mean"], results[1]["stddev"] or 0.0
        n0 = a.display[0].split()[0] if a.display else results[0]["command"]
        n1 = a.display[1].split()[0] if len(a.display) > 1 else results[1]["command"]
        ratio = m0 / m1
        err = ratio * math.sqrt((s0 / m0) ** 2 + (s1 / m1) ** 2)
        speed = (f"{n0} is {1 / ratio:.1f}× faster" if ratio < 1
                 else f"{n0} is {ratio:.1f}× slower")
        out.append(f"Ratio {n0} / {n1} (mean times): **{ratio:.3f} ± {err:.3f}** ({speed}).")
        out.append("")

    if a.target_seconds is not None:
        m0 = results[0]["mean"]
        if a.quick:
            verdict = (f"not judged on a quick run ({fmt_time(m0)} here, "
                       f"{fmt_time(m0 / (core_bytes / 2**30)) if core_bytes else 'n/a'} per GiB)")
        elif m0 < a.target_seconds:
            verdict = f"**PASS** ({fmt_time(m0)} < {fmt_time(a.target_seconds)})"
        else:
            verdict = f"**FAIL** ({fmt_time(m0)} ≥ {fmt_time(a.target_seconds)})"
        out.append(f"Target: {a.target_text}: {verdict}.")
        out.append("")
    sys.stdout.write("\n".join(out))
    return 0


def splice(a):
    start = f"<!-- bench:{a.name} -->"
    end = f"<!-- /bench:{a.name} -->"
    with open(a.section) as f:
        body = f.read().strip("\n")
    if os.path.exists(a.docs):
        with open(a.docs) as f:
            text = f.read()
    else:
        text = "# Benchmarks\n"
    block = f"{start}\n{body}\n{end}"
    pat = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pat.search(text):
        text = pat.sub(lambda _m: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    d = os.path.dirname(os.path.abspath(a.docs))
    os.makedirs(d, exist_ok=True)
    mode = os.stat(a.docs).st_mode & 0o777 if os.path.exists(a.docs) else 0o644
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".benchmarks.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, a.docs)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("section")
    s.add_argument("--name", required=True)
    s.add_argument("--title", required=True)
    s.add_argument("--hyperfine", required=True, help="hyperfine --export-json file")
    s.add_argument("--rss", default="", help="peak RSS per command, KiB, space separated")
    s.add_argument("--display", action="append", default=[],
                   help="command as shown, one per command in hyperfine order")
    s.add_argument("--core")
    s.add_argument("--workload-args", default="")
    s.add_argument("--machine", default="")
    s.add_argument("--versions", default="")
    s.add_argument("--runs", default="?")
    s.add_argument("--warmup", default="?")
    s.add_argument("--target-seconds", type=float)
    s.add_argument("--target-text", default="")
    s.add_argument("--quick", action="store_true")
    s.set_defaults(func=section)
    t = sub.add_parser("splice")
    t.add_argument("--docs", required=True)
    t.add_argument("--name", required=True)
    t.add_argument("--section", required=True)
    t.set_defaults(func=splice)
    a = p.parse_args()
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
