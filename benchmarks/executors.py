"""Ray's overhead: one profile run whole with executor=local, then with executor=ray, one after
the other on this machine (never at the same time), into temporary run folders; and whether the
two runs' metrics are equal. Writes results/executors.{csv,md}.

    python benchmarks/executors.py                     # the smoke profile
    python benchmarks/executors.py --profile study -p seeds=[0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import write

from charlm.experiment.pipeline import run_report
from charlm.experiment.profiles import parse_override


def same_numbers(a, b) -> bool:
    """Whether two runs' metrics agree exactly, measured times aside."""
    for key in a:
        x, y = a[key], b[key]
        if "metric" in x:
            x = x[~x.metric.str.contains("time")].reset_index(drop=True)
            y = y[~y.metric.str.contains("time")].reset_index(drop=True)
        timing = [c for c in x if "time" in c or "seconds" in c]
        try:
            pd.testing.assert_frame_equal(x.drop(columns=timing), y.drop(columns=timing),
                                          check_exact=True)
        except AssertionError:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    overrides = dict(parse_override(p) for p in args.param)
    rows, runs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for executor in ("local", "ray"):
            started = time.perf_counter()
            runs[executor] = run_report(args.profile, {**overrides, "executor": executor},
                                        name=executor, reports_dir=Path(tmp), figures_dir=None,
                                        progress=False)
            seconds = time.perf_counter() - started
            steps = runs[executor].read_steps()
            rows.append({"profile": args.profile, "executor": executor,
                         "wall_seconds": round(seconds, 1),
                         "training_steps_seconds": round(sum(
                             s["seconds"] for n, s in steps.items()
                             if n.startswith(("02_tune", "03_train"))), 1)})
        equal = same_numbers(runs["local"].read_metrics(), runs["ray"].read_metrics())
    df = pd.DataFrame(rows).assign(same_metrics=equal)
    df["ray_minus_local_seconds"] = df.wall_seconds - df.wall_seconds.iloc[0]
    write("executors", df, f"executor=local against executor=ray, profile {args.profile} "
          "(one after the other; training_steps_seconds: the search and training steps)")


if __name__ == "__main__":
    main()
