"""One account's world as a JSON document: `GET /_sandbox/state` exports it, `PUT` imports
it, and fixture files preload accounts with it.

    document.py   the document's models, checked by the API's own rules
    records.py    deliveries, journal entries, key events and usage as entries and back
    jobs.py       a job as a document entry and back; synthetic jobs for events on demand
    export.py     a whole account as a document
    world.py      a document imported into an account (checked whole, then applied)
    stored.py     an account as a store keeps it, and back
"""

from .document import StateDocument, StateExport
from .export import export_head, export_state
from .jobs import job_entry, restore_job, synthetic_job
from .records import dumps
from .stored import internal_of, restore_stored
from .world import Imported, import_state, prepare, state_from_fixture

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
