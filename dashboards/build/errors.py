"""Errors of the Grafana package.

StreamsError
└── GrafanaError                 anything below went wrong
    ├── GrafanaUnreachableError  no answer: wrong URL, Grafana down, timeout
    ├── GrafanaAuthError         401 (bad token) or 403 (token lacks a permission)
    ├── GrafanaRequestError      Grafana refused a request for another reason
    └── MacroError               a query uses a macro or variable nobody defined
"""

from __future__ import annotations

from streams.errors import StreamsError


class GrafanaError(StreamsError):
    """Publishing to Grafana or rendering a board failed."""


class GrafanaUnreachableError(GrafanaError):
    """Grafana did not answer at the given URL."""


class GrafanaAuthError(GrafanaError):
    """Grafana refused the token (401) or the token lacks a permission (403)."""


class GrafanaRequestError(GrafanaError):
    """Grafana answered a request with an error other than 401/403."""


class MacroError(GrafanaError):
    """A query uses a Grafana macro or template variable the expander does not know."""
