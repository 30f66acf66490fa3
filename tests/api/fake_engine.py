"""A prompt engine for service tests that need no model: checks the text's tokens, paints flat PNGs.

Loaded by the server through LOOKALIKE_PROMPT_ENGINE=tests.api.fake_engine:FakeEngine.
"""

from __future__ import annotations

import io
import os
import time

from PIL import Image

from lookalike.errors import TuneNotFoundError, UnknownTuneError
from lookalike.jobs.engine import OutputImage
from lookalike.prompts.syntax import parse_prompt


class FakeEngine:
    def __init__(self, services) -> None:
        self.services = services
        self.delay = float(os.environ.get("FAKE_ENGINE_DELAY_S", "0"))

    def check(self, spec):
        for token in parse_prompt(spec.text).tokens:
            try:
                self.services.tunes.get(int(token.tune_id), account_id=spec.account_id)
            except (ValueError, TuneNotFoundError) as exc:
                raise UnknownTuneError(f"Unknown tune {token.tune_id!r} in the prompt text.", field="text") from exc
        return spec

    def run(self, spec):
        time.sleep(self.delay)
        if "explode" in spec.text:
            raise RuntimeError("the fake engine exploded on purpose")
        options = spec.options
        out = []
        for i in range(options["num_images"]):
            buffer = io.BytesIO()
            Image.new("RGB", (options["w"], options["h"]), (i * 40 % 256, 90, 160)).save(buffer, format="PNG")
            out.append(OutputImage(buffer.getvalue(), seed=options["seed"] + i, width=options["w"], height=options["h"]))
        return out

    def warmup(self, base_models):
        pass
