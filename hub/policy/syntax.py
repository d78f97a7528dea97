"""YAML syntax errors located where they are to be fixed, with the field being parsed."""

from __future__ import annotations

import yaml

from hub.policy.checks import Problem

# Errors found inside something that starts at the context mark and is reported where the
# parser gave up, often lines later: the place to fix is where it starts.
_STARTS_AT_CONTEXT = (
    "while scanning a simple key",  # a key without its colon: noticed on the next line
    "while scanning a quoted scalar",  # an unclosed quote
    "while scanning a block scalar",
)
_FLOW = {"while parsing a flow sequence": "]", "while parsing a flow mapping": "}"}


def syntax_problem(source: str, exc: yaml.MarkedYAMLError, text: str) -> Problem:
    """The syntax error located where it is to be fixed, with the field being parsed."""
    problem, context = exc.problem_mark, exc.context_mark
    at_context = context is not None and (
        exc.context in _STARTS_AT_CONTEXT
        or (exc.context in _FLOW and problem is not None and not _closed(text, context, problem))
    )
    mark = context if at_context or problem is None else problem
    message = f"not valid YAML: {exc.problem or exc.context}"
    if at_context and exc.context in _FLOW:
        message = (
            f"not valid YAML: this {text[context.index]!r} is never closed with "
            f"{_FLOW[exc.context]!r} (the parser gave up on line {problem.line + 1}: {exc.problem})"
        )
    elif at_context and problem is not None and problem.line != context.line:
        message += f" ({exc.context} that starts here; noticed on line {problem.line + 1})"
    elif exc.context and exc.problem and context and context.line != mark.line:
        message += f" ({exc.context} that starts on line {context.line + 1})"
    field = _field_at(text, context, exc.context == "while scanning a simple key")
    return Problem(source, mark.line + 1 if mark else None, field, message)


def _closed(text: str, start, end) -> bool:
    """Whether the bracket at mark `start` is closed before mark `end` (quotes and comments
    skipped): if not, it is the unclosed bracket the parser ran past."""
    depth, quote, comment = 0, None, False
    for i in range(start.index, min(end.index, len(text))):
        ch = text[i]
        if comment:
            comment = ch != "\n"
        elif quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t\n"):
            comment = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return True
    return False


def _awaits_key(collection: list | None) -> bool:
    return bool(collection) and isinstance(collection[0], dict) and not collection[1]


def _field_at(text: str, context, simple_key: bool) -> str:
    """The dotted field being parsed when the syntax error came: the keys of the YAML that
    parsed before it, cut at the collection that starts at `context`; "" if unknown."""
    path: list[list] = []  # per open collection: [key or items done, pending?, start mark]
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            top = path[-1] if path else None
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                path.pop()
                top = path[-1] if path else None
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                path.append([{} if isinstance(event, yaml.MappingStartEvent) else 0, False,
                             event.start_mark])  # fmt: skip
                if top is not None:
                    continue  # the parent's pending key or item stays pending until the end
            elif isinstance(event, yaml.ScalarEvent) and _awaits_key(top):
                top[0], top[1] = {"key": event.value}, True  # a key: its value comes next
                continue
            if isinstance(event, (yaml.NodeEvent, yaml.CollectionEndEvent)) and path:
                top = path[-1]
                if isinstance(top[0], int):
                    top[0] += 1
                else:
                    top[1] = False  # the value is done: the mapping waits for a key
    except yaml.YAMLError:
        pass
    if context is not None:  # the collection the error is in, and its own key
        cut = next((n for n, c in enumerate(path) if c[2].index == context.index), None)
        path = path[:cut] if cut is not None else path
    field = ""
    for key, pending, _ in path:
        if isinstance(key, int):
            field = f"{field}[{key}]"  # the item being parsed
        elif pending and key:
            field = f"{field}.{key['key']}" if field else key["key"]
    if simple_key and context is not None:  # the key that lacks its colon
        words = text[context.index :].split("\n", 1)[0].split()
        if words:
            field = f"{field}.{words[0]}" if field else words[0]
    return field
