"""Write side of Briefing Search: read documents, extract metadata, cut passages, tag, sync Whoosh."""

import search  # noqa: F401  (installs the Whoosh warning filters before whoosh is imported)
