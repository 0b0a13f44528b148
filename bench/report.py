"""Writes the results: bench/results/latest.json, latest.md (Markdown tables) and PNG plots.

Every metric row shows median, p10, p90, spread and the ratio boxnet/peer (lower is better
for times, higher for throughput: the ratio is always boxnet's value over the peer's).
Goals are listed as met / missed / not measured, plainly.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.stats import ratio

RESULTS = Path(__file__).resolve().parent / "results"


def _fmt(v, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def scenario_markdown(sc: dict, plots: dict[str, str]) -> list[str]:
    """The Markdown lines for one scenario."""
    out = [f"## {sc['title']}", ""]
    if sc["metrics"]:
        out += ["| metric | peer | median | p10 | p90 | spread | n | boxnet/peer |",
                "|---|---|---:|---:|---:|---:|---:|---:|"]
        for m in sc["metrics"].values():
            base = m["peers"].get("boxnet", {}).get("median")
            for peer, s in m["peers"].items():
                r = None if peer == "boxnet" else ratio(base, s["median"])
                out.append(f"| {m['label']} ({m['unit']}) | {peer} | {_fmt(s['median'])} | "
                           f"{_fmt(s['p10'])} | {_fmt(s['p90'])} | {s['spread'] * 100:.0f}% | "
                           f"{s['n']} | {_fmt(r)} |")
        out.append("")
    for key, s in sc["series"].items():
        peers = s["peers"]
        xs = sorted({p[0] for pts in peers.values() for p in pts})
        out += [f"**{s['label']} ({s['unit']})**", "",
                "| peer | " + " | ".join(str(x) for x in xs) + " |",
                "|---|" + "---:|" * len(xs)]
        for peer, pts in peers.items():
            d = dict((x, y) for x, y in pts)
            out.append(f"| {peer} | " + " | ".join(_fmt(d.get(x)) for x in xs) + " |")
        out.append("")
    for key, fname in plots.items():
        out += [f"![{key}]({fname})", ""]
    if sc["goals"]:
        out += ["| goal | status | value | limit | detail |", "|---|---|---:|---:|---|"]
        for g in sc["goals"]:
            out.append(f"| {g['goal']} | **{g['status']}** | {_fmt(g['value'], 3)} | "
                       f"{g['limit']} | {g['detail']} |")
        out.append("")
    for peer, why in sc["skipped"].items():
        out.append(f"- *{peer}: not measured: {why}*")
    for n in sc["notes"]:
        out.append(f"- {n}")
    out.append("")
    return out


def plot(sc: dict, outdir: Path) -> dict[str, str]:
    """One PNG per per-operation curve and per multi-point series; return {key: file}."""
    curves = sc.get("curves", {})
    series = {k: v for k, v in sc.get("series", {}).items() if len(
        {x for pts in v["peers"].values() for x, _ in pts}) > 1}
    if not curves and not series:
        return {}
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    files = {}
    for key, c in curves.items():
        fig, ax = plt.subplots(figsize=(7, 4))
        for peer, ys in c["peers"].items():
            ax.plot(range(1, len(ys) + 1), ys, label=peer, linewidth=1)
        ax.set_xlabel(c.get("xlabel", "operation #"))
        ax.set_ylabel(c["unit"])
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        ax.set_title(c["label"], fontsize=9)
        fig.tight_layout()
        fname = f"{sc['name']}_{key}.png"
        fig.savefig(outdir / fname, dpi=100)
        plt.close(fig)
        files[key] = fname
    for key, s in series.items():
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for peer, pts in s["peers"].items():
            pts = [(x, y) for x, y in pts if y is not None]
            if pts:
                ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=peer)
        ax.set_xscale("log")
        ax.set_xlabel(key.split("_")[0])
        ax.set_ylabel(s["unit"])
        ax.set_title(s["label"], fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fname = f"{sc['name']}_{key}.png"
        fig.savefig(outdir / fname, dpi=90)
        plt.close(fig)
        files[key] = fname
    return files


def write(results: dict, outdir: Path = RESULTS) -> Path:
    """Write latest.json, latest.md and the plots into outdir; return the .md path."""
    outdir.mkdir(parents=True, exist_ok=True)
    meta = results["meta"]
    lines = ["# boxnet benchmark results", "",
             f"- date: {meta['date']}  mode: {'quick' if meta['quick'] else 'full'}  "
             f"duration: {meta.get('duration_s', 0):.0f} s",
             f"- machine: {meta['machine']}",
             f"- peers: {meta['versions']}", ""]
    goals = [(sc["title"], g) for sc in results["scenarios"].values() for g in sc["goals"]]
    if goals:
        lines += ["## Goals", "", "| scenario | goal | status |", "|---|---|---|"]
        lines += [f"| {t} | {g['goal']} | **{g['status']}** |" for t, g in goals]
        lines.append("")
    for sc in results["scenarios"].values():
        lines += scenario_markdown(sc, plot(sc, outdir))
    for todo in meta.get("to_come", []):
        lines.append(f"- scenario still to come: {todo}")
    md = outdir / "latest.md"
    md.write_text("\n".join(lines) + "\n")
    (outdir / "latest.json").write_text(json.dumps(results, indent=1, default=str))
    return md
