"""What the command groups share: an error becomes one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

import typer

from aifabric._errors import AifabricError, DocumentError, ValidationError

__all__ = ["exiter", "guard"]

_Command = TypeVar("_Command", bound=Callable[..., None])


def exiter(fail: Callable[[str, int], Any]) -> Callable[[str, int], NoReturn]:
    """``die(message, code)``: report ``message`` through ``fail`` and exit with ``code``."""

    def die(message: str, code: int) -> NoReturn:
        fail(message, code)
        raise typer.Exit(code)

    return die


def guard(
    die: Callable[[str, int], NoReturn],
    *,
    invalid: tuple[type[AifabricError], ...] = (DocumentError,),
    what: str | None = None,
    extra: str | None = None,
) -> Callable[[_Command], _Command]:
    """Wrap a command so that its errors exit 1 when they are ``invalid`` (bad input) and 2 otherwise.

    A ``ValidationError`` first prints each problem as ``invalid FILE: /pointer: rule: message``, then ends with
    ``FILE: not a valid {what}`` when ``what`` is given. A missing optional dependency exits 2, naming the
    ``pip install`` of ``extra``.
    """

    def wrap(command: _Command) -> _Command:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> None:
            try:
                command(*args, **kwargs)
            except ImportError as exc:
                hint = f": pip install '{extra}'" if extra else ""
                die(f"{exc}{hint}", 2)
            except AifabricError as exc:
                code = 1 if isinstance(exc, invalid) else 2
                if isinstance(exc, ValidationError):
                    for problem in exc.problems:
                        typer.echo(f"invalid {problem}", err=True)
                    if what:
                        die(f"{exc.source or 'the input'}: not a valid {what}", code)
                die(str(exc), code)

        return cast(_Command, run)

    return wrap
