"""Numbers written as text, read strictly: a plain ASCII decimal and nothing else.

Python's ``int()`` and ``float()`` (and pydantic's lax mode, which uses them)
also accept ``1_0``, full-width digits, ``nan`` and exponents. The docs promise
a plain decimal, so ``<faceid:0_1>`` must not mean tune 1 and ``steps=1_0``
must not mean 10.
"""

from __future__ import annotations

import re

# Longer than any value we accept (a seed has 10 digits): also keeps
# int() away from its 4300-digit limit.
MAX_DIGITS = 32
_INT = re.compile(r"[+-]?[0-9]{1,%d}" % MAX_DIGITS, re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,%d}(?:\.[0-9]{0,%d})?|\.[0-9]{1,%d})" % (MAX_DIGITS, MAX_DIGITS, MAX_DIGITS), re.ASCII)


def parse_int(text: str) -> int:
    """``text`` (surrounding spaces allowed) as a whole number; ValueError otherwise."""
    stripped = text.strip()
    if not _INT.fullmatch(stripped):
        raise ValueError(f"{text!r} is not a plain whole number")
    return int(stripped)


def parse_decimal(text: str) -> float:
    """``text`` as a plain decimal (``3``, ``-0.5``, ``.5``); no exponent, no nan or inf."""
    stripped = text.strip()
    if not _DECIMAL.fullmatch(stripped):
        raise ValueError(f"{text!r} is not a plain decimal number")
    return float(stripped)
