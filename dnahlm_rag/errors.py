"""User-facing errors.

Anything a user can cause (bad sequence, malformed file, wrong recipe key, stale index) raises a
:class:`DnaHlmError` whose message is one line that says what was expected. The CLI prints it as
``error: ...`` and exits with status 2, never with a traceback.
"""


class DnaHlmError(Exception):
    """An error caused by input or state the user controls; its message is shown as is."""


class InvalidSequenceError(DnaHlmError):
    """A sequence that cannot be read as DNA even after the documented normalisation."""


class ManifestError(DnaHlmError):
    """A stage folder whose manifest is missing, corrupt, or does not match what the next stage needs."""


class RecipeError(DnaHlmError):
    """A recipe (TOML) with an unknown key, a wrong type, or a missing file."""
