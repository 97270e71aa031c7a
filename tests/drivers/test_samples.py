"""Every sample function (``sample_functions/``) gives the result the spec describes, under every
driver: the cases and expected outputs are the end-to-end sample tests' (``tests.e2e.test_samples``)."""

from __future__ import annotations

import pytest

from executor import RunStatus, VirtualClock, load_paths
from executor.testing import only_run, run_to_end
from tests.e2e.test_samples import CASES, CASES_START_MS, NEEDS, SAMPLES

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def clock() -> VirtualClock:
    """The spec's dates (its Christmas reminder) are within a sleep's reach from here."""
    return VirtualClock(start_ms=CASES_START_MS)


@pytest.mark.parametrize("fn_id", sorted(CASES))
async def test_every_sample_gives_its_result(make_executor, clock, fn_id):
    loaded = load_paths([SAMPLES])      # fresh for each test: module state (the fake outbox) starts empty
    assert loaded.errors == []
    functions = {fn.id: fn for fn in loaded.functions}
    name, data, expected = CASES[fn_id]
    ex = await make_executor([functions[fn_id], *(functions[need] for need in NEEDS.get(fn_id, []))])
    run = await run_to_end(ex, clock, await only_run(ex, {"name": name, "data": data}))
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.output == expected
