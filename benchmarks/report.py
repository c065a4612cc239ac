"""Benchmarks write their figures into BENCHMARKS.md, each in its own marked section, so the file stays current."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import lightgbm as lgb

from features.scoring.additive import AdditiveModel
from features.scoring.blend import Blend, Model

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def machine() -> str:
    """CPU model, cores and memory of this machine, for the record next to every figure."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line), cpu
        )
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, Python {platform.python_version()}"


def write_section(name: str, markdown: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) the section between ``<!-- name -->`` and ``<!-- /name -->``."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def peak_rss_gib() -> float:
    """This process's peak resident memory (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of ``repeats`` calls, and the last call's result."""
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds), out


def model_shape(model: Model) -> str:
    """What a served model is and how big: tree SHAP costs about trees x leaves x depth squared a row, an additive
    model one term an input; a blend costs its members' sum."""
    if isinstance(model, Blend):
        members = (f"{w:.2f} x ({model_shape(m)})" for m, w in zip(model.members, model.weights, strict=True))
        return "a blend of " + " and ".join(members)
    if isinstance(model, AdditiveModel):
        return f"a {model.kind} model of {len(model.terms)} terms"
    return tree_shape(model)


def tree_shape(booster: lgb.Booster) -> str:
    """Trees, mean leaves and mean depth of a LightGBM model."""
    nodes = booster.trees_to_dataframe()
    leaves = nodes["left_child"].isna().sum() / booster.num_trees()
    depth = nodes.groupby("tree_index")["node_depth"].max().mean() - 1
    return f"{booster.num_trees()} trees, {leaves:.0f} leaves and depth {depth:.1f} a tree on average"


def figure_table(rows: Iterable[tuple[str, object]]) -> list[str]:
    """A two-column markdown table of named figures, as every section shows them."""
    return ["| figure | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
