"""Schemathesis against the live API: ``atomfleet api`` (gunicorn) with a real token, every
operation of the served schema, stateless and stateful phases, positive and negative data.

Checks: no server error, documented status codes, documented content types, response bodies and
headers that match the schema, and schema-violating requests refused. (``positive_data_acceptance``
is off: an atom's own JSON Schema and the opaque cursor are checked by the server beyond what
OpenAPI can say, with a documented 400.)

The deployment is the fuzzer's own — a scratch database and Redis DB, no workers — so the runs it
submits (``diagnostics.sleep`` for 3000 s is schema-valid) never reach the suite's workers.

``make test`` runs a bounded number of cases with a fixed seed; ``make fuzz`` runs many more
(``ATOMFLEET_FUZZ_EXAMPLES`` per operation, ``ATOMFLEET_FUZZ_SEED``, random by default there).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.support.live_api import ApiServer, manage, scratch_database

HERE = Path(__file__).parent
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
])
EXAMPLES = int(os.environ.get("ATOMFLEET_FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("ATOMFLEET_FUZZ_SEED", "20261125")
FUZZ_REDIS_DB = 14
# About 20 cases per example and operation, a few milliseconds each, plus the deployment's start.
BUDGET_SECONDS = 300 + EXAMPLES * 9

pytestmark = [pytest.mark.timeout(BUDGET_SECONDS + 120)]


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, str]]:
    broker = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + f"/{FUZZ_REDIS_DB}"
    redis.Redis.from_url(broker).flushdb()
    workdir = tmp_path_factory.mktemp("fuzz-api")
    with scratch_database("fuzz") as url:
        server = ApiServer(workdir, DATABASE_URL=url, ATOMFLEET_BROKER_URL=broker,
                           ATOMFLEET_STORAGE_LOCAL_ROOT=str(workdir / "storage"))
        manage(server.env, "migrate", "--no-input")
        manage(server.env, "create_tenant", "fuzz")
        token = manage(server.env, "create_token", "fuzz", "fuzzer").strip().splitlines()[-1]
        server.start()
        try:
            yield server, token
        finally:
            server.stop()
            redis.Redis.from_url(broker).flushdb()


def test_the_live_api_conforms_to_its_schema(fuzz_api: tuple[ApiServer, str]) -> None:
    server, token = fuzz_api
    argv = [
        str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(HERE / "schemathesis.toml"),
        "run", f"{server.url}/api/v1/schema?format=json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS, "--max-examples", str(EXAMPLES), "--workers", "1",
        "--no-color", "--output-truncate", "true", "--request-timeout", "30",
    ]
    if SEED:
        argv += ["--seed", SEED]
    # Its own folder: schemathesis keeps state (.schemathesis/) where it runs.
    done = subprocess.run(argv, capture_output=True, text=True, timeout=BUDGET_SECONDS, cwd=server.log.parent)
    output = done.stdout + done.stderr
    print(output[-4000:])
    counts = re.search(r"(\d+) generated, (\d+) passed", output)
    assert done.returncode == 0 and counts, output[-12000:]
    generated, passed = map(int, counts.groups())
    assert generated == passed >= 200, output[-3000:]
    assert server.server_errors() == [], server.tail()
