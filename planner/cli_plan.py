"""CLI commands that solve: candidates and plan. The solver is imported inside the commands, never at start-up."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .cli import _check_format, app
from .errors import InputError
from .units import GIB


def _scenario(path: Optional[Path]):  # type: ignore[no-untyped-def]
    from .scenario import default_scenario_path, load_scenario

    return load_scenario(path if path is not None else default_scenario_path())


def check_out_path(out: Optional[Path], kind: str = "file") -> None:
    """Fail before any work when --out cannot be written: its parent must be a folder (or creatable)."""
    if out is None:
        return
    if kind == "file" and out.exists() and out.is_dir():
        raise InputError(f"--out {out}: is a directory, expected a file")
    if kind == "dir" and out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file, expected a folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"--out {out}: {parent} is not a directory")
            import os

            if not os.access(parent, os.W_OK):
                raise InputError(f"--out {out}: {parent} is not writable")
            break


def _write_or_print(text: str, out: Optional[Path]) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    from .report_io import atomic_write_text

    if out.exists() and out.is_dir():
        raise InputError(f"--out {out}: is a directory, expected a file")
    atomic_write_text(out, text)
    sys.stderr.write(f"wrote {out}\n")


ScenarioArg = typer.Argument(None, help="A scenario YAML file (default: the built-in default scenario).")


@app.command()
def candidates(
    scenario: Optional[Path] = ScenarioArg,
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or markdown."),
) -> None:
    """Every deployment considered for each model: candidates, priced offers, and rejections with reasons.

    Example: planner candidates scenarios/chat-fleet.yaml --format json
    """
    from .candidates import build_candidates
    from .output import emit, to_json

    _check_format(fmt)
    s = _scenario(scenario)
    cs = build_candidates(s)
    if fmt == "json":
        sys.stdout.write(to_json(cs.to_dict()))
        return
    rows = [c.to_dict() for c in cs.candidates]
    for r in rows:
        r["gib_per_device"] = round(r["memory_bytes_per_device"] / GIB, 2)
    cols = ["model", "gpu", "tp", "pp", "gpus", "max_concurrency", "bound", "gib_per_device", "decode_ms_per_token", "tokens_per_s"]
    emit(rows, cols, fmt, title=f"{len(rows)} candidates ({len(cs.rejected)} rejected; `--format json` lists the reasons)")


@app.command()
def plan(
    scenario: Optional[Path] = ScenarioArg,
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or markdown."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the plan to this file instead of stdout."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", min=0.1, max=86400, help="Solver time limit, seconds (default: the scenario's, 60)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, max=64, help="Solver threads (default: the scenario's, 1)."),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="Skip the greedy and single-GPU-type baselines."),
    reproducible: bool = typer.Option(False, "--reproducible", help="Zero the timing fields so runs compare byte for byte."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
) -> None:
    """The cheapest fleet for a scenario: GPU types, splits, replicas, placement on devices; proven optimal.

    Example: planner plan scenarios/chat-fleet.yaml --format json --out plan.json
    """
    from .output import to_json
    from .pipeline import plan as run_plan

    _check_format(fmt, ("table", "json", "markdown"))
    check_out_path(out)
    s = _scenario(scenario)
    if not quiet:
        sys.stderr.write(f"planning {s.name}: {len(s.models)} model(s), {len(s.gpu_ids)} GPU type(s)\n")
    p = run_plan(s, time_limit_s=time_limit, threads=threads, baselines=not no_baselines)
    if fmt == "json":
        _write_or_print(to_json(p.to_dict(reproducible=reproducible)), out)
    elif fmt == "markdown":
        from .report import plan_markdown

        _write_or_print(plan_markdown(p, s), out)
    else:
        if out is not None:
            _write_or_print(to_json(p.to_dict(reproducible=reproducible)), out)
        print_plan(p)


def print_plan(p) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console

    from .output import print_table

    con = Console(width=max(120, Console().width))
    gap = "" if p.status == "optimal" else f" (bound ${p.bound_usd_per_hour:,.2f}/h, gap {p.gap:.1%})"
    con.print(f"[bold]{p.scenario}[/bold]: {p.status}{gap}, ${p.cost_usd_per_hour:,.2f}/hour = ${p.cost_usd_per_month:,.0f}/month, "
              f"{p.gpus} GPUs ({', '.join(f'{n} x {g}' for g, n in p.gpus_by_type().items())}), solved in {p.solve_seconds:.2f} s")
    rows = []
    for m in p.models:
        mine = [r for r in p.replicas if r.model == m.name]
        deps: dict[tuple, int] = {}
        for r in mine:
            k = (r.gpu, r.tp, r.pp, r.concurrency, "shared" if r.shared else r.bound)
            deps[k] = deps.get(k, 0) + 1
        for (gpu, tp, pp, conc, bound), n in deps.items():
            rows.append({"model": m.name, "target": m.target_units, "served": m.served_units, "gpu": gpu,
                         "split": f"TP{tp}" + (f" x PP{pp}" if pp > 1 else ""), "replicas": n, "per_replica": conc,
                         "binds": bound})
    print_table(rows, ["model", "target", "served", "gpu", "split", "replicas", "per_replica", "binds"],
                ["model", "target", "served", "GPU", "split", "replicas", "seqs/replica", "binds"], title="Deployments")
    drows = []
    for inst in p.instances:
        for d in inst.devices:
            w = sum(s.weights_bytes for s in d.shards)
            kv = sum(s.kv_cache_bytes for s in d.shards)
            a = sum(s.activation_bytes + s.overhead_bytes for s in d.shards)
            drows.append({"device": d.id, "on it": ", ".join(f"{s.replica}" + (f"[{s.stage}]" if s.stage else "") for s in d.shards) or "(idle)",
                          "weights": round(w / GIB, 1), "kv": round(kv / GIB, 1), "act+rt": round(a / GIB, 1),
                          "free": round((d.memory_total_bytes - d.memory_used_bytes) / GIB, 1),
                          "$/h": inst.usd_per_hour if d.id.endswith("/gpu0") else None})
    print_table(drows, ["device", "on it", "weights", "kv", "act+rt", "free", "$/h"],
                ["device", "replicas on it", "weights GiB", "KV GiB", "act+runtime GiB", "free GiB", "instance $/h"],
                title="Devices")
    b = p.baselines
    if b.get("best_single_type"):
        bs = b["best_single_type"]
        con.print(f"Best single GPU type: {bs['gpu']} at ${bs['cost_usd_per_hour']:,.2f}/h; this mix saves {bs['savings']:.1%}.")
    if b.get("greedy"):
        con.print(f"Greedy plan: ${b['greedy']['cost_usd_per_hour']:,.2f}/h; this plan saves {b['greedy']['savings']:.1%}.")
    for n in p.notes:
        con.print(f"Note: {n}")
