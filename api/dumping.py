"""Schema dumps compiled once into plain closures: marshmallow's output, a fraction of its cost.

A search response is ~500 field values (ten hits of twenty fields, five facets of buckets).
marshmallow serializes each through four layers of calls (`Field.serialize`, `get_value`,
`Schema.get_attribute`, `utils.get_value`) before the field's own `_serialize`: profiled over
real `/api/search` requests at 100k passages, 18 % of a request's time went to `Schema.dump`.

`compile_dump(schema)` walks the schema's `dump_fields` once and returns a function that gives
exactly `schema.dump(obj)`: for each field, the same key look-up marshmallow makes
(`utils._get_value_for_key`, dotted attributes step by step), the same `dump_default` for a
missing value, and the field's own `_serialize` unless the value is already what it would return
(a `str` for String, an `int` for Integer, a `float` for Float, a `bool` for Boolean). A schema
with `pre_dump` hooks, a custom `get_attribute` or `many=True` is not compiled: its dump is
marshmallow's. `post_dump` hooks run through marshmallow's own processor call. Any field type
not named here is serialized by its own `serialize`, as marshmallow does. tests/test_dumping.py
compares the two on real responses of every endpoint that uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow import fields
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from marshmallow.utils import _get_value_for_key, missing

Dumper = Callable[[Any], Any]
Getter = Callable[[Any], Any]
Converter = Callable[[Any, Any], Any]

# A value already of this type is what the field's _serialize would return (as_string aside).
_PASS_THROUGH: dict[type[fields.Field], type] = {
    fields.String: str,
    fields.Integer: int,
    fields.Float: float,
    fields.Boolean: bool,
}


_PLAIN: dict[type, bool] = {}


def _plain_object(kind: type) -> bool:
    """Whether no instance of kind can answer `hasattr(obj, "__getitem__")` but by its own
    __dict__: no __getitem__, __getattr__ or custom __getattribute__ in its classes."""
    found = _PLAIN.get(kind)
    if found is None:
        found = _PLAIN[kind] = (
            not hasattr(kind, "__getitem__")
            and not hasattr(kind, "__getattr__")
            and kind.__getattribute__ is object.__getattribute__
        )
    return found


def _getter(attribute: str) -> Getter:
    """marshmallow's `utils.get_value(obj, attribute, missing)` for one fixed attribute."""
    if "." in attribute:
        keys = attribute.split(".")

        def get_path(obj: Any) -> Any:
            for key in keys:
                obj = _get_value_for_key(obj, key, missing)
            return obj

        return get_path

    def get(obj: Any) -> Any:
        kind = type(obj)
        if kind is dict:
            try:
                return obj[attribute]
            except KeyError:
                return getattr(obj, attribute, missing)
        if _plain_object(kind) and "__getitem__" not in getattr(obj, "__dict__", ()):
            # No item access anywhere: _get_value_for_key would fall through to getattr.
            return getattr(obj, attribute, missing)
        return _get_value_for_key(obj, attribute, missing)

    return get


def _converter(field: fields.Field, name: str) -> Converter:
    """value, obj -> what `field._serialize(value, name, obj)` returns."""
    kind = type(field)
    if kind in _PASS_THROUGH and not getattr(field, "as_string", False):
        native = _PASS_THROUGH[kind]
        serialize = field._serialize

        def leaf(value: Any, obj: Any) -> Any:
            if value is None or type(value) is native:
                return value
            return serialize(value, name, obj)

        return leaf
    if kind is fields.List:
        inner = _converter(field.inner, name)  # type: ignore[attr-defined]

        def listed(value: Any, obj: Any) -> Any:
            if value is None:
                return None
            return [inner(each, obj) for each in value]

        return listed
    if kind is fields.Nested:
        schema = field.schema  # type: ignore[attr-defined]
        many = bool(schema.many or field.many)  # type: ignore[attr-defined]
        dump = compile_dump(schema) if not schema.many else None
        if dump is None:
            return lambda value, obj: None if value is None else schema.dump(value, many=many)
        if many:
            return lambda value, obj: None if value is None else [dump(each) for each in value]
        return lambda value, obj: None if value is None else dump(value)
    return lambda value, obj: field._serialize(value, name, obj)


def _field_dumper(schema: ma.Schema, name: str, field: fields.Field) -> Getter:
    """obj -> the field's serialized value, or `missing` to leave its key out."""
    if type(field).get_value is not fields.Field.get_value or not field._CHECK_ATTRIBUTE:
        # Fields that compute their value (Method, Function, Constant): marshmallow's own call.
        return lambda obj: field.serialize(name, obj, accessor=schema.get_attribute)
    get = _getter(field.attribute or name)
    convert = _converter(field, name)
    default = field.dump_default

    def value_of(obj: Any) -> Any:
        value = get(obj)
        if value is missing:
            value = default() if callable(default) else default
            if value is missing:
                return missing
        return convert(value, obj)

    return value_of


def compile_dump(schema: ma.Schema) -> Dumper | None:
    """A function giving `schema.dump(obj)` for one object, or None where marshmallow must."""
    if (
        schema.many
        or schema._hooks[PRE_DUMP]
        or type(schema).get_attribute is not ma.Schema.get_attribute
    ):
        return None
    plan = [
        (field.data_key if field.data_key is not None else name, _field_dumper(schema, name, field))
        for name, field in schema.dump_fields.items()
    ]
    make_dict = schema.dict_class
    post_dump = bool(schema._hooks[POST_DUMP])

    def dump(obj: Any) -> Any:
        out = make_dict()
        for key, value_of in plan:
            value = value_of(obj)
            if value is not missing:
                out[key] = value
        if post_dump:
            return schema._invoke_dump_processors(POST_DUMP, out, many=False, original_data=obj)
        return out

    return dump


class CompiledDumpSchema(ma.Schema):
    """A schema whose `dump` of one object runs its compiled plan (same output, less time)."""

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """marshmallow's dump, through the compiled plan when there is one."""
        if (self.many if many is None else many) or obj is None:
            return super().dump(obj, many=many)
        plan = self.__dict__.get("_compiled_dump", missing)
        if plan is missing:
            plan = self.__dict__["_compiled_dump"] = compile_dump(self)
        if plan is None:
            return super().dump(obj, many=many)
        return plan(obj)
