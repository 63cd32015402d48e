"""Command line: python -m charlm train|evaluate|generate|report ... (each with --help)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path

from charlm.config import Configs, DataConfig, ModelConfig, TrainConfig
from charlm.errors import CharlmError


def _add_config_args(parser: argparse.ArgumentParser, *classes) -> None:
    """One --option per dataclass field, typed from its default."""
    for cls in classes:
        group = parser.add_argument_group(cls.__name__)
        for f in dataclasses.fields(cls):
            flag = "--" + f.name.replace("_", "-")
            if f.type in ("bool",) or isinstance(f.default, bool):
                group.add_argument(flag, type=_bool, default=f.default, metavar="BOOL")
            else:
                group.add_argument(
                    flag, type=_typed(f), default=f.default, help=f"default {f.default!r}"
                )


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def _typed(field):
    kind = str(field.type)
    if "int" in kind:
        return lambda s: None if s.lower() == "none" else int(s)
    if "float" in kind:
        return lambda s: None if s.lower() == "none" else float(s)
    return str


def cmd_train(args) -> None:
    from charlm.run import ModelFolder
    from charlm.train import run_training

    cfg = Configs.from_flat({k: v for k, v in vars(args).items() if k in Configs.names()})
    out = ModelFolder(Path(args.out or f"runs/{cfg.model.cell}"))
    result = run_training(cfg.data, cfg.model, cfg.train, out_dir=out.path)
    last = result.history[-1]
    keys = ("epoch", "train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy",
            "train_seconds", "elapsed_train_seconds")
    print(json.dumps({k: last[k] for k in keys if k in last}, indent=2))
    print(f"checkpoint: {out.checkpoint}  history: {out.history}")


def cmd_evaluate(args) -> None:
    from charlm.checkpoint import configs_of, load_model
    from charlm.data import make_windows
    from charlm.evaluate import evaluate

    model, vocab, ckpt = load_model(args.checkpoint)
    data_cfg = configs_of(ckpt).data
    if args.corpus is not None:
        data_cfg = dataclasses.replace(data_cfg, corpus=args.corpus)
    windows = make_windows(data_cfg, vocab=vocab)
    metrics = evaluate(model, windows.data, windows.test_starts, windows.seq_len)
    print(json.dumps({"split": windows.split, **metrics}, indent=2))


def cmd_generate(args) -> None:
    from charlm.checkpoint import load_model
    from charlm.generate import generate

    model, vocab, ckpt = load_model(args.checkpoint)
    print(
        generate(
            model,
            vocab,
            args.prompt,
            args.length,
            args.temperature,
            args.top_k,
            args.greedy,
            args.seed,
            context=ckpt["configs"]["data"]["seq_len"],
        )
    )


def cmd_data(args) -> None:
    from charlm.data import Vocab, default_corpus_path, load_text

    text = load_text(args.corpus)
    path = args.corpus or default_corpus_path()
    print(f"corpus: {path}: {len(text):,} characters, {Vocab.from_text(text).size} distinct, ok")


def cmd_report(args) -> None:
    from charlm.pipeline import run_report
    from charlm.spec import parse_override

    overrides = dict(parse_override(p) for p in args.param)
    run_report(args.profile, overrides, name=args.name, reports_dir=args.reports_dir,
               fresh=args.fresh)


def build_parser() -> argparse.ArgumentParser:
    from charlm.profiles import PROFILE_NAMES
    from charlm.reference import PROMPT

    parser = argparse.ArgumentParser(prog="python -m charlm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("data", help="fetch (if missing) and verify the corpus")
    p.add_argument("--corpus", default="", help="a text file instead of Tiny Shakespeare")
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("train", help="train one model; resumes if its checkpoint exists")
    p.add_argument("--out", help="output folder (default runs/<cell>)")
    _add_config_args(p, DataConfig, ModelConfig, TrainConfig)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("report", help="run the notebook chain and export the report")
    p.add_argument("--profile", default="auto",
                   help=f"{', '.join(PROFILE_NAMES)} (default auto: reference on CUDA, else fast)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override one parameter, e.g. -p epochs=3 -p seeds=[0,1]")
    p.add_argument("--name", default=None, help="run folder name (default: the profile)")
    p.add_argument("--reports-dir", default="reports")
    p.add_argument("--fresh", action="store_true",
                   help="start a new run beside an existing one instead of resuming it")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("evaluate", help="evaluate a checkpoint on its test windows")
    p.add_argument("checkpoint")
    p.add_argument("--corpus", default=None, help="evaluate on another copy of the text")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("generate", help="sample text from a checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("--prompt", default=PROMPT)
    p.add_argument("--length", type=int, default=200)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CharlmError as exc:
        print(f"charlm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _die_by_sigint() -> None:
    """End a Ctrl-C'd run the Unix way, by SIGINT, so that shells and make stop too.

    Python does the same for an uncaught KeyboardInterrupt, and under `python -m` it also does so,
    at random, for a caught one raised inside string-exec'd code (an import, a dataclass): the
    exit status would be 130 one time and SIGINT the next. Bash reports both as 130.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    sys.exit(130)


if __name__ == "__main__":
    code = main()
    if code == 130:
        _die_by_sigint()
    sys.exit(code)
