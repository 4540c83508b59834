"""Checks a raw AWS response against botocore's service model: the reference is AWS's own model, not ours.

Every call made through a `Recorder` client is checked after it returns (botocore's `after-call` event, which
fires before an error is raised):

- a success: every member of the raw body (JSON 1.1 object, or S3's XML) and every modelled header is a member
  of the operation's output shape with the right type (strings, enums, integers, booleans, timestamps, lists,
  maps, nested structures); required members are present; nothing the model does not know is sent;
- an error: its code is one the model or the service's documented error list has for the operation, and its
  HTTP status is the one documented for that code.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import json
from dataclasses import dataclass, field
from xml.etree import ElementTree

# Errors every JSON 1.1 service can answer besides the operation's modelled ones (the protocol's own), with
# their status (https://docs.aws.amazon.com/emr/latest/APIReference/CommonErrors.html).
JSON_COMMON_ERRORS = {
    "UnknownOperationException": 400,
    "ValidationException": 400,
    "SerializationException": 400,
    "ThrottlingException": 400,
    "AccessDeniedException": 400,
    "InternalFailure": 500,
}

# S3's error codes and statuses (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
S3_ERRORS = {
    "BadDigest": 400,
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "EntityTooSmall": 400,
    "InvalidArgument": 400,
    "InvalidBucketName": 400,
    "InvalidDigest": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "InvalidRange": 416,
    "InvalidRequest": 400,
    "InvalidURI": 400,
    "KeyTooLongError": 400,
    "MalformedXML": 400,
    "MethodNotAllowed": 405,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "NotImplemented": 501,
    "PreconditionFailed": 412,
}


@dataclass
class Tally:
    checks: int = 0
    passed: int = 0
    operations: dict[str, set[str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def _iso8601(text: str) -> None:
    datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_json_value(value, shape, where: str, out: list[str]) -> None:
    kind = shape.type_name
    if value is None:
        out.append(f"{where}: null (AWS omits a member it has no value for)")
    elif kind == "structure":
        if not isinstance(value, dict):
            out.append(f"{where}: expected an object for {shape.name}, got {type(value).__name__}")
            return
        for name in value:
            if name not in shape.members:
                out.append(f"{where}.{name}: not a member of {shape.name}")
        for name in shape.required_members:
            if name not in value:
                out.append(f"{where}.{name}: required member of {shape.name} missing")
        for name, member_value in value.items():
            if name in shape.members:
                check_json_value(member_value, shape.members[name], f"{where}.{name}", out)
    elif kind == "list":
        if not isinstance(value, list):
            out.append(f"{where}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            check_json_value(item, shape.member, f"{where}[{i}]", out)
    elif kind == "map":
        if not isinstance(value, dict):
            out.append(f"{where}: expected a map, got {type(value).__name__}")
            return
        for k, v in value.items():
            check_json_value(k, shape.key, f"{where} key", out)
            check_json_value(v, shape.value, f"{where}[{k}]", out)
    elif kind == "string":
        if not isinstance(value, str):
            out.append(f"{where}: expected a string, got {value!r}")
        elif shape.enum and value not in shape.enum:
            out.append(f"{where}: {value!r} is not one of {shape.name}'s values {shape.enum}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(f"{where}: expected an integer, got {value!r}")
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append(f"{where}: expected a number, got {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            out.append(f"{where}: expected a boolean, got {value!r}")
    elif kind == "timestamp":
        # JSON 1.1 sends epoch seconds.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append(f"{where}: expected epoch seconds, got {value!r}")
    elif kind == "blob":
        try:
            base64.b64decode(value, validate=True)
        except Exception:
            out.append(f"{where}: expected base64, got {value!r}")


def _xml_name(name: str, shape) -> str:
    return shape.serialization.get("name", name)


def _local(tag: str) -> str:
    return tag.split("}", 1)[-1]


def check_xml_scalar(text: str, shape, where: str, out: list[str], timestamp_format="iso8601") -> None:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            int(text)
        elif kind in ("double", "float"):
            float(text)
        elif kind == "boolean":
            if text not in ("true", "false"):
                raise ValueError(text)
        elif kind == "timestamp":
            if timestamp_format == "rfc822":
                if email.utils.parsedate_to_datetime(text) is None:
                    raise ValueError(text)
            else:
                _iso8601(text)
        elif kind == "string" and shape.enum and text not in shape.enum:
            out.append(f"{where}: {text!r} is not one of {shape.name}'s values {shape.enum}")
    except (ValueError, TypeError):
        out.append(f"{where}: {text!r} is not a valid {kind}")


def check_xml_element(element, shape, where: str, out: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        by_name = {}
        for name, member in shape.members.items():
            if member.serialization.get("location"):
                continue
            by_name[_xml_name(name, member)] = member
        for child in element:
            tag = _local(child.tag)
            member = by_name.get(tag)
            if member is None:
                out.append(f"{where}.{tag}: not a member of {shape.name}")
                continue
            if member.type_name == "list" and member.serialization.get("flattened"):
                check_xml_element(child, member.member, f"{where}.{tag}", out)
            else:
                check_xml_element(child, member, f"{where}.{tag}", out)
        present = {_local(c.tag) for c in element}
        for name in shape.required_members:
            if _xml_name(name, shape.members[name]) not in present:
                out.append(f"{where}.{name}: required member of {shape.name} missing")
    elif kind == "list":
        item_name = shape.member.serialization.get("name", "member")
        for child in element:
            if _local(child.tag) != item_name:
                out.append(f"{where}.{_local(child.tag)}: a list of {shape.name} holds <{item_name}> elements")
            else:
                check_xml_element(child, shape.member, f"{where}[]", out)
    elif kind == "map":
        return
    else:
        if len(element):
            out.append(f"{where}: expected a {kind} value, got nested elements")
        else:
            check_xml_scalar(element.text or "", shape, where, out)


def check_rest_xml(http, output_shape, out: list[str]) -> None:
    if output_shape is None:
        return
    headers = {k.lower(): v for k, v in http.headers.items()}
    body_members = {}
    for name, member in output_shape.members.items():
        location = member.serialization.get("location")
        if location == "header":
            header = member.serialization.get("name", name).lower()
            if header in headers:
                fmt = member.serialization.get("timestampFormat", "rfc822")
                check_xml_scalar(headers[header], member, f"header {header}", out, timestamp_format=fmt)
        elif location is None:
            body_members[name] = member
    payload = output_shape.serialization.get("payload")
    if payload:
        member = output_shape.members[payload]
        if member.type_name != "structure":
            return  # a streamed body (GetObject) or a blob
        root = ElementTree.fromstring(http.content) if http.content else None
        expected_root = _xml_name(payload, member)
        if root is None:
            out.append(f"body: missing <{expected_root}> payload")
            return
        if _local(root.tag) != expected_root:
            out.append(f"body: root element <{_local(root.tag)}>, the model's payload is <{expected_root}>")
        check_xml_element(root, member, expected_root, out)
    elif body_members:
        if not http.content:
            return
        root = ElementTree.fromstring(http.content)
        check_xml_element(root, output_shape, _local(root.tag), out)
    elif http.content and http.content.strip():
        out.append(f"body: {output_shape.name} has no body members, got {http.content[:80]!r}")


def error_code(service_protocol: str, http) -> str | None:
    if service_protocol == "rest-xml":
        if not http.content:
            return None
        root = ElementTree.fromstring(http.content)
        code = root.find("Code")
        return code.text if code is not None else None
    body = json.loads(http.content or b"{}")
    raw = body.get("__type") or http.headers.get("x-amzn-ErrorType", "")
    return raw.split("#")[-1].split(":")[0] or None


def expected_error_status(service_name: str, operation_model, code: str) -> int | None:
    for shape in operation_model.error_shapes:
        if shape.name == code or shape.metadata.get("error", {}).get("code") == code:
            status = shape.metadata.get("error", {}).get("httpStatusCode")
            if status:
                return status
            if service_name == "s3":
                return S3_ERRORS.get(code)
            return 500 if shape.metadata.get("fault") else 400
    if service_name == "s3":
        return S3_ERRORS.get(code)
    return JSON_COMMON_ERRORS.get(code)


class Recorder:
    """Registers the checks on a botocore client and keeps the tally."""

    def __init__(self, tally: Tally):
        self.tally = tally
        self.expect_error: tuple[str, int] | None = None

    def attach(self, client) -> None:
        client.meta.events.register("after-call", self._after_call)

    def _after_call(self, http_response, parsed, model, **_):
        service = model.service_model
        name = f"{service.service_name}:{model.name}"
        self.tally.operations.setdefault(service.service_name, set()).add(model.name)
        problems: list[str] = []
        status = http_response.status_code
        if status < 300 and status != 304:
            if self.expect_error:
                problems.append(f"expected {self.expect_error[0]} ({self.expect_error[1]}), got {status}")
            if service.protocol == "rest-xml":
                check_rest_xml(http_response, model.output_shape, problems)
            elif model.output_shape is not None:
                body = json.loads(http_response.content or b"{}")
                check_json_value(body, model.output_shape, model.output_shape.name, problems)
        elif status != 304:
            code = error_code(service.protocol, http_response)
            if code is None:
                # A HEAD error has no body: only the status can be checked.
                if self.expect_error and status != self.expect_error[1]:
                    problems.append(f"status {status}, expected {self.expect_error[1]}")
            else:
                documented = expected_error_status(service.service_name, model, code)
                if documented is None:
                    problems.append(f"error code {code} is neither modelled for {model.name} nor a documented {service.service_name} error")
                elif documented != status:
                    problems.append(f"error {code} answered {status}, documented {documented}")
                if self.expect_error and code != self.expect_error[0]:
                    problems.append(f"error {code}, expected {self.expect_error[0]}")
        self.tally.checks += 1
        if problems:
            self.tally.failures.append(f"{name}: " + "; ".join(problems))
            raise AssertionError(f"{name} does not conform: " + "; ".join(problems))
        self.tally.passed += 1
