#!/usr/bin/env python3
"""Checks docs/openapi.yaml against the route tables the binaries serve.

Runs `flyt-controller --routes` and `flytd --routes`, loads the OpenAPI document
and fails (exit 1, one line per problem) when:

- a route of either table is missing from the document, or the document has a
  path and method that no binary serves;
- a route's authentication disagrees with the operation's effective security
  (public routes need `security: []`, the others the global bearer scheme);
- an operation's summary, `x-flyt-write` flag or tag (`controller` for /api/v1,
  `agent` for /v1) disagrees with the route table;
- a path parameter is not declared (or declared and not in the path), a `$ref`
  does not resolve, a mapping has a duplicate key, or an operation has no 2xx
  response.

Binaries: $FLYT_CONTROLLER_BIN and $FLYT_FLYTD (meson sets them), else
build/src/controller/flyt-controller and build/src/flytd of this checkout.
Document: docs/openapi.yaml of this checkout, or the path given as argument.
Needs Python 3 and PyYAML (Debian: python3-yaml).
"""

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PREFIX_TAGS = (("/api/v1/", "controller"), ("/v1/", "agent"))


def fail(msg):
    print(f"docs-openapi: {msg}", file=sys.stderr)
    sys.exit(1)


try:
    import yaml
except ImportError:
    fail("PyYAML is missing: install python3-yaml (scripts/setup.sh installs it)")


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML keeps the last silently)."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_routes(binary, what):
    if not binary or not os.access(binary, os.X_OK):
        fail(f"{what} binary {binary!r} is not an executable (build first: ninja -C build)")
    try:
        out = subprocess.run([binary, "--routes"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        fail(f"cannot run {binary} --routes: {e}")
    if out.returncode != 0:
        fail(f"{binary} --routes exited with {out.returncode}: {out.stderr.strip()}")
    try:
        routes = json.loads(out.stdout)
    except ValueError as e:
        fail(f"{binary} --routes printed no JSON: {e}")
    if not isinstance(routes, list) or not routes:
        fail(f"{binary} --routes printed no routes")
    for r in routes:
        if not isinstance(r, dict) or not all(k in r for k in ("method", "path", "auth", "write", "summary")):
            fail(f"{binary} --routes: malformed entry {r!r}")
    return routes


def openapi_path(route_path):
    """/v1/workloads/:name -> /v1/workloads/{name}"""
    return re.sub(r":([A-Za-z_][A-Za-z0-9_]*)", r"{\1}", route_path)


def resolve(doc, ref):
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise KeyError(ref)
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


def deref(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(doc, node["$ref"])
    return node


def all_refs(node, where="#"):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield where, v
            else:
                yield from all_refs(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from all_refs(v, f"{where}/{i}")


def requires_auth(security):
    """A security requirement list demands credentials unless it is empty or
    offers the empty alternative {}."""
    return bool(security) and all(req for req in security)


def check(doc, served):
    problems = []

    if str(doc.get("openapi")) != "3.0.3":
        problems.append(f"openapi is {doc.get('openapi')!r}, expected '3.0.3'")

    for where, ref in all_refs(doc):
        try:
            resolve(doc, ref)
        except (KeyError, TypeError, IndexError):
            problems.append(f"{where}: $ref {ref!r} does not resolve")

    schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    global_security = doc.get("security")
    if not requires_auth(global_security or []):
        problems.append("no global security requirement (the bearer scheme should apply to every route)")
    for req in global_security or []:
        for name in req:
            s = schemes.get(name)
            if not s:
                problems.append(f"global security names an undefined scheme {name!r}")
            elif not (s.get("type") == "http" and str(s.get("scheme", "")).lower() == "bearer") and not (
                    s.get("type") == "apiKey" and s.get("in") == "cookie"):
                problems.append(f"security scheme {name!r} is neither an HTTP bearer scheme nor a session cookie")

    paths = doc.get("paths") or {}
    documented = {}
    for path, item in paths.items():
        if not isinstance(item, dict):
            problems.append(f"paths: {path!r} is not a mapping")
            continue
        for method, op in item.items():
            if method in HTTP_METHODS:
                documented[(method.upper(), path)] = (item, op or {})

    for key in sorted(served.keys() - documented.keys(), key=lambda k: (k[1], k[0])):
        binary, _ = served[key]
        problems.append(f"missing from the document: {key[0]} {key[1]} (served by {binary})")
    for key in sorted(documented.keys() - served.keys(), key=lambda k: (k[1], k[0])):
        problems.append(f"documented but served by no binary: {key[0]} {key[1]}")

    for key in sorted(documented.keys(), key=lambda k: (k[1], k[0])):
        method, path = key
        item, op = documented[key]
        label = f"{method} {path}"

        # path parameters: exactly those of the path, required
        declared = {}
        for p in list(item.get("parameters") or []) + list(op.get("parameters") or []):
            try:
                p = deref(doc, p)
            except (KeyError, TypeError, IndexError):
                continue  # reported above
            if isinstance(p, dict) and p.get("in") == "path":
                declared[p.get("name")] = p
        in_path = set(re.findall(r"\{([^}]+)\}", path))
        for name in sorted(in_path - declared.keys()):
            problems.append(f"{label}: path parameter {{{name}}} is not declared")
        for name in sorted(declared.keys() - in_path):
            problems.append(f"{label}: declares path parameter {name!r} that is not in the path")
        for name in sorted(in_path & declared.keys()):
            if declared[name].get("required") is not True:
                problems.append(f"{label}: path parameter {name!r} is not marked required")

        responses = op.get("responses") or {}
        if not any(str(code).startswith("2") for code in responses):
            problems.append(f"{label}: no 2xx response")

        want_tag = next((tag for prefix, tag in PREFIX_TAGS if path.startswith(prefix)), None)
        if want_tag is None:
            problems.append(f"{label}: path is under neither /api/v1/ nor /v1/")
        elif want_tag not in (op.get("tags") or []):
            problems.append(f"{label}: tags {op.get('tags')!r} lack {want_tag!r}")

        if key not in served:
            continue
        binary, route = served[key]
        security = op["security"] if "security" in op else global_security
        if route["auth"] and not requires_auth(security or []):
            problems.append(f"{label}: {binary} requires a token, the document says it does not "
                            f"(security: {security!r})")
        if not route["auth"] and requires_auth(security or []):
            problems.append(f"{label}: {binary} serves it without a token, the document requires one "
                            f"(give it security: [])")
        if op.get("summary") != route["summary"]:
            problems.append(f"{label}: summary {op.get('summary')!r}, {binary} says {route['summary']!r}")
        if op.get("x-flyt-write") is not route["write"]:
            problems.append(f"{label}: x-flyt-write is {op.get('x-flyt-write')!r}, "
                            f"{binary} says {route['write']!r}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("openapi", nargs="?", default=os.path.join(ROOT, "docs", "openapi.yaml"),
                    help="the OpenAPI document (default: docs/openapi.yaml)")
    args = ap.parse_args()

    build = os.environ.get("FLYT_BUILD_DIR") or os.path.join(ROOT, "build")
    binaries = (
        ("flyt-controller", os.environ.get("FLYT_CONTROLLER_BIN")
         or os.path.join(build, "src", "controller", "flyt-controller")),
        ("flytd", os.environ.get("FLYT_FLYTD") or os.path.join(build, "src", "flytd")),
    )
    served = {}
    for what, binary in binaries:
        for r in load_routes(binary, what):
            key = (r["method"].upper(), openapi_path(r["path"]))
            if key in served:
                fail(f"{key[0]} {key[1]} is served by both {served[key][0]} and {what}")
            served[key] = (what, r)

    try:
        with open(args.openapi, encoding="utf-8") as f:
            doc = yaml.load(f, Loader=StrictLoader)
    except OSError as e:
        fail(f"cannot read {args.openapi}: {e}")
    except yaml.YAMLError as e:
        fail(f"{args.openapi} is not valid YAML: {e}")
    if not isinstance(doc, dict):
        fail(f"{args.openapi} is not a YAML mapping")

    problems = check(doc, served)
    if problems:
        print(f"docs-openapi: {args.openapi} disagrees with the route tables "
              f"({len(problems)} problem{'s' if len(problems) != 1 else ''}):", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        print("Fix docs/openapi.yaml (or the route table in src/controller/api.c / src/agent/api.c).",
              file=sys.stderr)
        return 1
    print(f"docs-openapi: ok: {len(served)} routes of flyt-controller and flytd match {args.openapi}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
