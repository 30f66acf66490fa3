"""Where each person goes when a prompt names two or more (``faceid_layout``): names and box lists.

No torch here: the option is checked when a prompt is posted.
"""

from __future__ import annotations

from lookalike.errors import InvalidFieldError
from lookalike.prompts.numbers import parse_decimal

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the image

# How regions are laid out when a prompt names two or more people (docs/GENERATION.md).
LAYOUTS = ("columns", "rows", "blend")
DEFAULT_LAYOUT = "columns"


def layout_boxes(layout: str, count: int) -> tuple[Box, ...] | None:
    """The boxes of ``count`` people for a layout name or an explicit box list; None for "blend".

    ``columns``: side by side, left to right in the order of the tokens (the
    default: couples, teams and families stand side by side); ``rows``: top to
    bottom; or ``"x0,y0,x1,y1;..."``, fractions of the width and height, one box
    per token. Raises ``InvalidFieldError`` naming ``faceid_layout``.
    """
    name = layout.strip().lower()
    if name == "blend":
        return None
    if name == "columns":
        return tuple((i / count, 0.0, (i + 1) / count, 1.0) for i in range(count))
    if name == "rows":
        return tuple((0.0, i / count, 1.0, (i + 1) / count) for i in range(count))
    boxes = parse_boxes(layout)
    if len(boxes) != count:
        raise InvalidFieldError(
            f"faceid_layout gives {len(boxes)} boxes but the prompt has {count} <faceid> tokens; give one box per token.",
            field="faceid_layout",
            details={"boxes": len(boxes), "tokens": count},
        )
    return boxes


def parse_boxes(text: str) -> tuple[Box, ...]:
    """``"x0,y0,x1,y1;x0,y0,x1,y1"`` as boxes; each a non-empty box inside the unit square."""

    def refuse(why: str) -> InvalidFieldError:
        return InvalidFieldError(
            f"faceid_layout {text!r}: {why}. Use {', '.join(LAYOUTS)}, or boxes as fractions "
            "'x0,y0,x1,y1;x0,y0,x1,y1' (e.g. '0,0,0.5,1;0.5,0,1,1').",
            field="faceid_layout",
            details={"valid": list(LAYOUTS)},
        )

    boxes = []
    for part in text.split(";"):
        numbers = [piece.strip() for piece in part.split(",")]
        if len(numbers) != 4:
            raise refuse(f"{part.strip()!r} is not four numbers")
        try:
            x0, y0, x1, y1 = (parse_decimal(n) for n in numbers)
        except ValueError:
            raise refuse(f"{part.strip()!r} holds something that is not a plain decimal") from None
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise refuse(f"{part.strip()!r} is not a box inside 0..1 with x0 < x1 and y0 < y1")
        boxes.append((float(x0), float(y0), float(x1), float(y1)))
    if len(boxes) > 8:
        raise refuse("more than 8 boxes")
    return tuple(boxes)


def check_layout_text(text: str) -> str:
    """The option's value made canonical (a name in lower case, or boxes as given); raises if malformed."""
    name = text.strip().lower()
    if name in LAYOUTS:
        return name
    parse_boxes(text)
    return text.strip()
