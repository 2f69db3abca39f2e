"""YAML loading that remembers the line of every key and list entry."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from learning.errors import Problem

MAX_VALUES = 100_000
"""The most values a file may hold once its aliases (``*name``) are expanded. The
example configuration has about 1,500; a "billion laughs" file has billions."""


class LineDict(dict[str, Any]):
    """A mapping that knows the line of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list[Any]):
    """A list that knows the line of itself and of each entry."""

    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    """SafeLoader keeping line numbers and reporting duplicate keys."""

    def __init__(self, stream: str, filename: str) -> None:
        super().__init__(stream)
        self.filename = filename
        self.problems: list[Problem] = []

    def construct_mapping(self, node: Node, deep: bool = False) -> LineDict:  # type: ignore[override]
        assert isinstance(node, MappingNode)
        self.flatten_mapping(node)
        result = LineDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                self.problems.append(
                    Problem(
                        self.filename,
                        line,
                        key,
                        f"duplicate key {key!r} (first at line {result.key_lines[key]})",
                    )
                )
                continue
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = line
        return result

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """Report a scalar YAML cannot turn into a value (2026-02-30, an integer of
        5,000 digits) at its line, like a syntax error; and a NUL character ("\\0"
        escaped), which no database column can store."""
        try:
            value = super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            reason = "too many digits" if "digits" in str(exc) else str(exc)
            raise ConstructorError(
                None, None, f"cannot read {_shown(node)}: {reason}", node.start_mark
            ) from None
        if isinstance(value, str) and "\x00" in value:
            raise ConstructorError(
                None, None, f"{_shown(node)} contains a NUL character", node.start_mark
            )
        return value

    def construct_sequence(self, node: Node, deep: bool = False) -> LineList:  # type: ignore[override]
        assert isinstance(node, SequenceNode)
        result = LineList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_sequence)


def _shown(node: Node) -> str:
    text = node.value if isinstance(node, ScalarNode) else node.tag
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _oversized(root: Node, limit: int) -> Node | None:
    """The first node used more than once (an anchor) when the document, its aliases
    expanded, holds more than ``limit`` values; None when it holds fewer.

    Counted bottom-up once per node (no expansion), without recursion, so a "billion
    laughs" file costs as little as its text. A node on its own path (a recursive alias)
    counts once: the constructor refuses it anyway.
    """
    sizes: dict[int, int] = {}
    shared: Node | None = None
    seen: set[int] = set()
    stack: list[tuple[Node, list[Node]]] = [(root, _children(root))]
    on_path = {id(root)}
    while stack:
        node, children = stack[-1]
        if children:
            child = children.pop()
            if id(child) in seen and shared is None:
                shared = child
            seen.add(id(child))
            if id(child) not in sizes and id(child) not in on_path:
                on_path.add(id(child))
                stack.append((child, _children(child)))
            continue
        stack.pop()
        on_path.discard(id(node))
        sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for child in _children(node))
        if sizes[id(node)] > limit:
            return shared or node
    return None


def load_yaml(text: str, filename: str) -> tuple[Any, list[Problem]]:
    """Parse ``text``; return the data and the problems (syntax errors, duplicate keys,
    nesting too deep for the parser, aliases that expand to more than ``MAX_VALUES``)."""
    loader = _Loader(text, filename)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, loader.problems
        oversized = _oversized(node, MAX_VALUES)
        if oversized is not None:
            message = (
                f"the anchors and aliases (&name, *name) expand to over {MAX_VALUES:,} "
                "values; write the values out instead"
            )
            return None, [Problem(filename, oversized.start_mark.line + 1, "", message)]
        data = loader.construct_document(node)
    except RecursionError:
        message = "invalid YAML: nested too deeply"
        return None, [Problem(filename, loader.line + 1, "", message)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = f"invalid YAML: {exc.problem or exc.context}"
        return None, [Problem(filename, line, "", message)]
    except yaml.YAMLError as exc:
        return None, [Problem(filename, None, "", f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
    return data, loader.problems


def line_of(data: Any, path: tuple[str | int, ...]) -> int | None:
    """The line of the deepest node on ``path`` that the document has."""
    line: int | None = getattr(data, "line", None)
    node = data
    for part in path:
        if isinstance(node, LineDict) and isinstance(part, str) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line
