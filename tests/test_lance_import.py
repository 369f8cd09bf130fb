"""storage/lance_import.py: Lance and LanceDB imported without building their REST client's validators, and
pydantic left as it was for everyone else."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import pydantic, pydantic.validate_call_decorator as real
from storage import lance_import
lance_import.load()
import lancedb
from lance_namespace_urllib3_client.api.table_api import TableApi
assert pydantic.validate_call is real.validate_call, "validate_call not put back"
assert not hasattr(TableApi.create_table, "raw_function"), "the REST client was built anyway"

@pydantic.validate_call
def twice(n: int) -> int:
    return 2 * n

try:
    twice("not a number")
except pydantic.ValidationError:
    print("validated after loading")
"""


def test_loading_lance_skips_the_rest_clients_validators_and_puts_pydantic_back(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "validated after loading"

