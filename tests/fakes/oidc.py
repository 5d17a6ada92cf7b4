"""The real OpenID provider for single sign-on tests: panva's `oidc-provider` (npm, installed by
scripts/setup into build/oidc-provider) run by Node with tests/fakes/oidc_provider.mjs."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_DIR = ROOT / "build" / "oidc-provider"
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
VERSION = "9.13.3"  # the version scripts/setup installs


def skip_unless_available() -> str:
    """The node binary, or skip with the reason (CI installs both, so the tests run there)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the OpenID provider (npm oidc-provider) cannot run")
    if not (MODULE_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        pytest.skip(
            f"oidc-provider not installed in {MODULE_DIR}: run `npm install --prefix "
            f"build/oidc-provider oidc-provider@{VERSION}` (scripts/setup does)"
        )
    return node


@dataclass
class OidcProvider:
    """One provider process: ``issuer`` once started; ``stderr`` collects its log."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    accounts: dict[str, dict[str, Any]]
    workdir: Path
    issuer: str = ""
    proc: subprocess.Popen[str] | None = None
    stderr: list[str] = field(default_factory=list)

    def start(self, timeout: float = 30.0) -> OidcProvider:
        node = skip_unless_available()
        cfg = self.workdir / "oidc-provider.json"
        cfg.write_text(
            json.dumps(
                {
                    "module_dir": str(MODULE_DIR),
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "redirect_uris": self.redirect_uris,
                    "accounts": self.accounts,
                }
            )
        )
        self.proc = subprocess.Popen(
            [node, str(SCRIPT), str(cfg)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not line or not line[0].strip():
            self.stop()
            raise RuntimeError(f"oidc-provider did not start: {''.join(self.stderr)[-2000:]}")
        self.issuer = json.loads(line[0])["issuer"]
        return self

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for text in self.proc.stderr:
            self.stderr.append(text)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
