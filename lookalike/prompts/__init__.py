"""Prompt text syntax (``<faceid:ID:W>``), generation options and their validation."""

from lookalike.prompts.options import ASPECT_RATIOS, GenerationOptions
from lookalike.prompts.resolve import IdentityCondition, resolve_identities
from lookalike.prompts.schedulers import SCHEDULER_NAMES
from lookalike.prompts.syntax import FaceIdToken, ParsedPrompt, parse_prompt

__all__ = [
    "ASPECT_RATIOS",
    "FaceIdToken",
    "GenerationOptions",
    "IdentityCondition",
    "ParsedPrompt",
    "SCHEDULER_NAMES",
    "parse_prompt",
    "resolve_identities",
]
