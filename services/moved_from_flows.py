"""The pieces of the archive engine and of SMS formatting that the hosted SFTP service reuses.

They live in ``flows/archive_core.py`` and ``flows/sms_format.py`` today; issue 19 moves both
into ``services/``. This module is the one place that names their old home: when the move lands,
these imports become ``services.<new module>`` and nothing else in ``services/sftp_*`` changes.
"""

from __future__ import annotations

from flows.archive_core import (  # noqa: F401  (re-exported)
    MP3_BITRATE_KBPS,
    AudioFormat,
    convert_audio,
    layout_context,
    passthrough,
    render_key,
    sanitise_field,
)
from flows.sms_format import (  # noqa: F401  (re-exported)
    csv_file_name,
    csv_key,
    month_bounds,
    write_csv,
)
