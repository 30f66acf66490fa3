"""Small parts of the API layer: bracket fields (rate limits: tests/api/test_ratelimit.py)."""

from __future__ import annotations

import pytest

from lookalike.api.forms import BodyFormatError, nest


def test_bracket_fields_nest_like_rails():
    body = nest(
        [
            ("tune[title]", "Ada"),
            ("tune[images][1]", "second"),
            ("tune[images][0]", "first"),
            ("tune[images][]", "third"),
            ("plain", "x"),
        ]
    )
    assert body == {"tune": {"title": "Ada", "images": ["first", "second", "third"]}, "plain": "x"}


def test_lists_of_groups_read_as_rails_does():
    # Astria's tune[prompts_attributes][][text]: a key seen again starts the next group.
    pairs = [("t[p][][text]", "a"), ("t[p][][steps]", "3"), ("t[p][][text]", "b"), ("t[q][1][x]", "y"), ("t[q][0][x]", "z")]
    assert nest(pairs) == {"t": {"p": [{"text": "a", "steps": "3"}, {"text": "b"}], "q": [{"x": "z"}, {"x": "y"}]}}


@pytest.mark.parametrize(
    "pairs",
    [
        [("tune", "a"), ("tune[title]", "b")],
        [("tune[title]", "b"), ("tune", "a")],
        [("a[b][]", "1"), ("a[b][c]", "2")],
        [("a[b][0]", "1"), ("a[b][0][c]", "2")],
        [("a]b[", "1")],
    ],
)
def test_contradictory_or_odd_fields_are_refused(pairs):
    with pytest.raises(BodyFormatError):
        nest(pairs)


def test_the_api_import_path_stays_light():
    import subprocess
    import sys

    code = (
        "import sys; import lookalike.api.app, lookalike.execution.runner; "
        "heavy = [m for m in ('torch', 'diffusers', 'onnxruntime', 'dlib') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
