"""Static files storage for production: hashed names, compressed copies, and ES module imports rewritten."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    # The trading page is ES modules importing each other (`import {...} from "./book.js"`); Django
    # rewrites those imports to the hashed names too, so a deploy never mixes old and new modules.
    support_js_module_import_aggregation = True
