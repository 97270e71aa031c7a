"""One writer per database: ``claim`` / ``current_owner`` and what a crash leaves behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from executor.service.ownership import DatabaseOwnedError, claim, current_owner, lock_path

pytestmark = pytest.mark.timeout(30)


def test_claim_records_the_owner_and_release_frees_it(tmp_path):
    db = str(tmp_path / "state.db")
    assert current_owner(db) is None
    with claim(db, "http://127.0.0.1:8288") as owned:
        owner = current_owner(db)
        assert owner == owned.record and owner["pid"] == os.getpid() and owner["url"] == "http://127.0.0.1:8288"
        with pytest.raises(DatabaseOwnedError) as taken:
            claim(db, "http://127.0.0.1:9999")
        assert taken.value.url == "http://127.0.0.1:8288"
        assert str(taken.value) == f"database {db} is in use by durable-tui serve (pid {os.getpid()}) at http://127.0.0.1:8288"
    assert not owned.held and current_owner(db) is None
    claim(db, "http://127.0.0.1:9999").release()


def test_an_owner_without_an_http_api(tmp_path):
    db = str(tmp_path / "state.db")
    with claim(db, None):
        with pytest.raises(DatabaseOwnedError, match=rf"in use by another durable-tui \(pid {os.getpid()}\)") as taken:
            claim(db, "http://x")
        assert taken.value.url is None


def test_a_stale_lock_file_is_not_an_owner(tmp_path):
    db = str(tmp_path / "state.db")
    with open(lock_path(db), "w") as f:
        f.write('{"pid": 1, "url": "http://127.0.0.1:1", "started_at": 0}')
    assert current_owner(db) is None
    with claim(db, "http://127.0.0.1:2"):
        assert current_owner(db)["url"] == "http://127.0.0.1:2"


def test_a_killed_owner_leaves_the_database_free(tmp_path):
    db = str(tmp_path / "state.db")
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from executor.service.ownership import claim; "
                               "claim(sys.argv[1], 'http://127.0.0.1:7777'); print('claimed', flush=True); time.sleep(60)",
         db], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "claimed"
        assert current_owner(db)["pid"] == child.pid
        with pytest.raises(DatabaseOwnedError, match="http://127.0.0.1:7777"):
            claim(db, "http://127.0.0.1:8888")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert current_owner(db) is None
    claim(db, "http://127.0.0.1:8888").release()
