"""One exception hierarchy, mapped to the exit codes of DESIGN.md §3.

Every error carries one paragraph: what went wrong, where, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class QsnnError(Exception):
    """Base class; ``exit_code`` is what the CLI returns."""

    exit_code = 1

    def __init__(self, what: str, where: str | None = None, fix: str | None = None):
        self.what, self.where, self.fix = what, where, fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [self.what.rstrip(".") + "."]
        if self.where:
            parts.append(f"Where: {self.where}.")
        if self.fix:
            parts.append(f"Fix: {self.fix.rstrip('.')}.")
        return " ".join(parts)

    def located(self, source: str) -> QsnnError:
        """This error with ``source`` (the file being processed) in front of its where (a layer in it)."""
        if self.where is None or source not in self.where:
            self.where = f"{source}, {self.where}" if self.where else source
            self.args = (self.message,)
        return self


class UsageError(QsnnError):
    """Wrong combination of options or arguments."""

    exit_code = 2


class InputError(QsnnError):
    """A bad input file, config, profile or dataset."""

    exit_code = 3


class ViolationLike(Protocol):
    """The shape of one broken rule a :class:`ConstraintError` lists (:class:`qsnn_deploy.hw.rules.Violation`
    has it; this module sits below ``hw`` and does not import it)."""

    @property
    def code(self) -> str: ...
    @property
    def layer(self) -> str | None: ...
    @property
    def message(self) -> str: ...
    @property
    def fix(self) -> str: ...


class ConstraintError(QsnnError):
    """The model violates the target's constraints."""

    exit_code = 4

    def __init__(
        self,
        what: str,
        where: str | None = None,
        fix: str | None = None,
        violations: Iterable[ViolationLike] = (),
    ):
        self.violations: list[ViolationLike] = list(violations)
        super().__init__(what, where, fix)


class BackendUnavailable(QsnnError):
    """A backend, driver or device is missing."""

    exit_code = 5
