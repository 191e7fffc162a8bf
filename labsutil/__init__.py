"""labsutil: the tested helpers behind the course labs.

Importing it sets the offline, telemetry-free environment (LABS_ONLINE=1 opts out of
offline) before any Hugging Face, LangChain or ragas module reads it.
"""
from .paths import apply_environment as _apply_environment

__version__ = "0.1.0"

_apply_environment()
