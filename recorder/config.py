"""Recorder settings: the ``recorder:`` section of the config file and the CLI flags."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Private, loopback and link-local networks: where PBXs and SBCs normally live.
DEFAULT_TRUSTED = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
]

_DTMF = set("0123456789*#ABCD")


class RecorderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trusted_sources: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TRUSTED),
        description="CIDRs allowed to send SIP; everything else gets 403 (default: private nets)",
    )
    max_calls: int = Field(1000, ge=1, description="Concurrent calls; INVITEs beyond get 503")
    rtp_timeout_seconds: float = Field(
        30.0, gt=0, description="A call with no RTP for this long (and not on hold) is ended"
    )
    hold_timeout_seconds: float = Field(
        7200.0, gt=0, description="A call on hold or paused with no RTP this long is ended"
    )
    private_code: str = Field("*1", description="DTMF sequence that marks the call private")
    pause_code: str = Field("*2", description="DTMF sequence that pauses recording")
    resume_code: str = Field("*3", description="DTMF sequence that resumes recording")
    answer_delay_seconds: float = Field(
        0.0, ge=0, le=30, description="Ring this long before answering (180 Ringing first)"
    )
    advertise_address: str = Field(
        "", description="IP put in SDP/Contact; default: the local address facing the sender"
    )
    reorder_window_seconds: float = Field(
        0.5, gt=0, le=5, description="How late a packet may arrive and still be placed"
    )
    flush_interval_seconds: float = Field(
        0.5, gt=0, le=5, description="How often audio is written to disk (the crash-loss bound)"
    )

    @field_validator("trusted_sources")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for item in v:
            ipaddress.ip_network(item, strict=False)  # raises ValueError with a clear message
        return v

    @field_validator("private_code", "pause_code", "resume_code")
    @classmethod
    def _dtmf(cls, v: str) -> str:
        if v and not set(v) <= _DTMF:
            raise ValueError("only DTMF characters 0-9 * # A-D")
        return v
