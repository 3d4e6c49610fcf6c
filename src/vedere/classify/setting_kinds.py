"""What a setting of :mod:`vedere.classify.settings` is: :class:`Setting` (its kind, range and
help), the check of each kind (a whole number in range, a choice, layer sizes, the
``--val-split`` rule …) and :class:`SettingError`, which names the flag."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import VedereError
from ..text import short_repr
from .estimators import MAX_HIDDEN, check_hidden_sizes

#: the most hidden layers an MLP may ask for (each at most MAX_HIDDEN units wide)
MAX_LAYERS = 16
#: the bound of whole-number settings without a range of their own
MAX_INT = 10**9
MAX_TEXT = 4096
VAL_SPLIT_RULE = "a count of images (a whole number; 0 = no validation) or a fraction in (0, 1)"


class SettingError(VedereError):
    """A setting that cannot be used: ``flag`` names it (``--lr``), the message says why
    (``--lr -1: expected …``)."""

    def __init__(self, flag: str, problem: str) -> None:
        super().__init__("", f"{flag} {problem}" if flag else problem)
        self.where, self.flag, self.problem = flag, flag, problem


class NotApplicable(SettingError):
    """Settings given for a model that does not take them (``--hidden`` with ``--model
    cnn``)."""

    def __init__(self, flags: list[str], model: str) -> None:
        super().__init__("", f"{', '.join(flags)} do not apply to --model {model}")
        self.flags, self.model = flags, model


@dataclass(frozen=True)
class Setting:
    """One setting: ``kind`` is ``int``, ``float``, ``choice``, ``text``, ``bool`` (on/off,
    default: the estimator's), ``flag`` (off unless given), ``sizes`` (comma-separated
    layer sizes) or ``val_split``; ``low``/``high`` bound numbers (``open``: the bounds
    excluded, as "lo" / "hi" / "both"); ``target``: the RunConfig field or estimator
    parameter it sets (default: its name); ``run``: a RunConfig field (else an estimator
    parameter)."""

    name: str
    kind: str
    help: str = ""
    low: float | None = None
    high: float | None = None
    open: str = ""
    choices: tuple[str, ...] = ()
    target: str = ""
    run: bool = False
    metavar: str | None = None
    check: Callable[[Any], Any] | None = None

    @property
    def flag(self) -> str:
        """The command-line option: ``--`` and the name with dashes (``--batch-size``)."""
        return "--" + self.name.replace("_", "-")

    @property
    def param(self) -> str:
        """The estimator (or run) parameter the setting sets: ``target`` or its own name."""
        return self.target or self.name

    def __call__(self, value: Any) -> Any:
        """``value`` checked and converted (an int for ``int``, a float for ``float``, a
        tuple for ``sizes`` …); SettingError naming the flag otherwise."""
        checker = _KINDS[self.kind]
        v = checker(self, value)
        if self.check is not None:
            try:
                self.check(v)
            except ValueError as e:
                raise SettingError("", str(e)) from None
        return v

    def bad(self, value: Any, expected: str) -> SettingError:
        """The error for a ``value`` that is not what was ``expected``, naming the flag."""
        return SettingError(self.flag, f"{short_repr(value)}: expected {expected}")

    def range_text(self) -> str:
        """The allowed range in words (``>= 1 and <= 10,000``), for help and messages."""
        lo_open, hi_open = self.open in ("lo", "both"), self.open in ("hi", "both")

        def num(v: float) -> str:
            return f"{int(v):,}" if self.kind == "int" else f"{v:g}"

        parts = []
        if self.low is not None:
            parts.append(f"{'>' if lo_open else '>='} {num(self.low)}")
        if self.high is not None:
            parts.append(f"{'<' if hi_open else '<='} {num(self.high)}")
        return " and ".join(parts)


def _in_range(s: Setting, v: float) -> bool:
    lo_open, hi_open = s.open in ("lo", "both"), s.open in ("hi", "both")
    if s.low is not None and (v < s.low or (lo_open and v == s.low)):
        return False
    return not (s.high is not None and (v > s.high or (hi_open and v == s.high)))


def _int(s: Setting, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not _in_range(s, v):
        raise s.bad(v, f"a whole number {s.range_text()}")
    return int(v)


def _number(s: Setting, v: Any) -> int | float:
    """A whole number stays an int, a fraction a float (fractional epochs: 9.9)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not _in_range(s, v):
        raise s.bad(v, f"a number {s.range_text()} (a fraction allowed)")
    if not math.isfinite(v):
        raise s.bad(v, f"a finite number {s.range_text()}")
    return int(v) if float(v).is_integer() else float(v)


def _float(s: Setting, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise s.bad(v, f"a number {s.range_text()}")
    if not math.isfinite(v) or not _in_range(s, v):
        raise s.bad(v, f"a finite number {s.range_text()}")
    return float(v)


def _choice(s: Setting, v: Any) -> str:
    if not isinstance(v, str) or v not in s.choices:
        raise s.bad(v, f"one of {', '.join(s.choices)}")
    return v


def _text(s: Setting, v: Any) -> str:
    if not isinstance(v, str) or not v or len(v) > MAX_TEXT or "\0" in v:
        raise s.bad(v, f"a text of 1 to {MAX_TEXT} characters")
    return v


def _bool(s: Setting, v: Any) -> bool:
    if not isinstance(v, bool):
        raise s.bad(v, "true or false")
    return v


def _sizes(s: Setting, v: Any) -> tuple[int, ...]:
    """Layer sizes from "512,256" or a list/tuple of whole numbers."""
    expected = (
        f"comma-separated layer sizes like 512,256 (1 to {MAX_LAYERS} of 1 to {MAX_HIDDEN:,})"
    )
    given = v
    if isinstance(v, str):
        parts = [p.strip() for p in v.split(",") if p.strip()]
        if len(v) > 200 or not all(re.fullmatch(r"[0-9]{1,9}", p) for p in parts):
            raise s.bad(v, expected)
        v = [int(p) for p in parts]
    if (
        not isinstance(v, (list, tuple))
        or not 0 < len(v) <= MAX_LAYERS
        or not all(type(u) is int and 1 <= u <= MAX_HIDDEN for u in v)
    ):
        raise s.bad(given, expected)
    try:  # the parameter count of the smallest network these widths make, before any data
        return check_hidden_sizes(v, where=s.flag)
    except ValueError as e:
        raise SettingError(s.flag, str(e).removeprefix(f"{s.flag}: ")) from None


def _val_split(s: Setting, v: Any) -> int | float:
    """A count (int >= 0) or a fraction in (0, 1); text is read as one or the other."""
    if isinstance(v, str):
        text = v.strip()
        if re.fullmatch(r"[0-9]{1,15}", text):
            v = int(text)
        else:
            try:
                number = float(text) if len(text) <= 40 else math.nan
            except ValueError:
                number = math.nan
            if math.isnan(number):
                raise SettingError("", f"--val-split {short_repr(v)}: expected {VAL_SPLIT_RULE}")
            v = number
    try:
        check_val_split(v)
    except ValueError as e:
        raise SettingError("", str(e)) from None
    return v  # type: ignore[no-any-return]


_KINDS: dict[str, Callable[[Setting, Any], Any]] = {
    "int": _int,
    "float": _float,
    "number": _number,
    "choice": _choice,
    "text": _text,
    "bool": _bool,
    "flag": _bool,
    "sizes": _sizes,
    "val_split": _val_split,
}


def check_val_split(spec: object) -> None:
    """Refuse a ``val_split`` that is neither None, an int >= 0 nor a float in (0, 1): a
    float such as 2.0 or 1.0 is ambiguous (2 images? 200 %?) and says so."""
    if spec is None:
        return
    if isinstance(spec, int) and not isinstance(spec, bool) and 0 <= spec <= MAX_INT:
        return
    if isinstance(spec, float) and 0 < spec < 1:
        return
    hint = ""
    if isinstance(spec, float) and spec.is_integer() and spec >= 1:
        hint = f" (write {int(spec)} for {int(spec)} images, or a fraction like 0.1)"
    raise ValueError(f"--val-split {short_repr(spec)}: expected {VAL_SPLIT_RULE}{hint}")
