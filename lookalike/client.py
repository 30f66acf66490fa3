"""Python client for a lookalike server (httpx).

    client = Client("http://127.0.0.1:8000", api_key)
    tune = client.create_tune("Ada", "woman", ["1.jpg", "2.jpg"])
    prompt = client.create_prompt(999, f"a portrait of ohwx woman <faceid:{tune['id']}:1.0>")
    client.download(client.wait(prompt), "out/")

    # Live progress: a callback, or the events themselves.
    client.wait(prompt, on_progress=lambda p: print(p["phase"], p["step"], p["steps"]))
    for item in client.progress(prompt):
        ...  # progress dicts ("phase", "step", ...), then the finished prompt ("status")

    # A LoRA tune: trained by a worker; prompts on it wait for it.
    lora = client.create_tune("Ada", "woman", photos, 999, model_type="lora", preset="fast")
    client.wait_tune(lora, on_progress=lambda p: print(p["phase"], p["step"], p["steps"], p["loss"]))
    client.create_prompt(999, f"portrait of sks woman <lora:{lora['id']}:1>")
    client.download_lora(lora, "ada.safetensors")

Errors come back as the same typed errors the library raises
(``lookalike.errors``), rebuilt from the error body's stable ``code``, with the
HTTP status on ``.status``. Creations are safe to retry: every
``create_tune`` and ``create_prompt`` sends its own Idempotency-Key, so 429
and 503 answers and dropped connections are retried with backoff.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

from lookalike import errors as _errors
from lookalike.errors import GenerationFailedError, LookalikeError, ServerUnreachableError, TrainingFailedError

PhotoLike = str | Path | bytes | tuple[str, bytes]
RETRY_STATUSES = frozenset({429, 502, 503, 504})
DONE_STATUSES = frozenset({"succeeded", "failed"})
TUNE_DONE_STATUSES = frozenset({"trained", "failed"})


def _error_classes() -> dict[str, type[LookalikeError]]:
    found: dict[str, type[LookalikeError]] = {}
    pending = [LookalikeError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def error_from_body(status: int, body: Any) -> LookalikeError:
    """The typed error for an error answer; unknown codes keep their code on a plain LookalikeError."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str) and "code" in body:
        error = body  # the server's shape: Astria's "error" string with our fields beside it
    if not isinstance(error, dict):
        exc = LookalikeError(f"HTTP {status} with no error body.")
        exc.status = status
        return exc
    code = str(error.get("code", "error"))
    cls = _error_classes().get(code, LookalikeError)
    kwargs = dict(
        hint=error.get("hint") or "",
        field=error.get("field"),
        image_index=error.get("image_index"),
        details=error.get("details") or {},
    )
    message = str(error.get("message", ""))
    if cls is _errors.RateLimitedError:
        exc = cls(message, retry_after=float((error.get("details") or {}).get("retry_after", 1.0)), **kwargs)
    else:
        try:
            exc = cls(message, **kwargs)
        except TypeError:
            exc = LookalikeError(message, **kwargs)
    exc.code = code  # instance attribute: exact even when the class is a base
    exc.status = status
    return exc


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 120.0,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "lookalike-client/0.1"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport -----------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=_retry_wait,
            retry=retry_if_exception_type(httpx.TransportError) | retry_if_result(_retryable),
            # Out of attempts: a busy answer is returned to become its typed
            # error below; a transport error is raised again, as itself.
            retry_error_callback=lambda state: state.outcome.result(),
        )
        try:
            response = retrying(self._http.request, method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachableError(f"Cannot reach {self.base_url}: {exc}.") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise error_from_body(response.status_code, body)
        return response

    def _json(self, method: str, path: str, **kwargs) -> Any:
        return self._request(method, path, **kwargs).json()

    # -- tunes -----------------------------------------------------------------

    def create_tune(
        self,
        title: str,
        name: str,
        photos: Iterable[PhotoLike],
        base_tune_id: int | str | None = None,
        *,
        callback: str | None = None,
        idempotency_key: str | None = None,
        model_type: str = "faceid",
        preset: str | None = None,
        steps: int | None = None,
        token: str | None = None,
        face_crop: bool | None = None,
    ) -> dict:
        """Make a tune; ``model_type="lora"`` queues its training (``preset``, ``steps``, ``token``, ``face_crop``)."""
        data = {"tune[title]": title, "tune[name]": name, "tune[model_type]": model_type}
        if base_tune_id is not None:
            data["tune[base_tune_id]"] = str(base_tune_id)
        if callback:
            data["tune[callback]"] = callback
        for field, value in (("preset", preset), ("steps", steps), ("token", token)):
            if value is not None:
                data[f"tune[{field}]"] = str(value)
        if face_crop is not None:
            data["tune[face_crop]"] = "true" if face_crop else "false"
        files = [("tune[images][]", _photo_part(i, p)) for i, p in enumerate(photos)]
        # The key makes the retries below safe: a repeat returns the first tune.
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._json("POST", "/tunes", data=data, files=files, headers=headers)

    def list_tunes(self, *, limit: int = 20, offset: int = 0, before_id: int | None = None) -> list[dict]:
        return self._json("GET", "/tunes", params=_page(limit, offset, before_id))

    def get_tune(self, tune_id: int) -> dict:
        return self._json("GET", f"/tunes/{int(tune_id)}")

    def delete_tune(self, tune_id: int) -> None:
        """Delete a tune; a LoRA tune still training stops at its next step."""
        self._request("DELETE", f"/tunes/{int(tune_id)}")

    def training_presets(self) -> list[dict]:
        """The presets a LoRA tune may name, the default first."""
        return self._json("GET", "/tunes/presets")

    def tune_progress(self, tune: Mapping | int, timeout: float = 3600.0, *, interval: float = 1.0) -> Iterator[dict]:
        """Follow a LoRA tune: yield each new progress dict, then the tune once trained or failed, and stop.

        Progress dicts have ``phase`` (queued, preparing, class_images,
        training, saving), ``queue_position``, ``step``, ``steps``, ``loss``,
        ``eta`` and ``updated_at``; the last item is the tune itself (its
        ``status`` is trained or failed). Polls ``GET /tunes/{id}``: a
        training's progress changes a few times a second at most.
        TimeoutError after ``timeout`` seconds.
        """
        tune_id = _id(tune)
        deadline = time.monotonic() + timeout
        last: dict | None = None
        delay = min(interval, 0.25)
        while True:
            current = self.get_tune(tune_id)
            if current.get("status", "trained") in TUNE_DONE_STATUSES:
                yield current
                return
            shown = current.get("progress")
            if shown and shown != last:
                last = shown
                yield shown
            if time.monotonic() + delay > deadline:
                raise TimeoutError(f"Tune {tune_id} still {current.get('status')} after {timeout:g} s.")
            time.sleep(delay)
            delay = min(delay * 1.5, interval)

    def wait_tune(
        self,
        tune: Mapping | int,
        timeout: float = 3600.0,
        *,
        interval: float = 1.0,
        raise_on_failure: bool = True,
        on_progress: Callable[[dict], Any] | None = None,
    ) -> dict:
        """Wait until the tune is trained (a FaceID tune is at once) or its training failed; the tune.

        ``on_progress`` hears each new progress dict. A failed training raises
        ``TrainingFailedError`` (the server's reason in ``details``) unless
        ``raise_on_failure`` is off; TimeoutError after ``timeout`` seconds.
        """
        current: dict | None = None
        for item in self.tune_progress(tune, timeout, interval=interval):
            if "status" in item and "title" in item:
                current = item
            elif on_progress is not None:
                on_progress(item)
        assert current is not None  # tune_progress ends with the tune or raises
        if current.get("status") == "failed" and raise_on_failure:
            reason = current.get("error") or {}
            raise TrainingFailedError(
                f"Tune {current['id']}'s training failed: {reason.get('message', 'no reason given')}",
                details={"tune_id": current["id"], "error": reason},
            )
        return current

    def download_lora(self, tune: Mapping | int, path: str | Path) -> Path:
        """Save a trained LoRA tune's file (kohya layout .safetensors) at ``path``."""
        current = tune if isinstance(tune, Mapping) and tune.get("ckpt_url") else self.get_tune(_id(tune))
        url = current.get("ckpt_url") or f"/tunes/{_id(current)}/lora.safetensors"
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self._request("GET", _path_of(url)).content)
        return target

    def gallery(self) -> list[dict]:
        return self._json("GET", "/gallery/tunes")

    # -- prompts ---------------------------------------------------------------

    def create_prompt(
        self,
        tune_id: int,
        text: str,
        *,
        idempotency_key: str | None = None,
        input_image: PhotoLike | None = None,
        **options: Any,
    ) -> dict:
        """Queue a prompt; ``options`` are Astria's prompt fields (negative_prompt, num_images, seed, ...).

        The request is built from the server's own schema (``PromptCreate``),
        so a bad option fails here with the error the server would give,
        before anything is sent. ``input_image`` (a path, bytes or (name,
        bytes)) is uploaded as ``prompt[input_image]`` in a multipart body;
        ``input_image_url`` and ``input_image_base64`` go as options.
        """
        from lookalike.schemas.common import Upload
        from lookalike.schemas.prompts import PromptCreate

        unknown = sorted(set(options) - set(PromptCreate.model_fields))
        if unknown:
            raise _errors.InvalidFieldError(
                f"{', '.join(unknown)}: not a prompt field.", field=unknown[0], hint="See PromptCreate for the fields."
            )
        fields = {"text": text, **options}
        upload = None
        if input_image is not None:
            upload = _photo_part(0, input_image)
            fields["input_image"] = Upload(upload[1], upload[0])
        sent = PromptCreate.parse(fields).sent()
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        path = f"/tunes/{int(tune_id)}/prompts"
        if upload is None:
            return self._json("POST", path, json={"prompt": sent}, headers=headers)
        form = {f"prompt[{name}]": _form_value(value) for name, value in sent.items()}
        return self._json("POST", path, data=form, files=[("prompt[input_image]", upload)], headers=headers)

    def get_prompt(self, prompt: Mapping | int) -> dict:
        return self._json("GET", f"/prompts/{_id(prompt)}")

    def list_prompts(
        self, tune_id: int | None = None, *, limit: int = 20, offset: int = 0, before_id: int | None = None
    ) -> list[dict]:
        path = "/prompts" if tune_id is None else f"/tunes/{int(tune_id)}/prompts"
        return self._json("GET", path, params=_page(limit, offset, before_id))

    def delete_prompt(self, prompt: Mapping | int) -> None:
        self._request("DELETE", f"/prompts/{_id(prompt)}")

    def wait(
        self,
        prompt: Mapping | int,
        timeout: float = 300.0,
        *,
        interval: float = 0.25,
        raise_on_failure: bool = True,
        on_progress: Callable[[dict], Any] | None = None,
    ) -> dict:
        """Wait until the prompt succeeded or failed; TimeoutError after ``timeout`` seconds.

        Without ``on_progress`` it polls the prompt. With it, it follows the
        prompt's events (``progress``) and calls ``on_progress`` with each new
        progress dict (docs/API.md, "Progress").
        """
        if on_progress is not None:
            current: dict | None = None
            for item in self.progress(prompt, timeout=timeout):
                if "status" in item:
                    current = item
                else:
                    on_progress(item)
            assert current is not None  # progress() ends with the prompt or raises
            return _finished(current, raise_on_failure)
        deadline = time.monotonic() + timeout
        delay = interval
        while True:
            current = self.get_prompt(prompt)
            if current["status"] in DONE_STATUSES:
                return _finished(current, raise_on_failure)
            if time.monotonic() + delay > deadline:
                raise TimeoutError(f"Prompt {current['id']} still {current['status']} after {timeout:g} s.")
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def progress(self, prompt: Mapping | int, timeout: float = 600.0) -> Iterator[dict]:
        """Follow a prompt: yield each new progress dict, then the finished prompt (succeeded or failed), and stop.

        Progress dicts have ``phase`` (queued, denoising, finishing, saving),
        ``queue_position``, ``step``, ``steps``, ``image``, ``images``,
        ``finishing_step``, ``elapsed_s`` and ``updated_at``; the last item is
        the prompt itself, told apart by its ``status``. Read from the
        prompt's Server-Sent Events (``GET /prompts/{id}/events``); when the
        stream drops, the prompt is read once and the stream opened again
        (a server without the events endpoint is polled instead).
        TimeoutError after ``timeout`` seconds.
        """
        prompt_id = _id(prompt)
        deadline = time.monotonic() + timeout
        last: dict | None = None
        stream = True
        failures = 0
        while True:
            if stream:
                try:
                    for event, data in self._events(prompt_id, deadline):
                        failures = 0
                        if event == "done":
                            yield json.loads(data)
                            return
                        if event == "progress":
                            current = json.loads(data)
                            if current != last:
                                last = current
                                yield current
                except _NoEventStream:
                    stream = False
                except httpx.TransportError:
                    pass  # dropped, or no event for too long: read the prompt, then reconnect
            # Fallback (and the whole loop for servers without events): one read of the prompt.
            current = self.get_prompt(prompt_id)
            if current["status"] in DONE_STATUSES:
                yield current
                return
            shown = current.get("progress")
            if shown and shown != last:
                last = shown
                yield shown
            if time.monotonic() >= deadline:
                raise TimeoutError(f"Prompt {prompt_id} still {current['status']} after {timeout:g} s.")
            failures += 1
            time.sleep(min(0.25 * 2 ** min(failures - 1, 3), 2.0, max(0.0, deadline - time.monotonic())))

    def _events(self, prompt_id: int, deadline: float) -> Iterator[tuple[str, str]]:
        """(event, data) pairs of the prompt's event stream until it ends; comments and keep-alives skipped."""
        # The server sends something at least every 15 s (a keep-alive comment).
        read = max(1.0, min(30.0, deadline - time.monotonic()))
        with self._http.stream("GET", f"/prompts/{prompt_id}/events", timeout=httpx.Timeout(10.0, read=read)) as response:
            if response.status_code >= 400:
                response.read()
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if response.status_code in RETRY_STATUSES:
                    raise httpx.TransportError(f"HTTP {response.status_code}")  # busy: read, then try again
                error = error_from_body(response.status_code, body)
                if response.status_code in (404, 405) and error.code != "prompt_not_found":
                    raise _NoEventStream  # an older server: no events endpoint
                raise error
            event, data = "message", []
            for line in response.iter_lines():
                if time.monotonic() > deadline:
                    return
                if not line:
                    if data:
                        yield event, "\n".join(data)
                    event, data = "message", []
                elif line.startswith(":"):
                    continue
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "event":
                        event = value
                    elif name == "data":
                        data.append(value)

    def download(self, prompt: Mapping | int, out_dir: str | Path) -> list[Path]:
        """Save the prompt's images as ``prompt-ID-N.png`` under ``out_dir``."""
        current = prompt if isinstance(prompt, Mapping) and prompt.get("images") else self.get_prompt(prompt)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for n, url in enumerate(current.get("images", [])):
            path = out / f"prompt-{current['id']}-{n}.png"
            path.write_bytes(self._request("GET", _path_of(url)).content)
            paths.append(path)
        return paths


class _NoEventStream(Exception):
    """The server has no events endpoint (it predates it): poll instead."""


def _finished(current: dict, raise_on_failure: bool) -> dict:
    if current["status"] == "failed" and raise_on_failure:
        reason = current.get("error") or {}
        raise GenerationFailedError(
            f"Prompt {current['id']} failed: {reason.get('message', 'no reason given')}",
            details={"prompt_id": current["id"], "error": reason},
        )
    return current


def _photo_part(index: int, photo: PhotoLike) -> tuple[str, bytes]:
    if isinstance(photo, tuple):
        return photo[0], photo[1]
    if isinstance(photo, bytes):
        return f"photo-{index}.jpg", photo
    path = Path(photo)
    return path.name, path.read_bytes()


def _form_value(value: Any) -> str:
    # Forms carry text: booleans as the server reads them, numbers in plain decimals.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        from decimal import Decimal

        return format(Decimal(repr(value)), "f")  # 1e-05 -> 0.00001: the server takes plain decimals only
    return str(value)


def _page(limit: int, offset: int, before_id: int | None) -> dict:
    params = {"limit": limit, "offset": offset}
    if before_id is not None:
        params["before_id"] = before_id
    return params


def _id(prompt: Mapping | int) -> int:
    return int(prompt["id"]) if isinstance(prompt, Mapping) else int(prompt)


def _path_of(url: str) -> str:
    # Image URLs are absolute (built from the Host the server saw); fetch them
    # through our own base URL so a proxy or port mapping in between is fine.
    parsed = httpx.URL(url)
    return parsed.raw_path.decode("ascii") if parsed.is_absolute_url else url


# Retries: 0.5 s, 1, 2, 4, then 8 s between attempts; a busy answer's
# Retry-After (seconds, at most a minute) replaces the backoff.
_backoff = wait_exponential(multiplier=0.5, max=8.0)


def _retryable(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES


def _retry_wait(state: RetryCallState) -> float:
    outcome = state.outcome
    if outcome is not None and not outcome.failed:
        header = outcome.result().headers.get("Retry-After")
        if header:
            try:
                return min(60.0, max(0.0, float(header)))
            except ValueError:
                pass  # an HTTP date or garbage: the plain backoff
    return _backoff(state)
