"""Lead imports from CSV files: recognising the columns of other tools' exports, turning their
values into the desk's, checking a file, writing it, and undoing an import.

One code path for the import page (/leads/import/), the admin import and `manage.py
import_leads`: `recognition` matches the header, `values` converts cells, `reading` streams
the file, `checking` is the dry run, `writing` upserts in batches, `undo` takes an import back,
and `services` holds an import's steps from the page (and re-exports the names above).
"""
