"""The worker's per-run client fix (flows.worker.install_client_fixes) against Prefect's own
result-storage lookup: fails on a Prefect upgrade that renames or stops calling it."""

from __future__ import annotations

import inspect

from prefect import results

from flows.worker import install_client_fixes


def test_prefect_still_looks_up_the_server_default_per_call_through_the_hook():
    src = inspect.getsource(results._get_default_result_storage)
    assert "_read_server_default_result_storage_block_id()" in src


def test_the_lookup_is_made_once_per_process_not_once_per_run(monkeypatch):
    calls = []

    def fake_lookup() -> None:
        calls.append(1)
        return None

    monkeypatch.setattr(results, "_read_server_default_result_storage_block_id", fake_lookup)
    assert install_client_fixes()
    for _ in range(5):
        storage = results._get_default_result_storage()
    assert calls == [1]
    assert storage.source == results._DefaultResultStorageSource.LOCAL_STORAGE_PATH
