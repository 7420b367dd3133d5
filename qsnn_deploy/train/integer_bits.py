"""The bit widths of integer-only training (``--integer-bits``), torch-free so that the options are checked
before anything is loaded; :mod:`.integer_only` trains with them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..errors import UsageError
from ..inputs import is_whole_number


@dataclass(frozen=True)
class IntegerBits:
    """Bit widths of integer-only training (the integer-only QSNN's ``qsnn_decolle.py`` defaults, adapted to
    Speck's IAF)."""

    wb: int = 8  # forward weights, stored and used as wb-bit integers (Speck: int8)
    ub: int = 16  # membrane state, saturating signed integer in weight steps (Speck: int16)
    sb: int = 6  # fixed random readout weights of the local classifiers (training only)
    ab: int = 6  # local readout outputs (the original's quant_act of its readout activations)
    sig: int = 6  # local readout input, unsigned (the original's sigmoid; here the pooled spike rate)
    eb: int = 6  # back-propagated errors
    gb: int = 10  # weight gradients (integer steps of 2^−(gb−1))
    rb: int = 16  # bits of the uniform random numbers used by stochastic rounding

    def __post_init__(self) -> None:
        limits = {
            "wb": (2, 8, "Speck stores int8 weights"),
            "ub": (2, 16, "Speck's neuron state is int16"),
            "sb": (1, 16, ""),
            "ab": (2, 16, ""),
            "sig": (1, 16, ""),
            "eb": (2, 16, ""),
            "gb": (2, 24, ""),
            "rb": (1, 24, ""),
        }
        for f in fields(self):
            value, (lo, hi, why) = getattr(self, f.name), limits[f.name]
            if not is_whole_number(value, lo, hi):
                raise UsageError(
                    f"integer-only bit width {f.name}={value!r} is out of range",
                    where=f"IntegerBits.{f.name}",
                    fix=f"use an integer in {lo}..{hi}" + (f" ({why})" if why else ""),
                )
        if self.ub <= self.wb:
            raise UsageError(
                f"membrane bits ub={self.ub} must exceed weight bits wb={self.wb}",
                where="IntegerBits.ub",
                fix="the membrane sums many weights; use ub > wb (Speck: 16)",
            )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def parse_integer_bits(text: str) -> IntegerBits:
    """``'wb=8,eb=6'`` → :class:`IntegerBits` with those widths and the defaults elsewhere ('' → all defaults)."""
    names = [f.name for f in fields(IntegerBits)]
    values: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise UsageError(
                f"--integer-bits: cannot read '{item}'",
                where="--integer-bits",
                fix=f"write name=bits with names from {', '.join(names)}, e.g. wb=8,eb=6",
            )
        try:
            values[key] = int(value)
        except ValueError:
            raise UsageError(
                f"--integer-bits: '{value}' for {key} is not an integer", where="--integer-bits", fix=f"e.g. {key}=8"
            ) from None
    return IntegerBits(**values)
