"""The meta memory manager: a batch of observations in, decisions of six managers out.

For each batch (MIRIX's meta manager, with the default model's limits designed in):
1. secrets are masked and become vault candidates (agents/secrets.py), the user's
   only from the user's own lines (agents/ownership.py);
2. deterministic extractors propose resources (URLs, files, documents) and,
   from what the user says about themself only, core facts;
3. runs of frames in one window become screen episodes;
4. chat messages are routed by meaning (agents/router.py) to the semantic,
   procedural, episodic, resource or core managers, to both of the two best
   types when the router is unsure;
5. a capable model (never the small default) also breaks routing ties and
   reads screen text for facts and procedures, as inferred, lower-trust memories;
6. each candidate's manager decides ADD / UPDATE / MERGE / NOOP, and the whole
   batch, masked observations included, is written in one atomic commit.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.extract_core import find_core_facts
from agents.extract_resources import find_resources
from agents.llm import LanguageModel, ModelError, route_with_llm
from agents.managers.base import Batch, Candidate, Decision, MemoryManager, Store
from agents.managers.by_key import ResourceManager, VaultManager
from agents.managers.by_meaning import EpisodicChatManager, ProceduralManager, SemanticManager
from agents.managers.core import CoreManager
from agents.managers.episodes import EpisodicManager, episodes_from_frames
from agents.observation import Observation
from agents.router import EmbeddingRouter, Route
from agents.secrets import take_secrets
from storage.blind_index import words
from storage.memory import Memory, Trust

log = logging.getLogger(__name__)

# A chat line shorter than this carries no memory ("ok!", "haha same").
_MIN_WORDS = 4
_LLM_FACTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "facts": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        "procedures": {"type": "array", "maxItems": 2, "items": {
            "type": "object", "properties": {"summary": {"type": "string"},
                                             "steps": {"type": "array", "items": {"type": "string"}}},
            "required": ["summary", "steps"]}},
    },
    "required": ["facts", "procedures"],
}
_LLM_FACTS_INSTRUCTION = (
    "Read the screen text of one window. List up to 5 lasting facts worth remembering about people, projects "
    "or things (short sentences), and any step-by-step procedure shown. Do not list secrets, passwords or "
    "numbers from forms. Answer as JSON.")


@dataclass
class BatchReport:
    observations: int = 0
    sources: dict[str, int] = field(default_factory=dict)     # "frame"/"message" -> how many
    decisions: list[Decision] = field(default_factory=list)
    masked: int = 0

    def counts(self) -> dict[str, int]:
        """"semantic ADD" -> n, for progress lines and benchmarks."""
        return dict(Counter(f"{d.kind} {d.action}" for d in self.decisions))

    @property
    def written(self) -> int:
        return sum(1 for d in self.decisions if d.memory is not None)


class MetaMemoryManager:
    def __init__(self, store: Store, router: EmbeddingRouter, llm: LanguageModel | None = None,
                 user_names: Sequence[str] = ()) -> None:
        self.store = store
        self.router = router
        self.llm = llm
        self.user_names = frozenset(n.strip().lower() for n in user_names if n.strip())
        self._not_trusted = False   # the model, once loaded, turned out small (or would not load)

    @property
    def capable(self) -> bool:
        """Whether the chosen model is trusted with judgement. A model is loaded only when first used, so the
        first time this is asked it is loaded here (on the agents' background thread) to learn its tier; one
        that is not capable is let go again at once, and never loaded again by the agents."""
        if self.llm is None or self._not_trusted:
            return False
        info = self.llm.info
        if info is None:
            try:
                info = self.llm.load()
            except ModelError as exc:
                log.warning("the chosen model is not used for sorting memories: %s", exc)
                info = None
        if info is None or info.tier != "capable":
            self._not_trusted = True
            self.llm.close()
            return False
        return True

    def digest(self, memories: Sequence[Memory]) -> tuple[BatchReport, list[Memory]]:
        """Decide what a batch of frames and messages means; returns the report and every memory to write."""
        report = BatchReport(observations=len(memories), sources=dict(Counter(m.kind for m in memories)))
        candidates: list[Candidate] = []
        rewritten: list[Memory] = []
        for memory in memories:
            changed, secrets = take_secrets(memory, self.user_names)
            candidates += secrets
            if changed:
                rewritten.append(memory)
                report.masked += 1
        observations = [Observation.of(m) for m in memories]
        for obs in observations:
            candidates += self._resources(obs)
            if obs.said_by_user(self.user_names):
                candidates += self._core_facts(obs)
        frames = [o for o in observations if o.kind == "frame"]
        candidates += episodes_from_frames(frames)
        candidates += self._routed([o for o in observations if o.kind == "message"])
        if frames and self.capable:   # the model is loaded only when there is a screen for it to read
            candidates += self._read_screens(frames)
        batch = Batch()
        vault = VaultManager(self.store)
        managers = self._managers(vault)
        for candidate in candidates:
            try:
                batch.record(managers[candidate.kind].decide(candidate, batch))
            except Exception as exc:  # one bad candidate must not cost the batch; type only: no content in logs
                log.warning("%s manager skipped a candidate: %s", candidate.kind, type(exc).__name__)
        for obs in observations:
            if obs.said_by_user(self.user_names):
                for decision in vault.claim(obs.source_ref, batch):
                    batch.record(decision)
        report.decisions = batch.decisions
        to_write = {m.id: m for m in rewritten}
        to_write.update(batch.changed)
        return report, list(to_write.values())

    # -- candidates ---------------------------------------------------------------------

    def _resources(self, obs: Observation) -> list[Candidate]:
        out = []
        for finding in find_resources(obs.text, obs.title, obs.app):
            uri = finding.value if finding.entry_type in ("url", "file") else ""
            fields = {"resource_type": finding.entry_type, "title": finding.value}
            if uri:
                fields["uri"] = uri
            out.append(self._candidate("resource", finding.value, obs, fields=fields,
                                       key=uri or f"{obs.app}\x1f{finding.value}", why=f"found a {finding.entry_type}"))
        return out

    def _core_facts(self, obs: Observation) -> list[Candidate]:
        return [self._candidate("core", f.value, obs, fields={"fact_type": f.entry_type, "origin": _origin(obs)},
                                why="said by the user")
                for f in find_core_facts(obs.text, obs.speaker)]

    def _routed(self, messages: list[Observation]) -> list[Candidate]:
        worth = [m for m in messages if len(words(m.text)) >= _MIN_WORDS]
        out: list[Candidate] = []
        for obs, route in zip(worth, self.router.classify([m.text for m in worth])):
            for kind in self._kinds_for(obs, route):
                out.append(self._chat_candidate(kind, obs, route))
        return out

    def _kinds_for(self, obs: Observation, route: Route) -> list[str]:
        kinds = list(route.kinds)
        if len(kinds) > 1 and self.capable and self.llm is not None:
            try:
                kinds = [route_with_llm(self.llm, obs.text)]
            except ModelError:
                pass  # keep both: more managers rather than fewer
        chosen = []
        for kind in kinds:
            if kind == "core" and not obs.said_by_user(self.user_names):
                kind = "semantic"  # about someone else: a fact about them, never the user's core
            elif kind == "core" and find_core_facts(obs.text, obs.speaker):
                continue  # the extractor's facts say it, typed: the whole line would repeat them untyped
            if kind == "vault":
                continue  # a vault item needs a value; the extractors found any there was
            if kind not in chosen:
                chosen.append(kind)
        return chosen

    def _chat_candidate(self, kind: str, obs: Observation, route: Route) -> Candidate:
        text = obs.text if obs.said_by_user(self.user_names) or not obs.speaker else f"{obs.speaker}: {obs.text}"
        why = f"routed by meaning ({route.best} {route.confidence:.2f})"
        if kind == "core":
            return self._candidate("core", obs.text, obs, fields={"fact_type": "about", "origin": _origin(obs)},
                                   why=why)
        if kind == "episodic":
            return self._candidate("episodic", text, obs, why=why, fields={
                "actor": obs.speaker or "user", "event_type": "conversation"})
        if kind == "resource":
            return self._candidate("resource", text, obs, fields={"resource_type": "mention"}, why=why)
        return self._candidate(kind, text, obs, why=why)

    def _read_screens(self, frames: list[Observation]) -> list[Candidate]:
        """Capable models only: facts and procedures from a window's text, as inferred memories."""
        assert self.llm is not None
        out: list[Candidate] = []
        for window in _by_window(frames):
            last = window[-1]
            try:
                answer = self.llm.json(_LLM_FACTS_INSTRUCTION, _LLM_FACTS_SCHEMA, data=[last.text[:4000]],
                                       max_tokens=300, timeout=60.0)
            except ModelError as exc:
                log.info("screen reading skipped: %s", exc)
                continue
            for fact in answer.get("facts", [])[:5]:
                if len(words(str(fact))) >= _MIN_WORDS:
                    out.append(self._candidate("semantic", str(fact), last, trust=Trust.INFERRED,
                                               why="read from the screen by the model"))
            for procedure in answer.get("procedures", [])[:2]:
                steps = [str(s) for s in procedure.get("steps", []) if str(s).strip()]
                if steps:
                    out.append(self._candidate("procedural", str(procedure.get("summary") or steps[0]), last,
                                               trust=Trust.INFERRED, fields={"entry_type": "guide", "steps": steps},
                                               why="read from the screen by the model"))
        return out

    def _candidate(self, kind: str, text: str, obs: Observation, *, fields: dict[str, Any] | None = None,
                   key: str = "", why: str = "", trust: Trust | None = None) -> Candidate:
        return Candidate(kind=kind, text=text, time=obs.time, trust=min(obs.trust, trust or obs.trust),
                         source_kind=obs.source, source_ids=[obs.source_ref], fields=fields or {}, app=obs.app,
                         title=obs.title, key=key, why=why)

    def _managers(self, vault: VaultManager) -> dict[str, MemoryManager]:
        # Fresh per batch: managers cache what they read (the vault, open episodes) for one batch only.
        episodic = EpisodicManager(self.store)
        chat_episodic = EpisodicChatManager(self.store)
        return {"vault": vault, "resource": ResourceManager(self.store),
                "core": CoreManager(self.store), "semantic": SemanticManager(self.store),
                "procedural": ProceduralManager(self.store), "episodic": _EpisodeRouter(episodic, chat_episodic)}


class _EpisodeRouter(MemoryManager):
    """Screen episodes and chat events are both episodic, decided differently."""

    kind = "episodic"

    def __init__(self, screen: EpisodicManager, chat: EpisodicChatManager) -> None:
        super().__init__(screen.store)
        self._screen, self._chat = screen, chat

    def decide(self, candidate: Candidate, batch: Batch) -> Decision:
        manager: MemoryManager = self._screen if candidate.source_kind == "screen" and candidate.ended else self._chat
        return manager.decide(candidate, batch)


def _by_window(frames: list[Observation]) -> list[list[Observation]]:
    windows: dict[tuple[str, str], list[Observation]] = {}
    for frame in frames:
        windows.setdefault((frame.app, frame.title), []).append(frame)
    return list(windows.values())


def _origin(obs: Observation) -> str:
    """Which chat a core fact was said in: a single-valued fact changes only from there (managers/core.py)."""
    return "\x1f".join((obs.source, obs.app, obs.conversation))
