"""Cron expressions as Prefect runs them.

Schedules (archive destinations, the monthly SMS CSV) are run by Prefect's scheduler, whose
validator (``prefect._internal.schemas.validators.validate_cron_string``) accepts what croniter
accepts *except* random and hashed fields (``R``, ``H``). Validating with croniter alone let
``"R R * * *"`` through `config apply`; the worker then could not register the deployment.
This module applies Prefect's rule without importing Prefect (the catalog is a core);
``tests/flows/test_schedules.py`` checks it agrees with Prefect's own validator, so an upgrade
that changes the rule fails a test.
"""

from __future__ import annotations


def cron_error(expr: str) -> str | None:
    """Why Prefect would refuse ``expr``, or None when it is a schedule Prefect runs."""
    from croniter import croniter

    if not isinstance(expr, str) or not expr.strip():
        return "empty cron expression"
    if not croniter.is_valid(expr):
        return f"not a valid cron expression: {expr!r}"
    if any(field.casefold() in ("r", "h") for field in expr.split()):
        return f"random and hashed cron fields (R, H) are not supported by Prefect: {expr!r}"
    return None


def validate_cron(expr: str) -> str:
    """Pydantic-style validator: returns ``expr`` or raises ValueError with the reason."""
    error = cron_error(expr)
    if error:
        raise ValueError(error)
    return expr
