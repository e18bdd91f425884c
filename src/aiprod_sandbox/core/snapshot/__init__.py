"""One account's world as a JSON document: `GET /_sandbox/state` exports it, `PUT` imports
it, and fixture files preload accounts with it.

    document.py   the document's models, checked by the API's own rules
    records.py    deliveries, journal entries, key events and usage as entries and back
    jobs.py       a job as a document entry and back; synthetic jobs for events on demand
    world.py      export and import of a whole account
"""

from .document import StateDocument, StateExport
from .jobs import job_entry, restore_job, synthetic_job
from .records import dumps
from .world import (
    Imported,
    export_head,
    export_state,
    import_state,
    internal_of,
    prepare,
    restore_stored,
    state_from_fixture,
)

__all__ = [
    "Imported",
    "StateDocument",
    "StateExport",
    "export_head",
    "export_state",
    "import_state",
    "internal_of",
    "prepare",
    "restore_stored",
    "dumps",
    "job_entry",
    "restore_job",
    "state_from_fixture",
    "synthetic_job",
]
