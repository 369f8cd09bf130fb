"""Lock gives memory back: the models go, and nothing keeps the store (its LanceDB handles) alive.

A real offscreen Qt app, a real store with the real MiniLM embedder, real capture and agent services
over a replayed screen, and the real RapidOCR engine in its process. What is asserted is what was let go, not a
resident size (that is measured by bench/app_memory.py into BENCHMARKS.md).
"""
import gc
import weakref
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

import storage.minilm as minilm
from app.capture.ocr_process import OcrProcess
from app.capture.screen import ReplayScreen
from app.capture.windows import ReplayWindows
from app.desktop.footprint import limit_heap_arenas
from app.desktop.main import DesktopApp
from app.qt import QApplication
from storage.store import MemoryStore

from conftest import FAST_KDF, PASSPHRASE


def _screen() -> Image.Image:
    picture = Image.new("RGB", (640, 120), "white")
    ImageDraw.Draw(picture).text((10, 40), "quarterly figures", fill="black", font=ImageFont.load_default(size=24))
    return picture


@pytest.mark.slow  # capture, the OCR process and the agents started and locked
def test_lock_lets_go_of_the_models_the_store_and_built_pictures(qtbot, home: Path) -> None:
    pytest.importorskip("rapidocr")
    from app.agent_service import start_agent_service
    from app.capture.factory import build_capture
    from app.capture.service import CaptureService

    ocr = OcrProcess()   # what the app reads screens with

    def start_capture(store: MemoryStore) -> CaptureService:
        recorder, worker, policy = build_capture(store, screen=ReplayScreen([_screen()]),
                                                 windows=ReplayWindows(), ocr=ocr)
        return CaptureService(recorder, worker, policy, interval_seconds=3600)

    made, _ = MemoryStore.create(PASSPHRASE, home=home, kdf_seconds=FAST_KDF)
    embedder = made.embedder
    assert isinstance(embedder, minilm.MiniLMEmbedder)
    desktop = DesktopApp(QApplication.instance(), start_capture=start_capture, start_agents=start_agent_service)
    desktop.store, desktop.capture = made, start_capture(made)
    desktop.agents = start_agent_service(made)
    del made
    assert "quarterly" in ocr.read(_screen()).text            # the models are loaded
    embedder.embed(["the weights are loaded"])
    desktop.store.rendered.put("frame", _screen())
    rendered = desktop.store.rendered
    store = weakref.ref(desktop.store)

    desktop.lock()
    gc.collect()
    assert not ocr.running                                       # the OCR process has ended
    assert embedder._model is None and not minilm._models        # embedder weights dropped, process-wide too
    assert rendered.get("frame") is None                         # no built picture of a screen stays
    assert store() is None                                       # nothing holds the store and its table handles
    assert desktop.tray.state == "locked"
    # Unlocking again loads what is needed again.
    assert embedder.embed(["back"]).shape == (1, 384)
    desktop.server.close()


def test_the_heap_arena_limit_is_accepted_here() -> None:
    # glibc (every Linux this runs on) takes the setting; elsewhere it is a no-op that says so.
    import sys

    assert limit_heap_arenas() is sys.platform.startswith("linux")


@pytest.mark.slow  # twelve searches typed into the recall popup, each waited for with its thumbnails
def test_the_popup_keeps_a_bounded_number_of_thumbnails(qtbot, home: Path, monkeypatch) -> None:
    import app.desktop.recall as recall
    from app.capture.encode import encode_frame
    from app.desktop.pixmaps import load_thumbnails
    from storage.memory import Memory, Trust

    from fakes import HashEmbedder

    monkeypatch.setattr(recall, "THUMBS_KEPT", 4)
    store, _ = MemoryStore.create(PASSPHRASE, home=home, embedder=HashEmbedder(), kdf_seconds=FAST_KDF)
    words = [f"topic{i}" for i in range(12)]
    thumb = store.blobs.put(encode_frame(Image.new("RGB", (640, 360), "#4070c0")).thumbnail)
    store.add([Memory("frame", word, {"monitor": 0, "thumb_id": thumb}, app="calc", trust=Trust.OBSERVED)
               for word in words])
    popup = recall.RecallPopup(lambda q, o: store.search(q, o), lambda hit: None,
                               lambda ids: load_thumbnails(store, ids))
    qtbot.addWidget(popup)
    for word in words:
        popup.query.setText(word)
        qtbot.waitUntil(lambda: bool(popup.hits) and popup.hits[0].snippet == word
                        and popup.hits[0].frame_id in popup._thumbs, timeout=10_000)
        assert len(popup._thumbs) <= 4 + recall.SHOWN
    assert len(popup._thumbs) < len(words)             # the older searches' thumbnails went
    assert popup.hits[0].frame_id in popup._thumbs     # the shown results keep theirs
    store.close()
