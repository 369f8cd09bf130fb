"""The memory agents running by themselves, and how they are built from the user's settings.

APScheduler owns their time (DESIGN.md): the digester wakes every
`agents.digest_every_seconds` and clears the backlog batch by batch, the
consolidation runs nightly. Stopping waits for the batch in flight, which is
written in one commit either way.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any

from app.idle_pages import let_go_of_library_pages
from storage.config import Config

log = logging.getLogger(__name__)


def build_digester(store: Any, cfg: Config | None = None, llm: Any = None) -> Any:
    """The digester over `store`. The model is only handed in when one was chosen: the packaged
    270M one is not trusted with judgement, so loading it here would cost memory for nothing.

    The store's embedder is wrapped so that the digester's embedding steps aside for searches
    (storage/search_first.py); on every other thread it behaves as before. And numpy's BLAS runs on
    one thread per caller from now on, so the digester and a search each have a core
    (storage/embedding.py `one_blas_thread`)."""
    from agents.meta import MetaMemoryManager
    from agents.pipeline import Digester
    from agents.router import EmbeddingRouter
    from storage.embedding import SearchFirstEmbedder, one_blas_thread

    one_blas_thread()

    if not isinstance(store.embedder, SearchFirstEmbedder):
        store.embedder = SearchFirstEmbedder(store.embedder)

    cfg = cfg or Config.load()
    if llm is None and (cfg.get("model.gguf_path") or cfg.get("model.endpoint")):
        from agents.llm_choice import configured_llm

        llm = configured_llm(cfg)
    meta = MetaMemoryManager(store, EmbeddingRouter(store.embedder), llm, user_names=cfg.get("agents.user_names"))
    return Digester(store, meta)


BACKGROUND_NICENESS = 10
# With nothing written by the app since the agents last found nothing to do, they look again only this often
# (for what another process, the command line, wrote).
LOOK_ANYWAY_SECONDS = 600


def in_the_background() -> None:
    """Lower the calling thread's CPU priority (Linux: niceness is per thread): the agents' work
    then takes what the popup's search, capture and the rest of the desktop leave over, even in the
    middle of an embedding that `SearchFirst` cannot interrupt. The scheduler's threads run nothing
    but the agents, so once is enough (an unprivileged process cannot raise it back anyway)."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           max(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), BACKGROUND_NICENESS))
        except OSError:
            log.warning("could not lower the memory agents' priority")


class AgentService:
    def __init__(self, digester: Any, consolidator: Any = None, every_seconds: float = 30.0,
                 consolidate_at: str = "03:30", upkeep_every_seconds: float = 3600.0) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        from app.capture.service import quiet_scheduler_logs

        quiet_scheduler_logs()  # with screen capture off, nothing else keeps a skipped digest run out of the log
        self.digester = digester
        self.consolidator = consolidator
        self.last_error = ""
        self._idle: tuple[int, int] | None = None  # (the store's writes, the period) when a run found nothing
        self._stopping = threading.Event()
        self._scheduler = BackgroundScheduler(job_defaults={"max_instances": 1, "coalesce": True})
        self._scheduler.add_job(self._digest, "interval", seconds=every_seconds, id="digest")
        if consolidator is not None:
            hour, minute = (int(part) for part in consolidate_at.split(":"))
            self._scheduler.add_job(self._consolidate, "cron", hour=hour, minute=minute, id="consolidate")
        # The store's upkeep erases what was forgotten from disk (storage/upkeep.py). Capture's hourly job
        # runs it too, but a person who turned screen capture off has only this one; when both run, the
        # second finds the work done or skips it (one upkeep at a time).
        self._scheduler.add_job(self._upkeep, "interval", seconds=upkeep_every_seconds, id="upkeep")

    def start(self) -> None:
        self._stopping.clear()
        self._scheduler.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def _digest(self) -> None:
        in_the_background()
        store = self.digester.store
        writes = getattr(store, "writes", None)
        if writes is not None and self._idle == (writes, int(time.monotonic() // LOOK_ANYWAY_SECONDS)):
            # Nothing written in this process since a run found nothing to do: looking again would only keep
            # LanceDB's pages in memory (app/idle_pages.py). Rows another process wrote (the command line) are
            # looked for at the next LOOK_ANYWAY_SECONDS boundary.
            return
        try:
            self.digester.run(should_stop=self._stopping.is_set)
            unchanged = writes is not None and store.writes == writes
            self._idle = (writes, int(time.monotonic() // LOOK_ANYWAY_SECONDS)) if unchanged else None
            if unchanged:
                let_go_of_library_pages()   # what looking touched, until there is work again
            self.last_error = ""
        except Exception as exc:  # type only: an exception message may quote captured text
            self.last_error = f"memory agents: {type(exc).__name__}"
            log.error("digest failed: %s", type(exc).__name__)

    def _upkeep(self) -> None:
        from storage.upkeep import run_upkeep

        in_the_background()
        try:
            run_upkeep(self.digester.store)
        except Exception as exc:  # the next hour tries again
            log.error("store upkeep failed: %s", type(exc).__name__)

    def _consolidate(self) -> None:
        in_the_background()
        try:
            report = self.consolidator.run(should_stop=self._stopping.is_set)
            log.info("consolidation: %s", report)
        except Exception as exc:
            log.error("consolidation failed: %s", type(exc).__name__)


def start_agent_service(store: Any) -> AgentService:
    from agents.consolidate import Consolidator

    cfg = Config.load()
    service = AgentService(build_digester(store, cfg), Consolidator(store), cfg.get("agents.digest_every_seconds"),
                           cfg.get("agents.consolidate_at"))
    service.start()
    return service
