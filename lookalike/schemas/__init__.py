"""One schema family per resource: what a request may carry and what a response shows.

``TuneCreate`` / ``TunePublic`` and ``PromptCreate`` / ``PromptPublic`` parse
bodies however they arrived (multipart, urlencoded or JSON all become one
nested dict first, ``api/forms.py``), serialise responses through FastAPI's
``response_model``, and build the CLI's and the client's requests. Only
pydantic and the domain's own definitions are imported here, so the CLI can
use them without loading the server.
"""

from lookalike.schemas.common import ErrorBody, ErrorDetail, Upload
from lookalike.schemas.prompts import ImageDetail, PromptCreate, PromptProgress, PromptPublic
from lookalike.schemas.tunes import TuneCreate, TunePublic, TuneUpdate

__all__ = [
    "ErrorBody",
    "ErrorDetail",
    "ImageDetail",
    "PromptCreate",
    "PromptProgress",
    "PromptPublic",
    "TuneCreate",
    "TunePublic",
    "TuneUpdate",
    "Upload",
]
