"""llama.cpp compiled for the processor it runs on (installer/llama_wheel.sh): AVX-512 where the machine has it,
which reads a prompt ~1.6x as fast on the test machine; never in the portable build the bundle carries."""
from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "installer" / "llama_wheel.sh"
AVX512 = {"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"}
pytestmark = pytest.mark.skipif(platform.machine() != "x86_64" or not Path("/proc/cpuinfo").exists(),
                                reason="the flags are chosen for x86-64 Linux")


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def flags(*options: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}   # no CMAKE_ARGS of the caller's
    done = subprocess.run(["bash", str(SCRIPT), sys.executable, *options, "--print-flags"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_build_uses_the_avx512_this_processor_has_and_the_bundles_never_does() -> None:
    has_avx512 = AVX512 <= cpu_flags()
    assert ("-DGGML_AVX512=ON" in flags()) == has_avx512
    assert "-DGGML_AVX2=ON" in flags("--portable") and "AVX512" not in flags("--portable")
    assert "AMX" not in flags()   # its kernels crashed on a virtual CPU that reports it


def test_the_installed_llama_cpp_is_the_one_built_for_this_processor() -> None:
    import llama_cpp

    reported = llama_cpp.llama_print_system_info().decode()
    assert ("AVX512 = 1" in reported) == (AVX512 <= cpu_flags()), reported


def test_an_unknown_option_is_refused() -> None:
    done = subprocess.run(["bash", str(SCRIPT), sys.executable, "--fast"], capture_output=True, text=True)
    assert done.returncode == 2 and "unknown option --fast" in done.stderr
