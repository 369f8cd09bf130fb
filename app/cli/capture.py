"""`engram capture`, `engram frames`, `engram frame`: screen capture from the command line."""
from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime, timedelta
from typing import Any

from app.capture.factory import build_capture
from app.cli.input import CliError, config
from app.cli.memories import _local, _open_store


def capture(args: argparse.Namespace) -> int:
    from app.capture import pause

    if args.resume:
        pause.resume()
        print("Capture resumed.")
        return 0
    if args.pause:
        minutes = None if args.pause == "forever" else parse_duration(args.pause) / 60
        pause.pause(minutes)
        print("Capture paused " + ("until resumed." if minutes is None else f"for {args.pause}."))
        return 0
    store = _open_store()
    recorder, worker, policy = build_capture(store)
    try:
        if args.once:
            outcome = recorder.tick()
            read = worker.drain()
            print(f"{outcome}; {read} frame(s) read; frames stored: {store.count('frame')}")
            if recorder.stopped_reason:
                print(f"Capture is off: {recorder.stopped_reason}", file=sys.stderr)
            return 0
        return _capture_for(parse_duration(args.duration or "10m"), recorder, worker, policy)
    finally:
        recorder.close()


def _capture_for(seconds: float, recorder: Any, worker: Any, policy: Any) -> int:
    from app.capture.service import CaptureService

    service = CaptureService(recorder, worker, policy, interval_seconds=config().get("capture.interval_seconds"))
    service.start()
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            _show_counts(recorder, worker, live=True)
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
    _show_counts(recorder, worker, live=False)
    return 0


def _show_counts(recorder: Any, worker: Any, *, live: bool) -> None:
    c = recorder.counts
    line = (f"kept {c['kept']}  skipped {c['duplicate']}  excluded {c['excluded']}  "
            f"paused/idle/locked {c['paused'] + c['idle'] + c['locked']}  read {worker.read}")
    if recorder.stopped_reason:
        line += f"  [{recorder.stopped_reason}]"
    print(("\r" + line) if live and sys.stdout.isatty() else line, end="" if live and sys.stdout.isatty() else "\n",
          flush=True)


def frames(args: argparse.Namespace) -> int:
    day = datetime.fromisoformat(args.date).astimezone() if args.date else datetime.now().astimezone()
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    listed = _open_store().list_range(start, start + timedelta(days=1), kinds=["frame"], limit=100_000)
    if not listed:
        print(f"No frames on {start:%Y-%m-%d}.")
    for frame in listed:
        text = "(text not read yet)" if frame.text_pending else " ".join(frame.text.split())[:60] or "(no text)"
        print(f"{frame.id}  {_local(frame.time)}  {frame.app or '?':<14} {text}")
    return 0


def frame(args: argparse.Namespace) -> int:
    from storage.blobs import TamperedBlob
    from storage.frame_pictures import PictureMissing, decode, picture

    store = _open_store()
    found = store.get(args.id)
    if found is None or found.kind != "frame":
        raise CliError(f"no frame with id {args.id}")
    try:
        if args.thumbnail:
            if not found.fields.get("thumb_id"):
                raise PictureMissing("this frame's image was dropped by retention (its text is kept)")
            image = decode(store.blobs.get(found.fields["thumb_id"]))
        else:
            image = picture(store, found)
    except (PictureMissing, TamperedBlob) as exc:
        raise CliError(str(exc)) from None
    except KeyError:  # the frame names a thumbnail file that is not there (the full picture says so in picture())
        raise CliError("this screen's thumbnail file is missing (its text is kept)") from None
    image.save(args.export)
    print(f"Wrote {args.export} ({_local(found.time)}, {found.app or 'unknown app'}).")
    return 0


def parse_duration(text: str) -> float:
    """'90s', '10m', '1h', '1h30m' -> seconds."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not parts or not any(parts.groups()):
        raise CliError(f"cannot read {text!r} as a duration (try 90s, 10m, 1h, 1h30m)")
    h, m, s = (int(g or 0) for g in parts.groups())
    return float(h * 3600 + m * 60 + s)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("capture", help="capture the screen (headless); pause or resume capture")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--once", action="store_true", help="one grab, read its text, and exit")
    group.add_argument("--for", dest="duration", metavar="DURATION", help="capture for e.g. 10m or 1h (default 10m)")
    group.add_argument("--pause", metavar="DURATION", help="pause capture for 15m, 1h, ... or 'forever'")
    group.add_argument("--resume", action="store_true", help="resume a paused capture")
    p.set_defaults(func=capture)

    p = sub.add_parser("frames", help="list the captured frames of a day")
    p.add_argument("--date", help="YYYY-MM-DD (default today)")
    p.set_defaults(func=frames)

    p = sub.add_parser("frame", help="export one captured frame as an image")
    p.add_argument("id")
    p.add_argument("--export", required=True, metavar="FILE", help="where to write it (png, jpg, webp)")
    p.add_argument("--thumbnail", action="store_true", help="export the thumbnail instead")
    p.set_defaults(func=frame)
