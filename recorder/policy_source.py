"""Keeps the recorder's recording policy current: the configuration (``config apply``, the
portal) is written to the catalog by other processes, so a small thread re-reads the policy
and the directory every ``interval`` seconds and swaps the snapshot the core decides with.

Reading happens off the event loop; the swap is one attribute assignment. A failed read keeps
the previous snapshot (and logs), so a database hiccup never changes what is recorded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from catalog.directory import Directory, finish_call_command, pending_call_commands
from catalog.recording_policy import PolicySnapshot
from catalog.repository import Catalog

log = logging.getLogger("recflow.recorder")


def install(core: Any, snapshot: PolicySnapshot) -> None:
    """Point ``core`` (a RecorderCore) at ``snapshot``."""

    def decide(from_number: str, to_number: str, direction: str) -> tuple[str, str]:
        d = snapshot.decide(from_number, to_number, direction)
        return d.decision, d.rule

    core.on_demand_code = snapshot.on_demand_code
    core.max_record_seconds = snapshot.max_seconds
    core.decide = decide


class PolicyRefresher:
    def __init__(
        self,
        catalog: Catalog,
        core: Any,
        *,
        interval: float = 1.0,
        control: Callable[[str, str], str] | None = None,
    ) -> None:
        """``control(call_id, "start"|"stop") -> outcome`` carries out API start/stop
        requests (``dir_call_commands``) on live calls; polled with the policy."""
        self.catalog = catalog
        self.control = control
        self.directory = Directory(catalog)
        self.core = core
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: Any = object()

    def refresh(self) -> bool:
        """Load once; True when the snapshot changed."""
        snap = self.directory.snapshot()
        key = (snap.policy.model_dump() if snap.policy else None, snap.numbers)
        if key == self._last:
            return False
        self._last = key
        install(self.core, snap)
        return True

    def start(self) -> PolicyRefresher:
        self.refresh()  # before the first INVITE
        self._thread = threading.Thread(target=self._run, name="policy", daemon=True)
        self._thread.start()
        return self

    def commands(self) -> int:
        """Carry out pending start/stop requests; returns how many."""
        if self.control is None:
            return 0
        done = 0
        for cid, call_id, action in pending_call_commands(self.catalog):
            outcome = self.control(call_id, action)
            finish_call_command(self.catalog, cid, outcome)
            log.info("recording %s for call %s: %s", action, call_id, outcome)
            done += 1
        return done

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.refresh():
                    log.info("recording policy reloaded")
            except Exception:
                log.exception("reading the recording policy failed; keeping the previous one")
            try:
                self.commands()
            except Exception:
                log.exception("carrying out recording start/stop requests failed")

    def stop(self) -> None:
        self._stop.set()
