"""Request validation errors in one shape: a one-line ``detail`` and RFC 9457 ``invalid-params``.

Connexion's validators put jsonschema's whole report in ``detail`` ("Failed validating
'maximum' in schema: {...}", the schema dumped), which tells a client more about the server
than about its request. These subclasses raise the same 400s with jsonschema's one-line
message and, for each invalid value, ``{"name", "in", "reason"}``: the parameter's name and
place, or a JSON pointer into the body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem, TypeValidationError
from connexion.utils import is_null, is_nullable
from connexion.validators import (
    VALIDATOR_MAP,
    FormDataValidator,
    JSONRequestBodyValidator,
    MultiPartFormDataValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator, ValidationError

INVALID_PARAMS = "invalid-params"


def invalid(name: str, where: str, reason: str, detail: str | None = None) -> BadRequestProblem:
    """A 400 problem naming one invalid value."""
    problem = BadRequestProblem(detail=detail or f"{where} parameter {name!r}: {reason}")
    problem.ext = {INVALID_PARAMS: [{"name": name, "in": where, "reason": reason}]}
    return problem


def _pointer(error: ValidationError) -> str:
    return "/" + "/".join(str(part) for part in error.absolute_path)


def _body_problem(error: ValidationError) -> BadRequestProblem:
    pointer = _pointer(error)
    where = f" at {pointer}" if pointer != "/" else ""
    return invalid(pointer, "body", error.message, detail=f"{error.message}{where}")


_COMPILED: dict[int, tuple[Mapping[str, Any], Draft4Validator]] = {}
"""A memo of each parameter schema's validator, by the schema's identity (the schema is kept,
so an identity is never reused): Connexion builds a parameter validator per request, and
building jsonschema's validator is most of the cost of validating a parameter."""


def _compiled(schema: Mapping[str, Any]) -> Draft4Validator:
    found = _COMPILED.get(id(schema))
    if found is None or found[0] is not schema:
        found = (schema, Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER))
        _COMPILED[id(schema)] = found
    return found[1]


class ChassisParameterValidator(ParameterValidator):
    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: Mapping[str, Any], param_name: Any = None
    ) -> str | None:
        if is_nullable(param) and is_null(value):
            return None
        if value is None:
            return "required but missing" if param.get("required") else None
        schema = param.get("schema", param)
        try:
            _compiled(schema).validate(value)
        except ValidationError as error:
            return str(error.message)
        return None

    def validate_request(self, request: Any) -> None:
        if self.strict_validation:
            extra = self.validate_query_parameter_list(
                request, security_params=self.security_query_params
            )
            if extra:
                raise _extra(extra, "query")
        checks = (
            ("query", self.validate_query_parameter),
            ("path", self.validate_path_parameter),
            ("header", self.validate_header_parameter),
            ("cookie", self.validate_cookie_parameter),
        )
        for where, check in checks:
            for param in self.parameters.get(where, []):
                reason = check(param, request)
                if reason:
                    raise invalid(param["name"], where, reason)


def _extra(names: Iterable[str], where: str) -> BadRequestProblem:
    names = sorted(names)
    problem = BadRequestProblem(
        detail=f"{where} parameter(s) not in the specification: {', '.join(names)}"
    )
    problem.ext = {
        INVALID_PARAMS: [
            {"name": name, "in": where, "reason": "not in the specification"} for name in names
        ]
    }
    return problem


class ChassisJSONRequestBodyValidator(JSONRequestBodyValidator):
    def _validate(self, body: Any) -> dict[str, Any] | None:
        if not self._nullable and body is None:
            raise BadRequestProblem("Request body must not be empty")
        try:
            return self._validator.validate(body)  # type: ignore[no-any-return]
        except ValidationError as error:
            raise _body_problem(error) from None


class _FormBody:
    def _validate(self: Any, body: Any) -> dict[str, Any] | None:
        if not isinstance(body, dict):
            raise BadRequestProblem("Parsed body must be a mapping")
        if self._strict_validation:
            extra = set(body) - set(self._schema.get("properties", {}))
            if extra:
                raise _extra(extra, "formData")
        try:
            self._validator.validate(body)
        except ValidationError as error:
            raise _body_problem(error) from None
        return None


class ChassisFormDataValidator(_FormBody, FormDataValidator):
    pass


class ChassisMultiPartFormDataValidator(_FormBody, MultiPartFormDataValidator):
    pass


def validator_map(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Connexion's validators with chassis's request validators; what the application gives
    (per key, per media type) keeps precedence."""
    body = MediaTypeDict(
        {
            **VALIDATOR_MAP["body"],
            "*/*json": ChassisJSONRequestBodyValidator,
            "application/x-www-form-urlencoded": ChassisFormDataValidator,
            "multipart/form-data": ChassisMultiPartFormDataValidator,
        }
    )
    merged: dict[str, Any] = {
        "parameter": ChassisParameterValidator,
        "body": body,
        "response": VALIDATOR_MAP["response"],
    }
    for key, value in (given or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = MediaTypeDict({**merged[key], **value})
        else:
            merged[key] = value
    return merged


_WRONG_TYPE = re.compile(
    r"Wrong type, expected '(?P<type>[^']+)' for (?P<in>\w+) parameter '(?P<name>[^']+)'"
)


def with_invalid_params(problem: Any, detail: Any) -> dict[str, Any]:
    """The extensions of a 400 problem, with ``invalid-params`` for Connexion's own
    type-coercion errors (raised while parsing, before validation)."""
    ext = dict(problem.ext or {})
    if INVALID_PARAMS not in ext and isinstance(problem, TypeValidationError):
        found = _WRONG_TYPE.search(str(detail))
        if found:
            reason = f"not a valid {found['type']}"
            ext[INVALID_PARAMS] = [{"name": found["name"], "in": found["in"], "reason": reason}]
    return ext
