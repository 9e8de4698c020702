"""A `%%step` line read into a StepSpec: the option table the magic, the server's check and
the JupyterLab extension (labextension/scripts/stepoptions.py generates its copy) all share."""

from __future__ import annotations

import argparse
import math
import shlex

from nbflow.core.graph import StepSpec
from nbflow.core.resources import parse_resources
from nbflow.exceptions import StepError


class LineParser(argparse.ArgumentParser):
    """argparse that raises a StepError instead of exiting the kernel."""

    def error(self, message: str) -> None:  # type: ignore[override]
        usage = self.format_usage().strip().removeprefix("usage: ")
        raise StepError(f"{message}. Usage: {usage}", where=f"the {self.prog} line")


def _names(text: str) -> list[str]:
    return [n for n in text.replace(",", " ").split() if n]


def step_parser() -> LineParser:
    parser = LineParser(prog="%%step", add_help=False)
    parser.add_argument("name")
    parser.add_argument("--after", nargs="+", default=[], metavar="PARENT")
    parser.add_argument("--foreach", metavar="VAR")
    parser.add_argument("--as", dest="foreach_as", default="item", metavar="NAME")
    parser.add_argument("--join", action="store_true")
    parser.add_argument("--transient", default="", metavar="NAME,...")
    parser.add_argument("--out", default=None, metavar="NAME,...")
    parser.add_argument("--when", default=None, metavar="EXPR")
    parser.add_argument("--retry", default="0", metavar="N")
    parser.add_argument("--retry-delay", default="0", metavar="SECONDS")
    parser.add_argument("--timeout", default=None, metavar="SECONDS")
    parser.add_argument("--catch", default=None, metavar="VAR")
    parser.add_argument("--resources", default="", metavar="cpu=N,memory=SIZE,gpu=N")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--in-kernel", action="store_true")
    parser.add_argument("--env", nargs="+", default=[], metavar="REQUIREMENT")
    parser.add_argument("--python", default=None, metavar="X.Y")
    return parser


def flow_env_parser() -> LineParser:
    """`%flow env REQUIREMENT ... [--python X.Y] [--clear]`: the flow's environment (the
    magic and `nbflow export` read it alike)."""
    parser = LineParser(prog="%flow env", add_help=False)
    parser.add_argument("requirements", nargs="*", metavar="REQUIREMENT")
    parser.add_argument("--python", default=None, metavar="X.Y")
    parser.add_argument("--clear", action="store_true")
    return parser


def parse_step_line(line: str, code: str) -> StepSpec:
    args = step_parser().parse_args(shlex.split(line))
    parents = tuple(p for group in args.after for p in _names(group))
    if args.foreach_as != "item" and not args.foreach:
        raise StepError("--as names the foreach element, so it needs --foreach.", step=args.name)
    if args.catch is not None and not args.catch.isidentifier():
        raise StepError(f"--catch {args.catch}: name a variable to hold the error.", step=args.name)
    if args.resources:
        parse_resources(args.resources, step=args.name)  # bad input is refused here, at once
    if (args.env or args.python) and args.in_kernel:
        raise StepError("--in-kernel runs in the kernel's environment: drop --env/--python.",
                        step=args.name)  # fmt: skip
    return StepSpec(
        name=args.name,
        code=code,
        parents=parents,
        foreach=args.foreach,
        foreach_as=args.foreach_as,
        join=args.join,
        transient=frozenset(_names(args.transient)),
        out=frozenset(_names(args.out)) if args.out is not None else None,
        when=args.when,
        retry=int(_number("--retry", args.retry, args.name, whole=True, zero=True)),
        retry_delay=_number("--retry-delay", args.retry_delay, args.name, zero=True),
        timeout=_number("--timeout", args.timeout, args.name) if args.timeout else None,
        catch=args.catch,
        resources=args.resources,
        cache=not args.no_cache,
        in_kernel=args.in_kernel,
        env=tuple(args.env),
        python=args.python,
        line=1,
    )


def _number(option: str, text: str, step: str, *, whole: bool = False, zero: bool = False) -> float:
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = -1
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        kind = "whole number" if whole else "number of seconds"
        least = "0 or more" if zero else "more than 0"
        raise StepError(f"{option} {text}: expected a {kind}, {least}.", step=step)
    return value
