"""charlm: character-level LSTM, GRU and RNN language models compared honestly, as notebooks
and a shareable report. Each command has its own --help."""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import json
import os
import re
import signal
import sys
from pathlib import Path

from charlm.config import (
    DEVICES,
    OBJECTIVES,
    SPLITS,
    Configs,
    DataConfig,
    ExecutionConfig,
    ModelConfig,
    TrainConfig,
    field_help,
    field_names,
)
from charlm.errors import CharlmError

# The commands import what they run when they run (torch among it), so that `--help`, `--show`
# and `--version` answer at once: the one place where charlm imports inside functions.


def _add_config_args(parser: argparse.ArgumentParser, *classes) -> None:
    """One --option per dataclass field, typed from its default, described by its declaration."""
    choices = {"device": DEVICES, "objective": OBJECTIVES, "split": SPLITS}
    for cls in classes:
        group = parser.add_argument_group(cls.__name__)
        helps = field_help(cls)
        for f in dataclasses.fields(cls):
            flag = "--" + f.name.replace("_", "-")
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            text = f"{helps.get(f.name, '')} (default {default!r})".lstrip()
            if f.type in ("bool",) or isinstance(f.default, bool):
                group.add_argument(flag, type=_bool, default=f.default, metavar="BOOL",
                                   help=text)
            else:
                group.add_argument(flag, type=_typed(f), default=default,
                                   choices=choices.get(f.name), help=text.replace("%", "%%"))


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
    if "dict" in kind:  # model_args: a literal, e.g. "{'kernel': 3}"
        return _literal
    return str


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a Python or JSON literal") from exc


def cmd_train(args) -> None:
    from charlm.folder import ModelFolder
    from charlm.train import run_training

    cfg = Configs.from_flat({k: v for k, v in vars(args).items() if k in Configs.names()})
    execution = ExecutionConfig(**{k: getattr(args, k) for k in field_names(ExecutionConfig)})
    out = ModelFolder(Path(args.out or f"runs/{re.sub(r'[^A-Za-z0-9_.-]', '_', cfg.model.cell)}"))
    result = run_training(cfg.data, cfg.model, cfg.train, out_dir=out.path, execution=execution)
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
    """The text is printed as it is generated, a character at a time."""
    from charlm.checkpoint import load_model
    from charlm.generate import fit_prompt, stream
    from charlm.reference import PROMPT

    model, vocab, ckpt = load_model(args.checkpoint)
    prompt = args.prompt if args.prompt is not None else fit_prompt(PROMPT, vocab.chars)[0]
    chunks = stream(model, vocab, prompt, args.length, args.temperature, args.top_k,
                    args.greedy, args.seed, context=ckpt["configs"]["data"]["seq_len"])
    with _to_a_pipe():
        for chunk in chunks:
            print(chunk, end="", flush=True)
        print()


def cmd_compare(args) -> None:
    from charlm.report.compare import compare_runs

    md, html = compare_runs(Path(args.a), Path(args.b), Path(args.out) if args.out else None)
    print(f"charlm: comparison written: {html} and {md}", file=sys.stderr)


def cmd_export(args) -> None:
    from charlm.experiment.pipeline import export_run

    run = export_run(args.run_dir, args.notebook)
    print(f"charlm: report written: {run.report_html} and {run.report_md}", file=sys.stderr)


def cmd_data(args) -> None:
    from charlm.data import Vocab, default_corpus_path, load_text

    text = load_text(args.corpus)
    path = args.corpus or default_corpus_path()
    print(f"corpus: {path}: {len(text):,} characters, {Vocab.from_text(text).size} distinct, ok")


def cmd_report(args) -> None:
    from charlm.experiment.pipeline import run_report
    from charlm.experiment.profiles import parse_override, read_parameters_file, show

    typed = dict(parse_override(p) for p in args.param)
    in_file = read_parameters_file(args.parameters_file) if args.parameters_file else {}
    overrides = {**in_file, **typed}  # -p over -f, as papermill merges them
    if args.show:
        with _to_a_pipe():
            print(show(args.profile, overrides, from_file=in_file.keys() - typed.keys()))
        return
    run_report(args.profile, overrides, name=args.name, reports_dir=args.reports_dir,
               fresh=args.fresh, parameters_file=args.parameters_file)


def prog_name(argv0: str | None = None) -> str:
    """The command as the user typed it: `charlm` (the installed script) or `python -m charlm`."""
    name = Path(argv0 if argv0 is not None else sys.argv[0]).name
    return "python -m charlm" if name in ("__main__.py", "-c", "") else name


def version_line() -> str:
    import platform

    import torch

    from charlm import __version__

    return (f"charlm {__version__} (torch {torch.__version__}, python "
            f"{platform.python_version()})")


class _Version(argparse.Action):
    """--version, importing torch only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print charlm's, torch's and python's versions and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_line())
        parser.exit()


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    from charlm.experiment.profiles import PROFILE_HELP, PROFILE_NAMES
    from charlm.reference import PROMPT

    parser = argparse.ArgumentParser(prog=prog or prog_name(), description=__doc__)
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("data", help="fetch (if missing) and verify the corpus")
    p.add_argument("--corpus", default="", help="a text file instead of Tiny Shakespeare")
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("train", help="train one model; resumes if its checkpoint exists")
    p.add_argument("--out", help="output folder (default runs/<cell>)")
    _add_config_args(p, DataConfig, ModelConfig, TrainConfig, ExecutionConfig)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("report", help="run the notebook chain and export the report",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="profiles:\n" + "\n".join(f"  {k:<10} {v}"
                                                        for k, v in PROFILE_HELP.items()))
    p.add_argument("--profile", default="auto", choices=PROFILE_NAMES,
                   metavar="{" + ",".join(PROFILE_NAMES) + "}",
                   help="the named parameters to run (default auto: reference on CUDA, else "
                        "fast; see below)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override one parameter, e.g. -p epochs=3 -p seeds=[0,1]")
    p.add_argument("-f", "--parameters-file", default=None, metavar="FILE",
                   help="parameters from a YAML or JSON file (parameter: value per line), "
                        "under -p; a copy is kept in the run folder")
    p.add_argument("--name", default=None, help="run folder name (default: the profile)")
    p.add_argument("--reports-dir", default="reports")
    p.add_argument("--fresh", action="store_true",
                   help="start a new run beside an existing one instead of resuming it")
    p.add_argument("--show", action="store_true",
                   help="print the profile's parameters (with -p applied), each with its "
                        "description, and exit without running anything")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("compare", help="compare two run folders: settings that differ, metrics "
                                       "side by side, curves overlaid (Markdown and HTML)")
    p.add_argument("a", help="a run folder, e.g. reports/fast")
    p.add_argument("b", help="another run folder, e.g. reports/tune")
    p.add_argument("--out", default=None,
                   help="output folder (default: compare-<A>-vs-<B> beside A)")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("export", help="re-export a run's report (HTML and Markdown) from its "
                                      "report notebook (after editing it), running nothing")
    p.add_argument("run_dir", help="a run folder, e.g. reports/fast")
    p.add_argument("--notebook", default=None,
                   help="the notebook to export (default: the run's notebooks/06_report.ipynb)")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("evaluate", help="evaluate a checkpoint on its test windows")
    p.add_argument("checkpoint")
    p.add_argument("--corpus", default=None, help="evaluate on another copy of the text")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("generate", help="sample text from a checkpoint, printed as it comes")
    p.add_argument("checkpoint")
    p.add_argument("--prompt", default=None,
                   help=f"default {PROMPT!r}, less any character the model never saw")
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


@contextlib.contextmanager
def _to_a_pipe():
    """Printing for a reader that may stop early (`charlm report --show | head`): quietly."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own advice


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
