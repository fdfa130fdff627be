"""Request and response models typed from each served pipeline, so /openapi.json documents every pipeline: its
params (types, defaults, bounds, descriptions) in, its final outputs out."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, create_model

from flows.language.params import non_blank_pattern
from flows.language.spec import Param
from flows.plan.planner import Plan


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _json_number(value: Any) -> Any:
    """JSON Schema's numbers: 5.0 is an integer, but true is not 1 nor "5" the number 5, as pydantic's lax mode
    would have them (schemathesis sent {"top_k": true}); strict mode would refuse 5.0."""
    if isinstance(value, bool | str):
        raise ValueError("Input should be a number, not a boolean or a string")
    return value


def request_model(plan: Plan) -> type[BaseModel]:
    fields: dict[str, Any] = {name: _param_field(param) for name, param in plan.pipeline.params.items()}
    doc = plan.pipeline.description or f"The params of {plan.name}."
    return create_model(_model_name(plan.name, "Params"), __base__=_Strict, __doc__=doc, **fields)


def _param_field(param: Param) -> tuple[Any, Any]:
    kind: Any = param.python_type
    if param.enum:
        kind = Literal[tuple(param.enum)]
    elif param.type in ("integer", "number"):
        kind = Annotated[kind, BeforeValidator(_json_number)]
    bounds: dict[str, Any] = {"description": param.description or None}
    if param.minimum is not None:
        bounds["ge"] = int(param.minimum) if param.type == "integer" else param.minimum
    if param.maximum is not None:
        bounds["le"] = int(param.maximum) if param.type == "integer" else param.maximum
    bounds |= {k: getattr(param, k) for k in ("min_length", "max_length") if getattr(param, k) is not None}
    # The schema says what the engine checks: a pattern, and min_length not counting whitespace around the text
    # (the run form's rule, flows/language/params.py). Documented here, checked by the engine, whose message reads
    # better than a regex's ("'  ' is blank"); without it a schema-valid "\f" was refused (schemathesis found).
    patterns = [p for p in (param.pattern, non_blank_pattern(param.min_length)) if p]
    if patterns:
        bounds["json_schema_extra"] = {"allOf": [{"pattern": p} for p in patterns]}
    if param.required:
        return kind, Field(..., **bounds)
    return kind, Field(param.default, **bounds)


def response_model(plan: Plan) -> type[BaseModel]:
    outputs = {label: (kind, Field(...)) for label, kind in final_output_types(plan).items()}
    doc = f"The final outputs of {plan.name}, by `stage.port`."
    model = create_model(_model_name(plan.name, "Outputs"), __doc__=doc, **outputs)  # type: ignore[call-overload]
    return create_model(
        _model_name(plan.name, "Response"),
        pipeline=(str, ...),
        run_id=(str, ...),
        seconds=(float, ...),
        outputs=(model, ...),
    )


def final_output_types(plan: Plan) -> dict[str, Any]:
    """`stage.port` -> its declared type, or Any where pydantic cannot describe it (then the schema says less)."""
    found: dict[str, Any] = {}
    for stage in plan.stages:
        if plan.downstream(stage.id):
            continue
        for port in stage.ports.outputs.values():
            found[f"{stage.id}.{port.name}"] = _describable(port.type)
    return found


def _describable(kind: Any) -> Any:
    try:
        TypeAdapter(kind).json_schema()
    except Exception:  # pydantic raises several kinds for types it cannot describe; the value is still sent
        return Any
    return kind


def _model_name(pipeline: str, suffix: str) -> str:
    return "".join(part.capitalize() for part in pipeline.replace("_", "-").split("-")) + suffix
