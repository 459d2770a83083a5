"""What OPTIONS answers (DRF's metadata): the view's name, description and media types, with the
`Allow` header DRF sets. Request bodies are described by the OpenAPI schema (/api/schema/), not here:
DRF's per-field `actions` need a view-level serializer, and most views validate with their own input
serializer instead (OPTIONS on such a view was a 500)."""

from rest_framework.metadata import SimpleMetadata


class Metadata(SimpleMetadata):
    def determine_actions(self, request, view):
        return {}
