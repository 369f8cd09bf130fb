"""Which model answers: the one the settings choose."""
from __future__ import annotations

from typing import Any

from agents.llm import LanguageModel, LocalLLM
from agents.llm_endpoint import EndpointLLM


def configured_llm(cfg: Any) -> LanguageModel:
    """A local server's model (model.endpoint), else the chosen GGUF (or the built-in one) loaded here."""
    if cfg.get("model.endpoint"):
        return EndpointLLM(cfg.get("model.endpoint"), cfg.get("model.endpoint_model"),
                           context_tokens=cfg.get("model.context_tokens"))
    return LocalLLM(configured=cfg.get("model.gguf_path"), context_tokens=cfg.get("model.context_tokens"))
