"""Rendering of user-editable templates: Jinja2 sandbox, strict undefined, user overrides.

Lookup order for a template name: ``$RECFLOW_DATA_DIR/templates/<name>`` (what an administrator
changed), then the defaults shipped in ``templates/defaults/``. The sandbox stops a template from
reaching Python internals; ``StrictUndefined`` turns a misspelt variable into an error instead of
an empty string in a customer-facing message. Files ending in ``.html.j2`` are autoescaped.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field

DEFAULTS = Path(__file__).parent / "defaults"


class TemplateRenderError(Exception):
    """A template failed to render; ``name`` says which, the message says why."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"template {name}: {message}")
        self.name = name


class CallContext(BaseModel):
    """What every call template sees (``templates/defaults/connectors/*.j2``).

    Variables: ``recording`` (the catalog Recording as a dict: id, from_number, from_name,
    to_number, to_name, direction, started_at, duration_seconds, …), ``transcript`` (the full
    text, '' when there is none), ``excerpt`` (the first ``excerpt_chars`` of it), ``segments``
    (list of {speaker, start, end, text}), ``recording_url``, ``account`` (account name),
    ``duration`` ("m:ss"), ``matches`` (keyword hits, for trigger messages), ``rule`` (the rule
    name, for trigger messages), ``extra`` (anything a caller adds).
    """

    model_config = ConfigDict(extra="forbid")

    recording: dict[str, Any] = Field(description="The recording's fields")
    transcript: str = Field("", description="Full transcript text")
    excerpt: str = Field("", description="Transcript excerpt")
    segments: list[dict[str, Any]] = Field(default_factory=list, description="Speaker segments")
    recording_url: str = Field("", description="Portal link to the call")
    account: str = Field("recflow", description="Account name")
    duration: str = Field("0:00", description="Call duration as m:ss")
    matches: list[dict[str, Any]] = Field(default_factory=list, description="Keyword hits")
    rule: str = Field("", description="Rule name, for trigger messages")
    extra: dict[str, Any] = Field(default_factory=dict, description="Caller-specific values")


def _fmt_time(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime(fmt) if isinstance(value, datetime) else str(value)


def _duration(seconds: Any) -> str:
    s = round(float(seconds or 0))
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def _truncate_chars(value: str, n: int = 500) -> str:
    value = str(value)
    return value if len(value) <= n else value[: max(0, n - 1)].rstrip() + "…"


def _autoescape(name: str | None) -> bool:
    return bool(name) and (name.endswith(".html.j2") or name.endswith(".html"))  # type: ignore[union-attr]


def _environment(user_dir: Path | None) -> SandboxedEnvironment:
    loaders = [FileSystemLoader(str(user_dir))] if user_dir else []
    loaders.append(FileSystemLoader(str(DEFAULTS)))
    env = SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        autoescape=_autoescape,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["datetime"] = _fmt_time
    env.filters["duration"] = _duration
    env.filters["truncate_chars"] = _truncate_chars
    return env


@lru_cache(maxsize=16)
def _env_for(user_dir: str) -> SandboxedEnvironment:
    return _environment(Path(user_dir) if user_dir else None)


def user_template_dir() -> Path | None:
    from catalog.settings import get_settings

    d = get_settings().resolved_data_dir / "templates"
    return d if d.is_dir() else None


def render(name: str, context: BaseModel | dict[str, Any], *, user_dir: Path | None = None) -> str:
    """Render the template file ``name`` (user override first). Raises TemplateRenderError."""
    d = user_dir if user_dir is not None else user_template_dir()
    env = _env_for(str(d) if d else "")
    ctx = context.model_dump(mode="python") if isinstance(context, BaseModel) else context
    try:
        return env.get_template(name).render(**ctx).strip()
    except TemplateError as e:
        raise TemplateRenderError(name, f"{type(e).__name__}: {e}") from None


def render_string(
    source: str, context: BaseModel | dict[str, Any], *, name: str = "<inline>", html: bool = False
) -> str:
    """Render a template given as text (a webhook body, a rule's message) in the same sandbox."""
    env = _env_for("")
    ctx = context.model_dump(mode="python") if isinstance(context, BaseModel) else context
    try:
        tmpl = env.from_string(source)
        if html:
            tmpl = env.from_string("{% autoescape true %}" + source + "{% endautoescape %}")
        return tmpl.render(**ctx)
    except TemplateError as e:
        raise TemplateRenderError(name, f"{type(e).__name__}: {e}") from None


def check_template(source: str, *, name: str = "<inline>") -> None:
    """Syntax check at config-apply time, so a broken template is refused before it is stored."""
    try:
        _env_for("").parse(source)
    except TemplateError as e:
        raise TemplateRenderError(name, f"{type(e).__name__}: {e}") from None


def safe_relative_path(rendered: str) -> str:
    """Sanitise a rendered file-name template: no absolute paths, no ``..``, no empty parts,
    no control characters. Raises ValueError when nothing safe is left."""
    cleaned = "".join(ch for ch in rendered.strip() if ch >= " " and ch != "\\")
    parts = [p for p in PurePosixPath(cleaned).parts if p not in ("", "/", ".", "..")]
    if not parts:
        raise ValueError(f"file name template rendered to an unusable path: {rendered!r}")
    return "/".join(parts)
