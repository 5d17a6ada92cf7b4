"""The worker's per-run client fix (flows.worker.install_client_fixes) against Prefect's own
result-storage lookup: fails on a Prefect upgrade that renames or stops calling it."""

from __future__ import annotations

import inspect
import json

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


def test_a_claimed_items_run_is_born_named_and_not_renamed(prefect_server):
    """flows.dispatch.RunFactory: the worker creates each item's run named ``<kind>-<id>`` in
    one request (the flow id looked up once per process, not upserted per run), and the engine
    runs it without renaming it. Fails on a Prefect upgrade that changes either."""
    import asyncio

    import httpx
    from prefect import flow
    from prefect.context import AsyncClientContext
    from prefect.flow_engine import run_flow_async
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.dispatch import RunFactory, WorkKind

    @flow(name="named-run-check", flow_run_name="check-{item_id}", persist_result=False)
    async def check(item_id: str, attempt: int | None = None) -> str:
        return item_id

    kind = WorkKind("check", "named-run-check", "item_id", "-", "-")
    paths: list[str] = []

    async def main() -> list:
        factory = RunFactory()
        # one long-lived client context, as the worker runs its flows (the engine reuses it)
        async with AsyncClientContext.get_or_create() as ctx:
            client = ctx.client

            async def record(req: httpx.Request) -> None:
                body = req.content.decode(errors="replace") if req.method == "PATCH" else ""
                paths.append(f"{req.method} {req.url.path} {body}".strip())

            client._client.event_hooks["request"].append(record)
            runs = []
            for item in ("a1", "b2"):
                if item == "b2":  # a1 shows what the engine sends without the skip
                    factory.skip_redundant_policy_sync(client)
                params = {"item_id": item, "attempt": 0}
                run = await factory.create(client, kind, check, params, item)
                assert run.name == f"check-{item}"
                result = await run_flow_async(
                    factory.unnamed(check), flow_run=run, parameters=params
                )
                assert result == item
                runs.append(await client.read_flow_run(run.id))
            return runs

    with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
        runs = asyncio.run(main())
    assert [(r.name, r.state.type.value) for r in runs] == [
        ("check-a1", "COMPLETED"),
        ("check-b2", "COMPLETED"),
    ]
    assert sum(p == "POST /api/flows/" for p in paths) == 1, paths  # once per process
    assert sum(p == "POST /api/flow_runs/" for p in paths) == 2, paths
    # the engine re-sends a pre-created run's version and retry policy (one PATCH, never a
    # name); RunFactory.skip_redundant_policy_sync drops exactly that PATCH for the runs it
    # created (b2): a Prefect that sends more or other fields gets its PATCH through, and fails
    # this test
    patches = [p for p in paths if p.startswith("PATCH")]
    assert len(patches) == 1 and str(runs[0].id) in patches[0], patches
    body = json.loads(patches[0].split(" ", 2)[2])
    assert set(body) == {"flow_version", "empirical_policy"}, body
    # the engine still renames when the template is set: switching it off is what saves a write
    src = inspect.getsource(__import__("prefect.flow_engine").flow_engine.AsyncFlowRunEngine)
    assert "if not self._flow_run_name_set and self.flow.flow_run_name:" in src
