"""CLI commands that solve: candidates and plan. The solver is imported inside the commands, never at start-up."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from planner.cli.app import _check_format, app
from planner.errors import InputError, PlannerError, not_one_of
from planner.units import GIB

OUTPUT_MARGIN_S = 0.5  # of --time-limit, kept for start-up, reading the scenario and writing the output


def _limit(time_limit: float | None, s: Scenario) -> float:
    """The time for planning: --time-limit (or the scenario's) less the margin for the rest of the command."""
    tl = time_limit if time_limit is not None else s.solver.time_limit_s
    return max(0.01, tl - min(OUTPUT_MARGIN_S, 0.1 * tl))


if TYPE_CHECKING:
    from planner.inputs.scenario import Scenario
    from planner.plans.records import Plan


def _scenario(path: Path | None, engine: dict | None = None) -> Scenario:
    """The scenario file (or the built-in default), with the command's engine flags over its `engine:` blocks."""
    from planner.inputs.scenario import default_scenario_path, load_scenario, with_engine_flags

    s = load_scenario(path if path is not None else default_scenario_path())
    return with_engine_flags(s, **engine) if engine else s


# engine flags of plan, candidates and report: over the scenario's `engine:` blocks, for every model (None: not given)
EngineOpt = typer.Option(None, "--engine", help="The serving engine: vllm.")
VllmVersionOpt = typer.Option(None, "--vllm-version", help="vLLM version X.Y[.Z] whose memory rules apply (default: the scenario's, else the README's current release).")
MaxNumSeqsOpt = typer.Option(None, "--max-num-seqs", min=1, max=65_536, help="vLLM max_num_seqs for every engine: capacity is capped at it (default: each replica's planned sequences).")
MaxBatchedOpt = typer.Option(None, "--max-batched-tokens", "--max-num-batched-tokens", min=16, max=1_048_576, help="vLLM max_num_batched_tokens (default: the version's).")
EagerOpt = typer.Option(None, "--enforce-eager/--cuda-graphs", help="No CUDA graphs (vLLM --enforce-eager), or graphs (default: the scenario's, graphs).")
BlockSizeOpt = typer.Option(None, "--block-size", help="KV block size in tokens: 1, 8, 16, 32, 64 or 128 (vLLM --block-size).")
KvMemoryOpt = typer.Option(None, "--kv-cache-memory", "--kv-cache-memory-bytes", min=1, help="A fixed KV cache per GPU in bytes (vLLM --kv-cache-memory-bytes; skips profiling).")
UsageOpt = typer.Option(None, "--usage", help="serve (`vllm serve`) or offline (the LLM class): vLLM's defaults differ.")
ChunkedOpt = typer.Option(None, "--chunked-prefill", help="on or off (V0 only; V1 always chunks).")


def engine_flags(*, engine: str | None, vllm_version: str | None, max_num_seqs: int | None,
                 max_batched_tokens: int | None, enforce_eager: bool | None, block_size: int | None,
                 kv_cache_memory: int | None, usage: str | None, chunked_prefill: str | None) -> dict:
    """The engine flags as EngineProfile fields (None: not given); bad values are one-line errors naming the flag."""
    from planner.estimate.engine import ENGINES, USAGES, parse_version

    if engine is not None and engine not in ENGINES:
        raise InputError(not_one_of("--engine: ", engine, ENGINES))
    if usage is not None and usage not in USAGES:
        raise InputError(not_one_of("--usage: ", usage, USAGES))
    if chunked_prefill is not None and chunked_prefill not in ("on", "off"):
        raise InputError(not_one_of("--chunked-prefill: ", chunked_prefill, ("on", "off")))
    if block_size is not None and block_size not in (1, 8, 16, 32, 64, 128):
        raise InputError(f"--block-size: {block_size} is not allowed; allowed: 1, 8, 16, 32, 64, 128")
    if vllm_version is not None:
        parse_version(vllm_version)
    return {"engine": engine, "version": vllm_version, "max_num_seqs": max_num_seqs,
            "max_num_batched_tokens": max_batched_tokens, "enforce_eager": enforce_eager, "block_size": block_size,
            "kv_cache_memory_bytes": kv_cache_memory, "usage": usage,
            "chunked_prefill": None if chunked_prefill is None else chunked_prefill == "on"}


def check_out_path(out: Path | None, kind: str = "file") -> None:
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


def _write_or_print(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    from planner.report.files import atomic_write_text

    if out.exists() and out.is_dir():
        raise InputError(f"--out {out}: is a directory, expected a file")
    atomic_write_text(out, text)
    sys.stderr.write(f"wrote {out}\n")


ScenarioArg = typer.Argument(None, help="A scenario YAML file (default: the built-in default scenario).")
TimeLimitOpt = typer.Option(None, "--time-limit", min=0.1, max=86400,
                            help="Wall-clock limit in seconds for the whole command: candidates, solves, bounds, explanations, baselines and every compare/sweep point (default: the scenario's, 60).")
ThreadsOpt = typer.Option(None, "--threads", min=1, max=64, help="Solver threads asked for (default: the scenario's, 1); every solver searches in one deterministic thread, so the plan is the same at any count.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress on stderr.")
CurrencyOpt = typer.Option(None, "--currency", help="USD, CNY or EUR: money in this currency (default: the scenario's `currency:`, USD).")
LangOpt = typer.Option(None, "--lang", help="en or zh: the language of tables and reports (default: the scenario's `lang:`, en).")


def _money_lang(s: Scenario, currency: str | None, lang: str | None) -> tuple[str, str]:
    """The currency and language a command prints in: the option, else the scenario's."""
    from planner.i18n import check_lang
    from planner.inputs.currency import check_currency

    return (check_currency(currency) if currency else s.currency), (check_lang(lang) if lang else s.lang)


def _schedule_money_lang(cur: str, lng: str) -> None:
    """Hourly schedules are printed in USD and English; any other choice is refused rather than ignored."""
    if (cur, lng) != ("USD", "en"):
        raise InputError(f"currency {cur}, lang {lng}: hourly schedules (profile:, commitment:) are printed in USD and "
                         "English only; allowed: currency USD and lang en")


@app.command()
def candidates(
    scenario: Path | None = ScenarioArg,
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or markdown."),
    quiet: bool = QuietOpt,  # accepted like every solve command's; candidates prints no progress line
    engine: str | None = EngineOpt,
    vllm_version: str | None = VllmVersionOpt,
    max_num_seqs: int | None = MaxNumSeqsOpt,
    max_batched_tokens: int | None = MaxBatchedOpt,
    enforce_eager: bool | None = EagerOpt,
    block_size: int | None = BlockSizeOpt,
    kv_cache_memory: int | None = KvMemoryOpt,
    usage: str | None = UsageOpt,
    chunked_prefill: str | None = ChunkedOpt,
) -> None:
    """Every deployment considered for each model: candidates, priced offers, and rejections with reasons.

    Example: planner candidates scenarios/chat-fleet.yaml --format json
    """
    from planner.candidates.deployments import build_candidates
    from planner.report.tables import emit, to_json

    _check_format(fmt)
    s = _scenario(scenario, engine_flags(
        engine=engine, vllm_version=vllm_version, max_num_seqs=max_num_seqs, max_batched_tokens=max_batched_tokens,
        enforce_eager=enforce_eager, block_size=block_size, kv_cache_memory=kv_cache_memory, usage=usage,
        chunked_prefill=chunked_prefill))
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
    scenario: Path | None = ScenarioArg,
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or markdown."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the plan to this file instead of stdout."),
    time_limit: float | None = TimeLimitOpt,
    threads: int | None = ThreadsOpt,
    solver: str = typer.Option("auto", "--solver", help="auto, cp-sat, cbc, scip or highs (auto: chosen by size, benchmarks/RESULTS.md)."),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="Skip the greedy and single-GPU-type baselines."),
    reproducible: bool = typer.Option(False, "--reproducible", help="Zero the timing fields so runs compare byte for byte."),
    schedule_csv: Path | None = typer.Option(None, "--schedule-csv", help="With a profile: write per-hour replica targets (hour, model, gpu, tp, pp, replicas) as CSV."),
    quiet: bool = QuietOpt,
    currency: str | None = CurrencyOpt,
    lang: str | None = LangOpt,
    engine: str | None = EngineOpt,
    vllm_version: str | None = VllmVersionOpt,
    max_num_seqs: int | None = MaxNumSeqsOpt,
    max_batched_tokens: int | None = MaxBatchedOpt,
    enforce_eager: bool | None = EagerOpt,
    block_size: int | None = BlockSizeOpt,
    kv_cache_memory: int | None = KvMemoryOpt,
    usage: str | None = UsageOpt,
    chunked_prefill: str | None = ChunkedOpt,
) -> None:
    """The cheapest fleet for a scenario: GPU types, splits, replicas, placement on devices; proven optimal.

    Example: planner plan scenarios/chat-fleet.yaml --format json --out plan.json
    """
    from planner.pipeline import plan as run_plan
    from planner.report.tables import to_json

    _check_format(fmt, ("table", "json", "markdown"))
    from planner.solve.formulation import SOLVERS

    if solver not in SOLVERS:

        raise InputError(not_one_of("--solver: ", solver, SOLVERS))
    check_out_path(out)
    s = _scenario(scenario, engine_flags(
        engine=engine, vllm_version=vllm_version, max_num_seqs=max_num_seqs, max_batched_tokens=max_batched_tokens,
        enforce_eager=enforce_eager, block_size=block_size, kv_cache_memory=kv_cache_memory, usage=usage,
        chunked_prefill=chunked_prefill))
    cur, lng = _money_lang(s, currency, lang)
    if s.profile is not None or s.commitment is not None:  # demand over time: the hourly schedule (issue 16)
        from planner.cli.schedule_commands import plan_schedule_command

        _schedule_money_lang(cur, lng)
        return plan_schedule_command(s, fmt, out, schedule_csv, time_limit, threads, solver, reproducible, quiet,
                                     _write_or_print, check_out_path)
    if schedule_csv is not None:
        raise InputError("--schedule-csv: the scenario has no profile; add profile: (or commitment:) to plan by the hour")
    if not quiet:
        sys.stderr.write(f"planning {s.name}: {len(s.models)} model(s), {len(s.gpu_ids)} GPU type(s)\n")
    from planner.errors import InfeasibleError

    try:
        p = run_plan(s, time_limit_s=_limit(time_limit, s), threads=threads, baselines=not no_baselines, solver=solver)
    except InfeasibleError as exc:
        if fmt == "json":  # scripts get the explanation as data too; the exit code stays 1
            _write_or_print(to_json({"scenario": s.name, "status": "infeasible", "message": exc.message,
                                     "explanation": exc.explanation}), out)
        _translate_infeasible(exc, lng)
        raise
    if fmt == "json":
        _write_or_print(to_json(_plan_json(p, s, cur, reproducible)), out)
    elif fmt == "markdown":
        from planner.report.markdown import plan_markdown

        _write_or_print(plan_markdown(p, s, cur, lng), out)
    else:
        if out is not None:
            _write_or_print(to_json(_plan_json(p, s, cur, reproducible)), out)
        print_plan(p, s, cur, lng)


def _plan_json(p: Plan, s: Scenario, currency: str, reproducible: bool) -> dict:
    """plan.json; in a currency other than USD it gains the report's ``costs`` block (shopping list, totals, rate)."""
    from planner.plans.launch import attach_launch

    d = attach_launch(p.to_dict(reproducible=reproducible), p, s)
    if currency != "USD":
        from planner.report.money import Money, costs_block

        d["costs"] = costs_block(p, s, Money(currency, s.catalog.fx))
    return d


def _translate_infeasible(exc: Exception, lang: str) -> None:
    """An infeasibility's first line in the asked language (the explanation's figures and ids stay as they are)."""
    if lang != "en" and hasattr(exc, "message"):
        from planner.i18n import t
        from planner.report.explain_text import explanation_lines

        exc.message = f"{t(lang, 'infeasible.lead')}: {exc.message}"
        if getattr(exc, "explanation", None):
            exc.explanation_lines = explanation_lines(exc.explanation, lang)  # type: ignore[attr-defined]


def print_plan(p: Plan, s: Scenario | None = None, currency: str = "USD", lang: str = "en") -> None:
    from planner.report.plan_table import print_plan_table

    print_plan_table(p, s, currency, lang)
    if s is not None and p.replicas:
        from planner.i18n import t
        from planner.plans.launch import launch_lines

        sys.stdout.write(t(lang, "plan.launch") + "\n")
        for ln in launch_lines(p, s):
            sys.stdout.write(f"  # {ln.replica} on {', '.join(ln.instances)}\n  {ln.command}\n")
            sys.stdout.writelines(f"  # note: {n}\n" for n in ln.notes)


class _Progress:
    """A progress bar on stderr (rich), silent with --quiet or when stderr is not a terminal and quiet is asked."""

    def __init__(self, total: int, label: str, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        if not quiet:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                console=Console(stderr=True), transient=False)
            self.task = self.bar.add_task(label, total=total)
            self.bar.start()

    def step(self, what: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=what, advance=0)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@app.command()
def report(
    scenario: Path | None = ScenarioArg,
    out: Path | None = typer.Option(None, "--out", "-o", help="Report folder (default: reports/<scenario name>/)."),
    time_limit: float | None = TimeLimitOpt,
    threads: int | None = ThreadsOpt,
    quiet: bool = QuietOpt,
    currency: str | None = CurrencyOpt,
    lang: str | None = LangOpt,
    engine: str | None = EngineOpt,
    vllm_version: str | None = VllmVersionOpt,
    max_num_seqs: int | None = MaxNumSeqsOpt,
    max_batched_tokens: int | None = MaxBatchedOpt,
    enforce_eager: bool | None = EagerOpt,
    block_size: int | None = BlockSizeOpt,
    kv_cache_memory: int | None = KvMemoryOpt,
    usage: str | None = UsageOpt,
    chunked_prefill: str | None = ChunkedOpt,
) -> None:
    """Write a planning report: report.html, report.md, plan.json, deployments.csv, devices.csv, report.xlsx.

    Example: planner report scenarios/chat-fleet.yaml --out reports/chat-fleet/
    """
    from planner.candidates.deployments import build_candidates
    from planner.pipeline import plan as run_plan
    from planner.report.names import safe_file_name
    from planner.report.writer import write_report

    check_out_path(out, "dir")
    s = _scenario(scenario, engine_flags(
        engine=engine, vllm_version=vllm_version, max_num_seqs=max_num_seqs, max_batched_tokens=max_batched_tokens,
        enforce_eager=enforce_eager, block_size=block_size, kv_cache_memory=kv_cache_memory, usage=usage,
        chunked_prefill=chunked_prefill))
    cur, lng = _money_lang(s, currency, lang)
    target = out or Path("reports") / safe_file_name(s.name)
    check_out_path(target, "dir")
    if not quiet:
        sys.stderr.write(f"planning {s.name}: {len(s.models)} model(s)\n")
    if s.profile is not None or s.commitment is not None:  # demand over time: the schedule's report (issue 16)
        from planner.cli.schedule_commands import report_schedule_command

        _schedule_money_lang(cur, lng)
        files = report_schedule_command(s, target, time_limit, threads)
        sys.stdout.write(f"{target}: {', '.join(files)}\n")
        return
    started = time.perf_counter()
    tl = _limit(time_limit, s)
    cs = build_candidates(s, started + tl)
    try:
        p = run_plan(s, time_limit_s=tl, threads=threads, candidates=cs, started=started)
    except PlannerError as exc:
        _translate_infeasible(exc, lng)
        raise
    files = write_report(p, s, cs, target, currency=cur, lang=lng)
    sys.stdout.write(f"{target}: {', '.join(files)}\n")


@app.command()
def compare(
    scenario: Path | None = ScenarioArg,
    fleets: str = typer.Option("a10,rtx-4090,a100-80gb-sxm,mixed", "--fleets", help="Comma-separated fleets: a GPU id, 'a+b' for a mix, or 'mixed' (all)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or markdown."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Also write a comparison report (HTML with a chart, Markdown, CSV, JSON) to this folder."),
    time_limit: float | None = TimeLimitOpt,
    threads: int | None = ThreadsOpt,
    quiet: bool = QuietOpt,
    currency: str | None = CurrencyOpt,
    lang: str | None = LangOpt,
) -> None:
    """The same scenario on different fleets, side by side: cost, GPUs, utilization, cost per million tokens.

    Example: planner compare scenarios/a10-vs-4090-vs-a100.yaml --fleets a10,rtx-4090,a100-80gb-sxm,mixed
    """
    from planner.report.plan_table import study_view
    from planner.report.tables import emit, to_csv, to_json, to_markdown
    from planner.studies import compare as run_compare
    from planner.studies import parse_fleets, percent_view, rows_for_output

    _check_format(fmt)
    check_out_path(out, "dir")
    s = _scenario(scenario)
    fl = parse_fleets(fleets, s)
    pr = _Progress(len(fl), "comparing", quiet)
    try:
        rows = run_compare(s, fl, _limit(time_limit, s), threads, progress=lambda n: pr.step(f"fleet {n}"))
    finally:
        pr.close()
    table = rows_for_output(rows, "name")
    cols = ["name", "feasible", "cost_usd_per_month", "gpus", "fleet", "utilization", "usd_per_million_tokens",
            "savings_vs_best_single", "why"]
    heads = ["fleet", "feasible", "USD/month", "GPUs", "GPUs chosen", "load / capacity", "USD per M tokens",
             "savings vs best single type", "why not"]
    data = {"scenario": s.name, "best_single": rows[0]["best_single"] if rows else None, "fleets": table}
    view, heads = study_view(percent_view(table), heads, cols, s, *_money_lang(s, currency, lang),
                             plans=[r.get("plan") for r in rows])
    emit(view, cols, fmt, heads, title=f"{s.name}: fleets compared ({s.pricing.replace('_', '-')} pricing)", json_data=data)
    if out is not None:
        from planner.report.charts import bar_chart

        chart = bar_chart([(r["name"], r["cost_usd_per_month"]) for r in table if r["feasible"]],
                          f"{s.name}: monthly cost by fleet", "USD", "chart-compare")
        md = f"# Fleet comparison: {s.name}\n\n" + to_markdown(view, cols, heads)
        html = _simple_html(f"Fleet comparison: {s.name}", chart, view, cols, heads)
        _write_folder(out, {"compare.md": md, "compare.csv": to_csv(table, cols), "compare.json": to_json(data),
                            "compare.html": html})


@app.command()
def sweep(
    scenario: Path | None = ScenarioArg,
    vary: str = typer.Option(..., "--vary", help="FIELD=v1,v2,...: concurrency, context_tokens, precision, min_replicas (MODEL.FIELD for one model), pricing, or price:GPU (USD per GPU-hour)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or markdown."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Also write sweep.html (with a chart), sweep.csv and sweep.json to this folder."),
    time_limit: float | None = TimeLimitOpt,
    threads: int | None = ThreadsOpt,
    quiet: bool = QuietOpt,
    currency: str | None = CurrencyOpt,
    lang: str | None = LangOpt,
) -> None:
    """What-if: the cost and the chosen fleet at each value of one input.

    Example: planner sweep scenarios/chat-fleet.yaml --vary concurrency=16,32,64,128
    """
    from planner.report.plan_table import study_view
    from planner.report.tables import emit, to_csv, to_json, to_markdown
    from planner.studies import parse_vary, rows_for_output
    from planner.studies import sweep as run_sweep

    _check_format(fmt)
    check_out_path(out, "dir")
    s = _scenario(scenario)
    field, target, values = parse_vary(vary, s)
    label = f"{target}.{field}" if target and field != "price" else (f"price:{target}" if field == "price" else field)
    pr = _Progress(len(values), "sweeping", quiet)
    try:
        def tick(v: str) -> None:
            pr.step(f"{label}={v}")
        rows = []
        deadline = time.perf_counter() + _limit(time_limit, s)
        for i, v in enumerate(values):  # the points share the time left
            share = (deadline - time.perf_counter()) / (len(values) - i)
            rows += run_sweep(s, field, target, [v], share, threads, progress=tick)
            pr.advance()
    finally:
        pr.close()
    table = rows_for_output(rows, "value")
    cols = ["value", "feasible", "cost_usd_per_month", "cost_usd_per_hour", "gpus", "fleet", "usd_per_million_tokens", "why"]
    heads = [label, "feasible", "USD/month", "USD/hour", "GPUs", "fleet chosen", "USD per M tokens", "why not"]
    data = {"scenario": s.name, "vary": label, "points": table}
    view, heads = study_view(table, heads, cols, s, *_money_lang(s, currency, lang))
    emit(view, cols, fmt, heads, title=f"{s.name}: sweep of {label}", json_data=data)
    if out is not None:
        from planner.report.charts import line_chart

        chart = line_chart([r["value"] for r in table], {"monthly cost": [r.get("cost_usd_per_month") for r in table]},
                           f"{s.name}: monthly cost as {label} varies", "USD", "chart-sweep")
        _write_folder(out, {"sweep.csv": to_csv(table, cols), "sweep.json": to_json(data),
                            "sweep.md": f"# Sweep of {label}: {s.name}\n\n" + to_markdown(view, cols, heads),
                            "sweep.html": _simple_html(f"Sweep of {label}: {s.name}", chart, view, cols, heads)})


def _write_folder(out: Path, files: dict[str, str]) -> None:
    """Write ``files`` into folder ``out`` atomically (a temporary folder beside it, swapped in when complete)."""
    from planner.report.files import write_folder

    write_folder(out, files)
    sys.stderr.write(f"wrote {out}\n")


def _simple_html(title: str, chart: str, rows: list, cols: list, heads: list) -> str:
    from html import escape

    head = "".join(f"<th>{escape(h)}</th>" for h in heads)
    body = "".join("<tr>" + "".join(f"<td>{escape('' if r.get(c) is None else str(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title><style>'
            "body{font-family:-apple-system,'Segoe UI',Roboto,Arial,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem}"
            "table{border-collapse:collapse;font-size:.85rem}th,td{border:1px solid #ddd;padding:3px 7px}th{background:#f4f4f4}"
            f"</style></head><body><h1>{escape(title)}</h1>{chart}<table><tr>{head}</tr>{body}</table></body></html>\n")
