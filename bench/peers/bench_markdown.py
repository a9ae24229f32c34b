#!/usr/bin/env python3
"""bench_markdown.py — a `streamfit bench --format json` result as Markdown.

  python3 bench/peers/bench_markdown.py RESULT.json [RESULT.json ...]

Prints, per file, the command, the machine, the build and the load average,
then one table row per platform and peer: median of each phase (ms), wall
median (min-max), rows/s, GB/s, peak memory, holdout quality, the largest
relative coefficient difference and the speed-up against the reference
platform. Standard library only.
"""
import json
import sys


def ms(phase):
    return "–" if not phase else f"{phase['median'] * 1e3:.1f}"


def si(v):
    if v is None:
        return "–"
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.2f}{unit}"
    return f"{v:.0f}"


def num(v, fmt):
    return "–" if v is None else format(v, fmt)


def table(doc):
    w, m, b = doc["workload"], doc["machine"], doc["build"]
    out = []
    src = f"from {w['input']}" if w["input"] else f"generated, seed {w['seed']}"
    lam = "" if w["name"] == "ols" else f", λ = {w['lambda']:g}"
    out.append(f"### {w['name']}: {w['train_rows']:,} training + {w['holdout_rows']:,} held-out "
               f"rows × {w['features']} features{lam} ({src})")
    out.append("")
    out.append(f"- Command: `{doc['command']}`")
    gpus = ", ".join(m["gpus"]) if m["gpus"] else "none (" + "; ".join(
        d for d in m["devices"] if d.startswith("cuda")) + ")"
    out.append(f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']:.1f} GiB, "
               f"{m['os']}; GPU: {gpus}" + (f"; driver: {m['gpu_driver']}" if m["gpu_driver"]
                                            else ""))
    out.append(f"- Build: streamfit {b['version']}, CUDA {'on' if b['cuda'] else 'off'}, "
               f"{b['blas']}")
    la = m["load_average"]
    out.append(f"- Date: {doc['date']}; load average at start: "
               f"{la[0]:.2f}, {la[1]:.2f}, {la[2]:.2f}; median of {w['repeat']} repeats")
    out.append("")
    qn = ["rmse", "r2"] if w["classes"] is None else ["accuracy", "log_loss"]
    out.append("| platform | threads | startup ms | parse/read ms | transfer ms | solve/fit ms | "
               f"predict ms | wall ms (min–max) | rows/s | GB/s | peak MiB | {qn[0]} | {qn[1]} | "
               "max rel. coef diff | speed-up | status |")
    out.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    for p in doc["platforms"]:
        ph = p["phases"]
        wall = ph["wall"]
        ok = p["status"] == "ok" and wall
        q = p["quality"] or {}
        cells = [
            p["name"] + (" (peer)" if p["kind"] == "peer" else ""),
            str(p["threads"]) if p["threads"] else "–",
            num(p["startup_s"] * 1e3 if ok else None, ".1f"),
            ms(ph["parse"]), ms(ph["transfer"]), ms(ph["solve"]), ms(ph["predict"]),
            (f"{wall['median'] * 1e3:.1f} ({wall['min'] * 1e3:.1f}–{wall['max'] * 1e3:.1f})"
             if ok else "–"),
            si(p["rows_per_s"]), num(p["gb_per_s"], ".3f"), num(p["peak_mib"], ".0f"),
            num(q.get(qn[0]), ".4f"), num(q.get(qn[1]), ".4f"),
            num(p["max_coef_rel_diff"], ".1e"),
            num(p["speedup"], ".3g") + ("×" if p["speedup"] is not None else ""),
            p["status"],
        ]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append(f"Reference for speed-up and coefficient differences: {doc['reference']}. "
               "streamfit's wall is transfer + solve (+ parse from a file); a peer's is read + "
               "fit, reading its CSV included; start-up (context, interpreter, JVM) and data "
               "generation are not in wall.")
    return "\n".join(out)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    for i, path in enumerate(sys.argv[1:]):
        with open(path) as f:
            doc = json.load(f)
        if i:
            print()
        print(table(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
