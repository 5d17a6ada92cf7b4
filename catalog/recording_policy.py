"""Who is recorded: KAZOO's account / user / device recording settings, as a pure evaluator.

No I/O. The recorder asks :meth:`PolicySnapshot.decide` once per INVITE; the snapshot is built
from the catalog (the ``recording_policy`` document and the directory) by the recorder's shell
and swapped whenever the configuration changes.

Precedence (KAZOO Call Recording FAQ, quoted in docs/recording-policy.md):

* the *endpoint* setting of a call party is its device's explicit setting; a device setting
  left undefined falls back to the device owner's (user) setting; a device with no user has
  no endpoint setting of its own (it inherits the account's);
* the *account* setting is considered independently of the endpoint's: a call is recorded when
  either says ``on`` -- so a user who switched recording off, in an account that records, is
  still recorded (rule ``account.…``), and a device switched on in an account that does not
  record is recorded (rule ``device.…``);
* otherwise ``on_demand`` (from either) leaves the call unrecorded until the feature code or
  the API starts it; otherwise it is not recorded.

Direction is relative to the account (the directory): a call from a directory number to an
outside number is ``outbound.external``; from outside to a directory number
``inbound.external``; between two directory numbers ``internal`` on both legs (the caller's
leg outbound, the callee's leg inbound). Rules are named ``<level>.<direction>.<scope>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Mode = Literal["on", "off", "on_demand"]
DECISIONS = ("recorded", "not_recorded", "on_demand")
_DTMF = set("0123456789*#ABCD")


def norm_number(number: str) -> str:
    """Compare numbers by their dialable characters: ``+44 7700-900123`` = ``447700900123``;
    ``sip:1001@pbx`` = ``1001``."""
    n = number.strip()
    if n.lower().startswith(("sip:", "sips:", "tel:")):
        n = n.split(":", 1)[1]
    n = n.split("@", 1)[0].split(";", 1)[0]
    return re.sub(r"[^0-9*#A-Za-z]", "", n).lower()


def _mode(v: Any) -> Any:
    # YAML 1.1 reads bare on/off as booleans
    if v is True:
        return "on"
    if v is False:
        return "off"
    if isinstance(v, str):
        v = v.strip().lower().replace("-", "_")
        if v in ("ondemand", "on_demand"):
            return "on_demand"
    return v


class ScopeSettings(BaseModel):
    """internal / external for one direction; ``None`` (absent) = undefined, inherit."""

    model_config = ConfigDict(extra="forbid")

    internal: Mode | None = None
    external: Mode | None = None

    @field_validator("internal", "external", mode="before")
    @classmethod
    def _modes(cls, v: Any) -> Any:
        return _mode(v)


class LevelSettings(BaseModel):
    """One level's settings (account, a user or a device): inbound/outbound × internal/external."""

    model_config = ConfigDict(extra="forbid")

    inbound: ScopeSettings = Field(default_factory=ScopeSettings)
    outbound: ScopeSettings = Field(default_factory=ScopeSettings)

    def get(self, direction: str, scope: str) -> Mode | None:
        value: Mode | None = getattr(getattr(self, direction), scope)
        return value


class RecordingPolicy(BaseModel):
    """The ``recording_policy:`` section. Absent entirely = record everything (as before)."""

    model_config = ConfigDict(extra="forbid")

    account: LevelSettings = Field(default_factory=LevelSettings)
    users: dict[str, LevelSettings] = Field(
        default_factory=dict, description="By user e-mail (overrides the account for the user)"
    )
    devices: dict[str, LevelSettings] = Field(
        default_factory=dict, description="By device number (overrides its user)"
    )
    on_demand_code: str = Field("*95", description="DTMF feature code that starts recording")
    max_seconds: float = Field(
        0, ge=0, description="Keep at most this many seconds of each call (0 = no limit)"
    )
    default: Mode = Field(
        "off", description="What an undefined account setting means once a policy exists"
    )

    @field_validator("default", mode="before")
    @classmethod
    def _default(cls, v: Any) -> Any:
        return _mode(v)

    @field_validator("users")
    @classmethod
    def _emails(cls, v: dict[str, LevelSettings]) -> dict[str, LevelSettings]:
        out = {}
        for email, s in v.items():
            if "@" not in email:
                raise ValueError(f"users keys are e-mail addresses, not {email!r}")
            out[email.strip().lower()] = s
        return out

    @field_validator("devices")
    @classmethod
    def _numbers(cls, v: dict[str, LevelSettings]) -> dict[str, LevelSettings]:
        for number in v:
            if not norm_number(str(number)):
                raise ValueError(f"device {number!r} has no number")
        return {str(k): s for k, s in v.items()}

    @field_validator("on_demand_code")
    @classmethod
    def _code(cls, v: str) -> str:
        if v and not set(v) <= _DTMF:
            raise ValueError("only DTMF characters 0-9 * # A-D")
        return v


@dataclass(frozen=True)
class Endpoint:
    """A directory party of a call: the device (its number as configured) and its owner."""

    number: str
    device: str | None = None  # key of RecordingPolicy.devices that matched, if any
    user: str | None = None  # owner's e-mail


@dataclass(frozen=True)
class Decision:
    decision: str  # recorded | not_recorded | on_demand
    rule: str  # <level>.<direction>.<scope>, or "default" when no policy is configured

    def as_dict(self) -> dict[str, str]:
        return {"decision": self.decision, "rule": self.rule}


RECORD_ALL = Decision("recorded", "default")


@dataclass
class PolicySnapshot:
    """A policy plus the directory's numbers: everything one decision needs, immutable."""

    policy: RecordingPolicy | None
    # normalised number -> (device number as configured, owner e-mail or None)
    numbers: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        policy: RecordingPolicy | None,
        devices: list[tuple[str, str | None]],
    ) -> PolicySnapshot:
        """``devices``: (number, owner e-mail) from the directory. Numbers named only in the
        policy's ``devices:`` are devices without a user."""
        numbers: dict[str, tuple[str, str | None]] = {}
        for number, owner in devices:
            key = norm_number(number)
            if key:
                numbers[key] = (number, owner.lower() if owner else None)
        if policy is not None:
            for number in policy.devices:
                numbers.setdefault(norm_number(number), (number, None))
        return cls(policy, numbers)

    def endpoint(self, number: str) -> Endpoint | None:
        hit = self.numbers.get(norm_number(number)) if number else None
        if hit is None:
            return None
        dev_number, owner = hit
        device = None
        if self.policy is not None:
            key = norm_number(dev_number)
            device = next((d for d in self.policy.devices if norm_number(d) == key), None)
        return Endpoint(dev_number, device, owner)

    def decide(self, from_number: str, to_number: str, hint: str = "unknown") -> Decision:
        """The decision for a call. ``hint`` is the signalled direction (SIPREC metadata or the
        extension heuristic), used only when neither party is in the directory."""
        if self.policy is None:
            return RECORD_ALL
        return evaluate(self.policy, self.endpoint(from_number), self.endpoint(to_number), hint)

    @property
    def on_demand_code(self) -> str:
        return self.policy.on_demand_code if self.policy else ""

    @property
    def max_seconds(self) -> float:
        return self.policy.max_seconds if self.policy else 0.0


_RANK = {"recorded": 2, "on_demand": 1, "not_recorded": 0}


def legs(
    caller: Endpoint | None, callee: Endpoint | None, hint: str
) -> list[tuple[Endpoint | None, str, str]]:
    """(endpoint, direction, scope) for each leg the account sees."""
    if caller and callee:
        return [(caller, "outbound", "internal"), (callee, "inbound", "internal")]
    if caller:
        return [(caller, "outbound", "external")]
    if callee:
        return [(callee, "inbound", "external")]
    if hint == "internal":
        return [(None, "outbound", "internal"), (None, "inbound", "internal")]
    return [(None, "outbound" if hint == "outbound" else "inbound", "external")]


def endpoint_setting(
    policy: RecordingPolicy, ep: Endpoint | None, direction: str, scope: str
) -> tuple[Mode, str] | None:
    """The endpoint's own setting: device explicit, else its user's, else none (account)."""
    if ep is None:
        return None
    where = f"{direction}.{scope}"
    if ep.device is not None:
        value = policy.devices[ep.device].get(direction, scope)
        if value is not None:
            return value, f"device.{where}"
    if ep.user is not None and ep.user in policy.users:
        value = policy.users[ep.user].get(direction, scope)
        if value is not None:
            return value, f"user.{where}"
    return None


def decide_leg(
    policy: RecordingPolicy, ep: Endpoint | None, direction: str, scope: str
) -> Decision:
    where = f"{direction}.{scope}"
    account: tuple[Mode, str] = (
        policy.account.get(direction, scope) or policy.default,
        f"account.{where}",
    )
    endpoint = endpoint_setting(policy, ep, direction, scope)
    candidates = [c for c in (endpoint, account) if c is not None]
    for want, decision in (("on", "recorded"), ("on_demand", "on_demand")):
        for value, rule in candidates:
            if value == want:
                return Decision(decision, rule)
    # not recorded: name the most specific setting that said so
    return Decision("not_recorded", candidates[0][1])


def evaluate(
    policy: RecordingPolicy, caller: Endpoint | None, callee: Endpoint | None, hint: str
) -> Decision:
    best: Decision | None = None
    for ep, direction, scope in legs(caller, callee, hint):
        d = decide_leg(policy, ep, direction, scope)
        if best is None or _RANK[d.decision] > _RANK[best.decision]:
            best = d
    assert best is not None
    return best
