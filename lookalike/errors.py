"""Typed domain errors.

Each error carries a stable ``code`` (part of the public contract of the CLI
and the API), a human ``message`` saying what is wrong, and a ``hint`` saying
what to do. HTTP status codes are chosen at the API edge, never here.
"""

from __future__ import annotations

from typing import Any


class LookalikeError(Exception):
    code: str = "error"
    default_hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        image_index: int | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.image_index = image_index
        self.field = field
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        if self.image_index is not None:
            out["image_index"] = self.image_index
        if self.field is not None:
            out["field"] = self.field
        if self.details:
            out["details"] = self.details
        return out


class InputError(LookalikeError):
    """The caller sent something we cannot accept; retrying unchanged won't help."""

    code = "invalid_input"


class InvalidImageError(InputError):
    code = "invalid_image"
    default_hint = "Upload a JPEG, PNG or WebP photo."


class ImageTooLargeError(InputError):
    code = "image_too_large"
    default_hint = "Resize the photo (a few megapixels is plenty) and try again."


class NoFaceError(InputError):
    code = "no_face"
    default_hint = "Use a photo where one person's face is clearly visible."


class MultipleFacesError(InputError):
    code = "multiple_faces"
    default_hint = "Crop the photo to one person, or use a photo of them alone."


class FaceTooSmallError(InputError):
    code = "face_too_small"
    default_hint = "Use a closer or higher-resolution photo of the face."


class FaceTooBlurryError(InputError):
    code = "face_too_blurry"
    default_hint = "Use a sharp, well-lit photo."


class FaceNotFrontalError(InputError):
    code = "face_not_frontal"
    default_hint = "Use a photo where the person looks roughly toward the camera."


class IdentityMismatchError(InputError):
    code = "identity_mismatch"
    default_hint = "All photos of a tune must show the same person; remove the odd one."


class TooManyPhotosError(InputError):
    code = "too_many_photos"


class NoPhotosError(InputError):
    code = "no_photos"
    default_hint = "Give at least one photo of the person."


class InvalidFieldError(InputError):
    code = "invalid_field"


class UnknownBaseModelError(InputError):
    code = "unknown_base_model"
    default_hint = "Run `lookalike models list` to see the base models."


class NotFoundError(LookalikeError):
    code = "not_found"


class TuneNotFoundError(NotFoundError):
    code = "tune_not_found"
    default_hint = "Run `lookalike tunes list` to see your tunes."


class ModelUnavailableError(LookalikeError):
    """Weights are missing locally and could not be fetched."""

    code = "model_unavailable"


class ModelIntegrityError(LookalikeError):
    code = "model_checksum_mismatch"


class FileUnreadableError(InputError):
    code = "file_not_found"
    default_hint = "Check the path."


# --- prompts and generation (step 2) ---------------------------------------------


class PromptTokenError(InputError):
    """A ``<faceid:...>`` token in the prompt text cannot be read."""

    code = "malformed_faceid_token"
    default_hint = "Write identity tokens as <faceid:TUNE_ID> or <faceid:TUNE_ID:WEIGHT>, e.g. <faceid:42:0.8>."


class UnsupportedPromptTokenError(InputError):
    code = "unsupported_prompt_token"
    default_hint = "Only <faceid:TUNE_ID:WEIGHT> and <lora:TUNE_ID:WEIGHT> tokens are supported in the prompt text."


class FaceIdWeightError(InputError):
    code = "faceid_weight_out_of_range"
    default_hint = "Use a weight from 0 to 2; 1 is the adapter's trained strength."


class TooManyIdentitiesError(InputError):
    code = "too_many_faceid_tokens"


class UnknownTuneError(InputError):
    """A tune named in the prompt text does not exist (a 422 at the API: the body is wrong)."""

    code = "unknown_tune"
    default_hint = "Check the tune id in the <faceid:...> token; `lookalike tunes list` shows your tunes."


class TuneAccessError(LookalikeError):
    """A tune named in the prompt text exists but the caller may not use it."""

    code = "tune_forbidden"
    default_hint = "Use one of your own tunes."


class UnknownSchedulerError(InvalidFieldError):
    code = "unknown_scheduler"


class IdentityEmbeddingError(InputError):
    """An identity embedding does not fit the base model's FaceID adapter."""

    code = "identity_embedding_mismatch"


class UnsupportedBaseModelError(InputError):
    code = "base_model_not_supported"


# --- HTTP service (step 3) -------------------------------------------------------


class AuthError(LookalikeError):
    """No API key, or one we do not know (401 at the API)."""

    code = "unauthorized"
    default_hint = "Send `Authorization: Bearer KEY`; `lookalike keys create --name NAME` makes a key."


class RateLimitedError(LookalikeError):
    """Too many creations in a short time (429 at the API, with Retry-After)."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.details.setdefault("retry_after", round(retry_after, 3))


class SignupClosedError(LookalikeError):
    """Anonymous key creation (POST /keys) is off on this server (403 at the API)."""

    code = "signup_closed"
    default_hint = "Ask the operator for a key (`lookalike keys create --name NAME`), or start the server with --open-signup."


class RequestTooLargeError(InputError):
    code = "request_too_large"
    default_hint = "Send fewer or smaller photos in one request."


class InvalidBodyError(InputError):
    """The request body cannot be read as a form or a JSON object."""

    code = "invalid_body"


class BodyTooDeepError(InvalidBodyError):
    code = "body_too_deep"
    default_hint = "Send the fields as {\"prompt\": {...}} or {\"tune\": {...}}; nothing nests deeper than a few levels."


class NumberTooLongError(InvalidBodyError):
    code = "number_too_long"
    default_hint = "Numbers in the body have at most 32 digits; send ids, seeds and sizes as plain decimals."


class InvalidUnicodeError(InvalidBodyError):
    """Text that is not Unicode: invalid UTF-8, or a lone UTF-16 surrogate such as the JSON escape \\ud800."""

    code = "invalid_unicode"
    default_hint = "Send text as valid UTF-8; a \\uD800-\\uDFFF escape must be half of a surrogate pair."


class CallbackURLError(InvalidFieldError):
    code = "invalid_callback_url"
    default_hint = "Give a public http(s) URL; private and loopback addresses are refused."


class ImageUrlsUnsupportedError(InputError):
    code = "image_urls_unsupported"
    default_hint = "Upload the photos as multipart files (tune[images][])."


class IdempotencyKeyReusedError(InputError):
    code = "idempotency_key_reused"
    default_hint = "Use a new Idempotency-Key for a different request."


class PromptNotFoundError(NotFoundError):
    code = "prompt_not_found"
    default_hint = "Run `GET /prompts` to see your prompts."


class ServerUnreachableError(LookalikeError):
    """The client could not talk to a lookalike server (connection refused, timeout)."""

    code = "server_unreachable"
    default_hint = "Check --server / LOOKALIKE_SERVER and that `lookalike serve` is running."


class PromptTimeoutError(LookalikeError):
    """The client stopped waiting for a prompt that is still queued or running on the server."""

    code = "prompt_timeout"
    default_hint = "It may still finish: check it later with GET /prompts/ID, or wait longer with --timeout."


class GenerationFailedError(LookalikeError):
    """A prompt ended ``failed`` when the client waited for it; the server's reason is in details."""

    code = "generation_failed"


class BlobStoreError(LookalikeError):
    """The blob store (local directory or S3-compatible bucket) could not be read or written."""

    code = "blob_store_unavailable"
    default_hint = "Check LOOKALIKE_BLOB_BACKEND and, for s3, the bucket, endpoint and credentials (docs/DEPLOY.md)."


class BrokerUnavailableError(LookalikeError):
    """The Celery broker (Redis) did not take a message; the prompt stays queued and is published again."""

    code = "broker_unavailable"
    default_hint = "Check LOOKALIKE_BROKER_URL and that Redis is running; queued prompts go out when it is back."


# --- photos given as URLs (tune[image_urls]) -------------------------------------


class ImageUrlError(InputError):
    """A photo URL could not be fetched; subclasses say why. ``image_index`` is the URL's position."""

    code = "image_url_error"


class ImageUrlInvalidError(ImageUrlError):
    code = "image_url_invalid"
    default_hint = "Give an absolute http(s) URL without a user name or password."


class ImageUrlForbiddenError(ImageUrlError):
    code = "image_url_forbidden"
    default_hint = "Give a public URL; private, loopback, link-local and multicast addresses are refused."


class ImageUrlUnreachableError(ImageUrlError):
    """No answer, a TLS failure, a non-2xx status or too many redirects (``details.reason``)."""

    code = "image_url_unreachable"
    default_hint = "Check that the URL opens in a browser without logging in, or upload the photo as a file."


class ImageUrlTooLargeError(ImageUrlError):
    code = "image_url_too_large"
    default_hint = "Link a smaller photo (a few megapixels is plenty) or upload it as a file."


class ImageUrlNotImageError(ImageUrlError):
    code = "image_url_not_image"
    default_hint = "The URL must serve the photo itself (JPEG, PNG or WebP), not a web page about it."


class ImageUrlTimeoutError(ImageUrlError):
    code = "image_url_timeout"
    default_hint = "The server holding the photo is too slow; upload the photo as a file instead."


class UnsupportedFieldError(InvalidFieldError):
    """An Astria field this server does not offer (yet): refused by name, never silently dropped."""

    code = "unsupported_field"
    default_hint = "Leave the field out; docs/ASTRIA.md lists what is offered."


class UnknownFieldError(InvalidFieldError):
    """A field neither Astria nor lookalike defines: most often a typo."""

    code = "unknown_field"
    default_hint = "Check the spelling against docs/API.md."


class InvalidLinkError(LookalikeError):
    """A signed link that expired, or whose path or signature was changed."""

    code = "invalid_link"
    default_hint = "Read the tune or prompt again (with your API key) for a fresh link."


# --- LoRA fine-tunes (issue 15): <lora:ID:W> tokens and training ------------------


class LoraTokenError(InputError):
    """A ``<lora:...>`` token in the prompt text cannot be read."""

    code = "malformed_lora_token"
    default_hint = "Write LoRA tokens as <lora:TUNE_ID> or <lora:TUNE_ID:WEIGHT>, e.g. <lora:42:0.8>."


class LoraWeightError(InputError):
    code = "lora_weight_out_of_range"
    default_hint = "Use a LoRA weight from 0 to 2; 1 is the strength it was trained at."


class TooManyLorasError(InputError):
    code = "too_many_lora_tokens"


class NotALoraTuneError(InputError):
    """``<lora:ID>`` names a tune that has no trained LoRA (a FaceID tune)."""

    code = "not_a_lora_tune"
    default_hint = "Use <faceid:ID:W> for a FaceID tune, or make a LoRA tune with tune[model_type]=lora."


class LoraBaseMismatchError(InputError):
    """The LoRA was trained on another base model family (SD1.5 vs SDXL) than the prompt runs on."""

    code = "lora_base_model_mismatch"
    default_hint = "Post the prompt to a base model of the family the LoRA was trained on (the tune's base_tune_id)."


class TuneTrainingFailedError(InputError):
    """A prompt names a LoRA tune whose training failed: it has nothing to load."""

    code = "tune_training_failed"
    default_hint = "Read the tune (GET /tunes/ID) for the reason, then make a new tune."


class TuneNotTrainedError(InputError):
    """A LoRA tune's file was asked for before its training finished (prompts on it wait instead)."""

    code = "tune_not_trained"
    default_hint = "Wait for the tune's trained_at (or its callback), then post the prompt again."


class UnknownTrainingPresetError(InvalidFieldError):
    code = "unknown_training_preset"


class TrainingPresetError(LookalikeError):
    """An operator's training preset file that cannot be used (at start); ``details.file`` names it."""

    code = "invalid_training_preset"
    default_hint = "Fix the preset file (docs/TRAINING.md, Presets) and start again."


class TrainingFailedError(LookalikeError):
    """Training stopped on an error that is not ours to name more precisely; the tune shows it."""

    code = "training_failed"
    default_hint = "Make a new tune; if it fails again, the server's log has the cause."


class TrainingInterruptedError(TrainingFailedError):
    """The training's workers were lost too many times (killed, out of memory) to go on trying."""

    code = "training_interrupted"
    default_hint = "Check the workers' memory and logs, then make a new tune."


class TuneTimeoutError(LookalikeError):
    """The client stopped waiting for a tune that is still queued or training on the server."""

    code = "tune_timeout"
    default_hint = "It may still finish: check it later with GET /tunes/ID, or wait longer with --timeout."


# --- input images and ControlNets (issue 14) -------------------------------------------


class InputImageRequiredError(InvalidFieldError):
    """An img2img or ControlNet field was given without an input image to apply it to."""

    code = "input_image_required"
    default_hint = (
        "Send the image as prompt[input_image] (a file), prompt[input_image_url] or prompt[input_image_base64] "
        "(the CLI: --input-image or --input-image-url)."
    )
