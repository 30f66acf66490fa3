"""A prompt engine for service tests that need no model: checks the text's tokens, paints flat PNGs.

Loaded by the server through LOOKALIKE_PROMPT_ENGINE=tests.api.fake_engine:FakeEngine.
Its run takes FAKE_ENGINE_DELAY_S, spread over the prompt's steps (4 unless
it asked), each reported to ``on_progress`` as the real engine's denoising
steps are; with face_correct or super_resolution asked for, one finishing
step per image follows (a tenth of the delay each).
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

    def run(self, spec, on_progress=None):
        options = spec.options
        steps = int(options.get("steps") or 4)
        report = on_progress or (lambda *args, **kwargs: None)
        for step in range(1, steps + 1):
            time.sleep(self.delay / steps)
            report(step, steps, None, options["num_images"])
        if "explode" in spec.text:
            raise RuntimeError("the fake engine exploded on purpose")
        for name in ("face_correct", "super_resolution"):
            if options.get(name):
                for image in range(1, options["num_images"] + 1):
                    report(None, None, image, options["num_images"], finishing_step=name)
                    time.sleep(self.delay / 10)
        out = []
        for i in range(options["num_images"]):
            buffer = io.BytesIO()
            Image.new("RGB", (options["w"], options["h"]), (i * 40 % 256, 90, 160)).save(buffer, format="PNG")
            out.append(OutputImage(buffer.getvalue(), seed=options["seed"] + i, width=options["w"], height=options["h"]))
        return out

    def warmup(self, base_models):
        pass
