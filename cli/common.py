"""What every command shares: error handling with exit codes, output helpers, shared options."""

from __future__ import annotations

import functools
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeAlias, cast, overload

import click

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.progress import MODES, Mode
from qsnn_deploy.progress import log as log  # the one log function; re-exported for the commands

if TYPE_CHECKING:  # imported inside the functions: --help stays fast
    from qsnn_deploy.convert.nir_import import ImportOptions
    from qsnn_deploy.emulate.sensor import SensorStage

#: a command's function as click's decorators take it (each option adds a keyword argument)
CommandFunction: TypeAlias = Callable[..., Any]
#: what an option decorator does to a command's function
OptionDecorator: TypeAlias = Callable[[CommandFunction], CommandFunction]


class QsnnGroup(click.Group):
    """A click group that maps exceptions to the exit codes of DESIGN.md §3.

    One clear paragraph on stderr, no traceback unless ``--debug``.
    """

    @overload
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: Literal[True] = True,
        **extra: Any,
    ) -> NoReturn: ...

    @overload
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = ...,
        **extra: Any,
    ) -> Any: ...

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv
        try:
            rv = super().main(
                args=argv,
                prog_name=prog_name or "qsnn-deploy",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except QsnnError as exc:
            if debug:
                traceback.print_exc()
            click.echo(f"Error: {exc.message}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except Exception as exc:  # an internal error: say so, keep the traceback for --debug
            if debug:
                traceback.print_exc()
            click.echo(
                f"Error: internal error ({type(exc).__name__}: {exc}). Run again with --debug for the "
                "traceback and report it.",
                err=True,
            )
            sys.exit(1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_json_default))


def _json_default(value: Any) -> object:
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(value)


class FormatOption(click.Option):
    """The ``--format`` option made by :func:`format_option` (tests find every command's ``--format`` by it)."""


class OverwriteOption(click.Option):
    """The ``--overwrite`` option made by :func:`overwrite_option`."""


def format_option(*choices: str, default: str | None = None, help: str | None = None) -> OptionDecorator:
    """``--format`` with these choices (the first is the default unless ``default`` says otherwise), handed to the
    command as ``fmt``. Without ``help``: "<first> for people, json (on stdout) for scripts"."""
    if not choices:
        raise ValueError("format_option needs at least one choice")
    default = choices[0] if default is None else default
    if default not in choices:
        raise ValueError(f"default {default!r} is not one of {choices}")
    if help is None:
        help = f"{choices[0]} for people, json (on stdout) for scripts" if "json" in choices else None
    return click.option(
        "--format",
        "fmt",
        cls=FormatOption,
        type=click.Choice(list(choices)),
        default=default,
        show_default=True,
        help=help,
    )


def overwrite_option(what: str, deprecated: str | None = None) -> OptionDecorator:
    """``--overwrite``: replace an existing ``what`` (e.g. "run folder"), handed to the command as ``overwrite``.

    ``deprecated`` is an old spelling (convert's ``--force``) that still works, hidden from ``--help``, and prints a
    one-line deprecation note on stderr when used."""

    option = click.option("--overwrite", cls=OverwriteOption, is_flag=True, help=f"replace an existing {what}")

    def decorate(command: CommandFunction) -> CommandFunction:
        if not deprecated:
            return option(command)

        @functools.wraps(command)
        def with_alias(*args: Any, overwrite: bool, overwrite_deprecated: bool, **kwargs: Any) -> Any:
            if overwrite_deprecated:
                click.echo(f"warning: {deprecated} is deprecated, use --overwrite (it does the same)", err=True)
            return command(*args, overwrite=overwrite or overwrite_deprecated, **kwargs)

        return option(
            click.option(
                deprecated, "overwrite_deprecated", is_flag=True, hidden=True, help="deprecated spelling of --overwrite"
            )(with_alias)
        )

    return decorate


def progress_option(command: CommandFunction) -> CommandFunction:
    """``--progress auto|on|off`` and ``-q/--quiet`` (the same as ``--progress off``), handed to the command as
    one ``progress`` argument: the mode of :mod:`qsnn_deploy.progress` (auto: redrawn bars on a terminal, one
    plain line per epoch, stage or 10 % of a long loop elsewhere)."""

    @functools.wraps(command)
    def with_progress(*args: Any, progress: Mode, quiet: bool, **kwargs: Any) -> Any:
        return command(*args, progress="off" if quiet else progress, **kwargs)

    with_progress = click.option("--quiet", "-q", is_flag=True, help="no progress (the same as --progress off)")(
        with_progress
    )
    return click.option(
        "--progress",
        type=click.Choice(MODES),
        default="auto",
        show_default=True,
        help="auto: redrawn bars on a terminal, plain lines (per epoch, stage or 10 % of a long "
        "loop) in logs and pipes; on: always redraw; off: no progress, only log lines",
    )(with_progress)


def _shape(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        dims = tuple(int(v) for v in value.replace("x", ",").split(","))
    except ValueError:
        raise click.BadParameter(f"'{value}' is not C,H,W (e.g. 2,34,34)") from None
    if len(dims) not in (1, 3) or min(dims) < 1:
        raise click.BadParameter(f"'{value}' is not C,H,W (e.g. 2,34,34)")
    return dims


def nir_import_options(command: CommandFunction) -> CommandFunction:
    """What a foreign NIR graph may leave open: the same options on convert, estimate and deploy."""
    for option in reversed(
        [
            click.option(
                "--input-shape", callback=_shape, help="C,H,W of one input frame, for NIR graphs that lack it"
            ),
            click.option(
                "--approximate-leak",
                is_flag=True,
                help="run leaky neurons (LIF of a NIR graph, or a checkpoint trained with a leaky "
                "neuron type) as IAF: drops the leak, Speck has none",
            ),
            click.option(
                "--reset",
                type=click.Choice(["subtract", "zero"]),
                default=None,
                help="reset of NIR neurons when the graph does not say [default: subtract]",
            ),
            click.option(
                "--dt-us", type=float, default=None, help="time step in µs (NIR graphs; LIF input gain r·dt/τ)"
            ),
        ]
    ):
        command = option(command)
    return command


def import_options(
    input_shape: tuple[int, ...] | None, approximate_leak: bool, reset: str | None, dt_us: float | None
) -> ImportOptions:
    """The library's ImportOptions from the CLI values."""
    from qsnn_deploy.convert.nir_import import ImportOptions

    return ImportOptions(input_shape=input_shape, approximate_leak=approximate_leak, reset=reset, dt_us=dt_us)


def sensor_options(scope: str = "") -> OptionDecorator:
    """``--sensor-pool``, ``--roi``, ``--merge-polarity``, ``--flip-x``, ``--flip-y`` (read by :func:`sensor_stage`);
    ``scope`` starts each help text (e.g. "emulator: ")."""

    def add(command: CommandFunction) -> CommandFunction:
        for option in reversed(
            [
                click.option("--sensor-pool", type=click.Choice(["1", "2", "4"]), help=f"{scope}DVS input sum pooling"),
                click.option("--roi", help=f"{scope}region of interest x0,y0,width,height (after pooling)"),
                click.option("--merge-polarity", is_flag=True, help=f"{scope}merge ON and OFF events into one channel"),
                click.option("--flip-x", is_flag=True, help=f"{scope}mirror the sensor horizontally"),
                click.option("--flip-y", is_flag=True, help=f"{scope}mirror the sensor vertically"),
            ]
        ):
            command = option(command)
        return command

    return add


def sensor_stage(
    pool: str | None, roi: str | None, merge_polarity: bool, flip_x: bool, flip_y: bool
) -> SensorStage | None:
    """The sensor input stage of the sensor options (:func:`sensor_options`), or None when none is given."""
    from qsnn_deploy.emulate.sensor import SensorStage
    from qsnn_deploy.errors import InputError, UsageError

    if not (pool or roi or merge_polarity or flip_x or flip_y):
        return None
    box = None
    if roi:
        try:
            box = cast("tuple[int, int, int, int]", tuple(int(v) for v in roi.split(",")))
        except ValueError:
            raise UsageError(f"--roi takes x0,y0,width,height as integers, got '{roi}'") from None
    try:  # SensorStage refuses a box of other than four numbers, or a negative or empty one
        return SensorStage(pool=int(pool or 1), roi=box, flip_x=flip_x, flip_y=flip_y, merge_polarity=merge_polarity)
    except InputError as exc:
        raise UsageError(exc.what, fix="give --roi as x0,y0,width,height with width and height of at least 1") from None
