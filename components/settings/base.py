"""The base of every settings object, in a module of its own so that settings sections kept in
their own modules (`removal_settings`) share it with `settings` without importing it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class StrictSettings(BaseModel):
    """Base of every settings object: camelCase keys, unknown keys refused (see
    `settings_problems.describe`)."""

    model_config = ConfigDict(
        alias_generator=to_camel, frozen=True, populate_by_name=False, extra="forbid"
    )
