"""Which model answers: the one the settings choose."""
from __future__ import annotations

import logging
from typing import Any

from agents.llm import LanguageModel, LocalLLM, ModelError
from agents.llm_endpoint import EndpointLLM

log = logging.getLogger(__name__)


def configured_llm(cfg: Any) -> LanguageModel:
    """A local server's model (model.endpoint), else the chosen GGUF (or the built-in one) loaded here."""
    if cfg.get("model.endpoint"):
        try:
            return EndpointLLM(cfg.get("model.endpoint"), cfg.get("model.endpoint_model"),
                               context_tokens=cfg.get("model.context_tokens"))
        except ModelError as exc:
            # An address edited into config.toml by hand that is not this computer's: Ask still answers,
            # with the model loaded here, and never sends the memories elsewhere.
            log.warning("model.endpoint not used: %s", exc)
    return LocalLLM(configured=cfg.get("model.gguf_path"), context_tokens=cfg.get("model.context_tokens"))
