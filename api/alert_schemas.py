"""Marshmallow schemas of the alerts API (saved searches, hits, deliveries).

A saved search takes every /api/search filter under its /api/search name, derived from the
facet registry as the search arguments are, so a new facet is a new alert filter too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from marshmallow import ValidationError, fields, validate, validates_schema

from api.schemas import MAX_QUERY_CHARS, ApiSchemas, filter_fields
from search.facet_registry import FacetRegistry

MAX_NAME_CHARS = 200
MAX_URL_CHARS = 2000
# Passages per GET /api/alerts/<id>/hits answer, and deliveries per log answer.
MAX_HITS = 1000
MAX_DELIVERIES = 200


def _search_fields(facets: FacetRegistry, defaults: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The saved search's fields (q, each facet filter, doc_id, dates, match) and validators.

    With defaults, absent fields load as /api/search's defaults (creation); without, they
    stay absent (PATCH changes only what it names).
    """

    def default(value: Any) -> dict[str, Any]:
        return {"load_default": value} if defaults else {}

    attrs: dict[str, Any] = {
        "q": fields.String(
            validate=validate.Length(max=MAX_QUERY_CHARS),
            metadata={"description": "Query text, as /api/search's q (empty: filters only)"},
            **default(""),
        ),
    }
    filters, validators = filter_fields(
        facets,
        default,
        lambda f: f"As /api/search's {f.param}: {f.title} (OR)",
        nullable_dates=True,
    )
    attrs.update(filters)
    attrs.update(
        webhook_url=fields.Url(
            allow_none=True,
            schemes={"http", "https"},
            require_tld=False,
            validate=validate.Length(max=MAX_URL_CHARS),
            metadata={"description": "Where new hits are POSTed (signed JSON), or null"},
            **default(None),
        ),
    )
    return attrs, validators


def _with_known_values(attrs: dict[str, Any], validators: dict[str, Any]) -> dict[str, Any]:
    def known_values(self: ma.Schema, data: dict[str, Any], **kwargs: Any) -> None:
        """Every facet value must be one the facet knows (e.g. ISO alpha-2 country codes)."""
        errors = {}
        for param, check in validators.items():
            try:
                check(data.get(param) or [])
            except ValidationError as exc:
                errors[param] = exc.messages
        if errors:
            raise ValidationError(errors)

    return {**attrs, "known_values": validates_schema(known_values)}


class AttemptSchema(ma.Schema):
    """One attempt to deliver a webhook."""

    at = fields.String(required=True, metadata={"description": "ISO 8601 UTC"})
    http_status = fields.Integer(allow_none=True, metadata={"description": "null: no answer"})
    error = fields.String(allow_none=True, metadata={"description": "Why no answer came"})


class DeliverySchema(ma.Schema):
    """A webhook delivery and every attempt at it."""

    id = fields.Integer(required=True)
    url = fields.String(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(("pending", "delivered", "failed"))
    )
    attempts = fields.List(fields.Nested(AttemptSchema), required=True)
    created_at = fields.String(required=True)
    delivered_at = fields.String(allow_none=True)
    next_attempt_at = fields.String(
        allow_none=True, metadata={"description": "When a pending delivery is tried next"}
    )
    body = fields.Dict(required=True, metadata={"description": "The JSON that is POSTed"})


class DeliveryListSchema(ma.Schema):
    """An alert's delivery log, newest first."""

    deliveries = fields.List(fields.Nested(DeliverySchema), required=True)


class HitsArgsSchema(ma.Schema):
    """GET /api/alerts/<id>/hits."""

    since = fields.AwareDateTime(
        load_default=None,
        default_timezone=None,
        metadata={"description": "ISO 8601 time: only hits recorded after it"},
    )
    limit = fields.Integer(
        load_default=200,
        validate=validate.Range(min=1, max=MAX_HITS),
        metadata={"description": "Passages at most, newest first"},
    )


class DeliveryArgsSchema(ma.Schema):
    """GET /api/alerts/<id>/deliveries."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_DELIVERIES))


@dataclass(frozen=True)
class AlertSchemas:
    """The alerts API's schema classes for one facet registry."""

    create: type[ma.Schema]
    update: type[ma.Schema]
    alert: type[ma.Schema]
    created: type[ma.Schema]
    alert_list: type[ma.Schema]
    hits: type[ma.Schema]

    @classmethod
    def build(cls, facets: FacetRegistry, api_schemas: ApiSchemas) -> AlertSchemas:
        """Every facet-dependent alerts schema, derived from the registry."""
        attrs, validators = _search_fields(facets, defaults=True)
        create = ma.Schema.from_dict(
            _with_known_values(
                {
                    "name": fields.String(
                        required=True, validate=validate.Length(min=1, max=MAX_NAME_CHARS)
                    ),
                    **attrs,
                },
                validators,
            ),
            name="AlertCreate",
        )
        patch_attrs, patch_validators = _search_fields(facets, defaults=False)
        update = ma.Schema.from_dict(
            _with_known_values(
                {
                    "name": fields.String(validate=validate.Length(min=1, max=MAX_NAME_CHARS)),
                    **patch_attrs,
                    "seen": fields.Boolean(
                        metadata={"description": "true: every hit so far counts as seen"}
                    ),
                },
                patch_validators,
            ),
            name="AlertUpdate",
        )
        out_search = {
            "q": fields.String(required=True),
            **{
                f.param: fields.List(fields.String(), required=True)
                for f in facets.filters()
                if f.param
            },
            "doc_id": fields.List(fields.String(), required=True),
            "date_from": fields.String(allow_none=True, required=True),
            "date_to": fields.String(allow_none=True, required=True),
            "match": fields.String(required=True),
        }
        alert_fields: dict[str, Any] = {
            "id": fields.Integer(required=True),
            "name": fields.String(required=True),
            **out_search,
            "webhook_url": fields.String(allow_none=True, required=True),
            "created_at": fields.String(required=True),
            "updated_at": fields.String(required=True),
            "estimated_per_day": fields.Float(
                required=True,
                metadata={"description": "Matches a day estimated from the index at creation"},
            ),
            "too_broad": fields.Boolean(
                required=True,
                metadata={"description": "estimated_per_day is over BRIEFING_ALERT_MAX_PER_DAY"},
            ),
            "hits": fields.Integer(required=True, metadata={"description": "Passages matched"}),
            "unseen": fields.Integer(
                required=True, metadata={"description": "Passages matched since marked seen"}
            ),
            "last_hit_at": fields.String(allow_none=True, required=True),
            "links": fields.Dict(
                keys=fields.String(),
                values=fields.String(),
                required=True,
                metadata={"description": "hits, feed, deliveries and search URLs"},
            ),
        }
        alert = ma.Schema.from_dict(alert_fields, name="Alert")
        created = ma.Schema.from_dict(
            {
                **alert_fields,
                "webhook_secret": fields.String(
                    required=True,
                    metadata={
                        "description": "HMAC-SHA256 key of X-Briefing-Signature; shown only here"
                    },
                ),
            },
            name="AlertCreated",
        )
        alert_list = ma.Schema.from_dict(
            {"alerts": fields.List(fields.Nested(alert), required=True)}, name="AlertList"
        )
        document = ma.Schema.from_dict(
            {
                "doc_id": fields.String(required=True),
                "title": fields.String(allow_none=True, required=True),
                "date": fields.String(allow_none=True, required=True),
                "matched_at": fields.String(
                    required=True, metadata={"description": "When its newest hit was recorded"}
                ),
                "passages": fields.List(fields.Nested(api_schemas.hit), required=True),
            },
            name="AlertDocument",
        )
        hits = ma.Schema.from_dict(
            {
                "alert_id": fields.Integer(required=True),
                "passages": fields.Integer(
                    required=True, metadata={"description": "Passages in this answer"}
                ),
                "documents": fields.List(fields.Nested(document), required=True),
            },
            name="AlertHits",
        )
        return cls(create, update, alert, created, alert_list, hits)
