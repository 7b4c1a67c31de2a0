"""Read side of Briefing Search: the Whoosh schema, query parsing, ranking, facets, highlights."""

import warnings

# Whoosh 2.7.4 trips SyntaxWarning/DeprecationWarning at import on current Pythons: known and harmless.
warnings.filterwarnings("ignore", category=SyntaxWarning, module=r"whoosh(\..*)?")
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"whoosh(\..*)?")
