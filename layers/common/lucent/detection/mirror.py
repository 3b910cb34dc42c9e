"""The node mirror: the page as rrweb described it, kept just well enough to name an element.

Rebuilt from a FullSnapshot and kept current with mutations (adds, removes, texts, attributes).
It keeps, per node, its parent, its children in order, its tag, the few attributes selectors and
labels use, and short text. It never keeps what a user typed:

* no ``value`` attribute, on any element (inputs, textareas and selects carry typed text there);
* no text under ``textarea``, ``script``, ``style``, ``noscript``, ``template`` or ``head``,
  nor under an element that is ``contenteditable`` (typing there becomes text mutations);
* Input events (what was typed) are never given to it.

Its state is a list of compact rows (``to_state``/``from_state``) that detection stores per
session between batches.
"""

from __future__ import annotations

from typing import Any

from lucent.detection import rrweb
from lucent.detection.rules import (
    ACTIONABLE_ANCESTOR_DEPTH,
    ACTIONABLE_INPUT_TYPES,
    ACTIONABLE_TAGS,
    MAX_SELECTOR_DEPTH,
    MAX_STABLE_CLASSES,
    MAX_TEXT_CHARS,
    clip,
    css_ident,
    is_stable_name,
)

KEPT_ATTRIBUTES = ("id", "class", "role", "type", "aria-label", "alt", "title", "contenteditable")
# Text below these is never kept: it is code, or what the user typed.
OPAQUE_TAGS = frozenset({"textarea", "script", "style", "noscript", "template", "head"})
TEXT = "#text"


class Node:
    __slots__ = ("attrs", "children", "parent", "tag", "text")

    def __init__(
        self, tag: str, parent: int | None, attrs: dict[str, str] | None = None, text: str = ""
    ) -> None:
        self.tag = tag  # lower-case element name, or "#text"
        self.parent = parent
        self.attrs = attrs or {}
        self.text = text
        self.children: list[int] = []


def _kept(attributes: Any) -> dict[str, str]:
    if not isinstance(attributes, dict):
        return {}
    return {k: v for k in KEPT_ATTRIBUTES if isinstance(v := attributes.get(k), str)}


class NodeMirror:
    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}
        # Selectors asked for since the last change: a page is clicked, scrolled and typed in
        # far more often than it mutates.
        self._selectors: dict[int, str | None] = {}

    # --- building -------------------------------------------------------------------------------

    def reset(self, snapshot_root: Any) -> None:
        """A FullSnapshot replaces everything."""
        self.nodes = {}
        self._selectors.clear()
        self._add_tree(snapshot_root, None, None)

    def _opaque(self, node_id: int | None) -> bool:
        """Whether text under ``node_id`` must not be kept (see the module docstring)."""
        depth = 0
        while node_id is not None and depth < 64:
            node = self.nodes.get(node_id)
            if node is None:
                return False
            if node.tag in OPAQUE_TAGS or _editable(node):
                return True
            node_id = node.parent
            depth += 1
        return False

    def _add_tree(self, serialized: Any, parent: int | None, next_id: int | None) -> None:
        # Iterative: a deep DOM must not hit the recursion limit.
        stack: list[tuple[Any, int | None, int | None]] = [(serialized, parent, next_id)]
        while stack:
            data, parent_id, before = stack.pop()
            if not isinstance(data, dict):
                continue
            node_id = data.get("id")
            if not isinstance(node_id, int):
                continue
            kind = data.get("type")
            if kind == rrweb.ELEMENT_NODE:
                tag = str(data.get("tagName") or "").lower()
                if tag == "head":
                    continue  # nothing in <head> is clicked or labelled
                node = Node(tag, parent_id, _kept(data.get("attributes")))
            elif kind == rrweb.TEXT_NODE:
                text = data.get("textContent")
                keep = isinstance(text, str) and not self._opaque(parent_id)
                node = Node(TEXT, parent_id, text=_short(text) if keep else "")
            elif kind == rrweb.DOCUMENT_NODE:
                node = Node("#document", parent_id)
            else:
                continue  # doctype, CDATA, comments: never targets, never text
            self._insert(node_id, node, before)
            children = data.get("childNodes")
            if isinstance(children, list):
                # Pushed in reverse so they are added in document order.
                stack.extend((child, node_id, None) for child in reversed(children))

    def _insert(self, node_id: int, node: Node, before: int | None) -> None:
        if node_id in self.nodes:
            self._remove(node_id)
        self.nodes[node_id] = node
        parent = self.nodes.get(node.parent) if node.parent is not None else None
        if parent is None:
            return
        if before is not None and before in parent.children:
            parent.children.insert(parent.children.index(before), node_id)
        else:
            parent.children.append(node_id)

    def _remove(self, node_id: int) -> None:
        node = self.nodes.get(node_id)
        if node is None:
            return
        parent = self.nodes.get(node.parent) if node.parent is not None else None
        if parent is not None and node_id in parent.children:
            parent.children.remove(node_id)
        stack = [node_id]
        while stack:
            gone = self.nodes.pop(stack.pop(), None)
            if gone is not None:
                stack.extend(gone.children)

    def apply_mutation(self, data: dict[str, Any]) -> None:
        """An IncrementalSnapshot of source Mutation: removes, then adds, texts, attributes."""
        self._selectors.clear()
        for removed in data.get("removes") or ():
            if isinstance(removed, dict) and isinstance(removed.get("id"), int):
                self._remove(removed["id"])
        for added in data.get("adds") or ():
            if not isinstance(added, dict) or not isinstance(added.get("parentId"), int):
                continue
            if added["parentId"] not in self.nodes:
                continue  # under <head>, or a parent this mirror never saw
            next_id = added.get("nextId")
            self._add_tree(
                added.get("node"), added["parentId"], next_id if isinstance(next_id, int) else None
            )
        for change in data.get("texts") or ():
            if not isinstance(change, dict):
                continue
            node = self.nodes.get(change.get("id"))  # type: ignore[arg-type]
            if node is not None and node.tag == TEXT:
                value = change.get("value")
                keep = isinstance(value, str) and not self._opaque(node.parent)
                node.text = _short(value) if keep else ""
        for change in data.get("attributes") or ():
            if not isinstance(change, dict):
                continue
            node = self.nodes.get(change.get("id"))  # type: ignore[arg-type]
            attributes = change.get("attributes")
            if node is None or node.tag == TEXT or not isinstance(attributes, dict):
                continue
            for name in KEPT_ATTRIBUTES:
                if name in attributes:
                    value = attributes[name]
                    if isinstance(value, str):
                        node.attrs[name] = value
                    elif value is None:
                        node.attrs.pop(name, None)
            if _editable(node):
                self._blank_text_below(change["id"])

    def _blank_text_below(self, node_id: int) -> None:
        stack = list(self.nodes[node_id].children)
        while stack:
            node = self.nodes.get(stack.pop())
            if node is not None:
                node.text = ""
                stack.extend(node.children)

    # --- reading --------------------------------------------------------------------------------

    def is_actionable(self, node_id: int) -> bool:
        node = self.nodes.get(node_id)
        if node is None or node.tag == TEXT:
            return False
        if node.tag in ACTIONABLE_TAGS or node.attrs.get("role") == "button":
            return True
        return node.tag == "input" and node.attrs.get("type", "").lower() in ACTIONABLE_INPUT_TYPES

    def actionable(self, node_id: int) -> int | None:
        """The clicked node or its nearest actionable ancestor (a span inside a button)."""
        current: int | None = node_id
        for _ in range(ACTIONABLE_ANCESTOR_DEPTH + 1):
            if current is None:
                return None
            if self.is_actionable(current):
                return current
            node = self.nodes.get(current)
            if node is not None and node.tag in ("input", "textarea"):
                return None  # a text field inside a <label> is the field, not the label
            current = node.parent if node is not None else None
        return None

    def element(self, node_id: int) -> int | None:
        """An element to name for ``node_id``: itself, or the parent of a text node."""
        node = self.nodes.get(node_id)
        if node is None:
            return None
        if node.tag == TEXT:
            return node.parent if node.parent in self.nodes else None
        return node_id if not node.tag.startswith("#") else None

    def selector(self, node_id: int) -> str | None:
        """A CSS selector: ``tag#id`` when the element or an ancestor has a stable id, else a
        path of tags, stable classes and ``:nth-of-type`` up to ``body`` or MAX_SELECTOR_DEPTH."""
        if node_id in self._selectors:
            return self._selectors[node_id]
        found = self._selector(node_id)
        self._selectors[node_id] = found
        return found

    def _selector(self, node_id: int) -> str | None:
        element = self.element(node_id)
        if element is None:
            return None
        parts: list[str] = []
        current: int | None = element
        while current is not None and len(parts) < MAX_SELECTOR_DEPTH:
            node = self.nodes.get(current)
            if node is None or node.tag.startswith("#"):
                break
            ident = node.attrs.get("id", "")
            if is_stable_name(ident):
                parts.append(f"{node.tag}#{css_ident(ident)}")
                break
            segment = node.tag
            if node.tag not in ("html", "body"):
                classes = [c for c in node.attrs.get("class", "").split() if is_stable_name(c)]
                segment += "".join(f".{css_ident(c)}" for c in classes[:MAX_STABLE_CLASSES])
                segment += self._nth_of_type(current, node)
            parts.append(segment)
            if node.tag in ("body", "html"):
                break
            current = node.parent
        return " > ".join(reversed(parts)) if parts else None

    def _nth_of_type(self, node_id: int, node: Node) -> str:
        parent = self.nodes.get(node.parent) if node.parent is not None else None
        if parent is None:
            return ""
        same = [c for c in parent.children if (s := self.nodes.get(c)) and s.tag == node.tag]
        return f":nth-of-type({same.index(node_id) + 1})" if len(same) > 1 else ""

    def text(self, node_id: int) -> str | None:
        """Visible text of the element (≤ 80 characters), else its label attributes."""
        element = self.element(node_id)
        if element is None:
            return None
        node = self.nodes[element]
        pieces: list[str] = []
        size = 0
        stack = list(reversed(node.children))
        while stack and size <= MAX_TEXT_CHARS:
            child = self.nodes.get(stack.pop())
            if child is None:
                continue
            if child.tag == TEXT:
                if child.text:
                    pieces.append(child.text)
                    size += len(child.text) + 1
            elif child.tag not in OPAQUE_TAGS:
                stack.extend(reversed(child.children))
        text = " ".join(" ".join(pieces).split())
        if not text:
            for name in ("aria-label", "alt", "title"):
                text = " ".join(node.attrs.get(name, "").split())
                if text:
                    break
        return clip(text, MAX_TEXT_CHARS) if text else None

    # --- state ----------------------------------------------------------------------------------

    def to_state(self) -> list[list[Any]]:
        """Rows ``[id, parent, tag, attrs or text]`` in an order that rebuilds the same tree."""
        rows: list[list[Any]] = []
        roots = [i for i, n in self.nodes.items() if n.parent not in self.nodes]
        stack = sorted(roots, reverse=True)
        while stack:
            node_id = stack.pop()
            node = self.nodes[node_id]
            rows.append(
                [node_id, node.parent, node.tag, node.text if node.tag == TEXT else node.attrs]
            )
            stack.extend(reversed(node.children))
        return rows

    @classmethod
    def from_state(cls, rows: list[list[Any]]) -> NodeMirror:
        mirror = cls()
        nodes = mirror.nodes
        for node_id, parent, tag, payload in rows:
            node = Node(TEXT, parent, text=payload) if tag == TEXT else Node(tag, parent, payload)
            nodes[node_id] = node
            owner = nodes.get(parent) if parent is not None else None
            if owner is not None:
                owner.children.append(node_id)
        return mirror


def _editable(node: Node) -> bool:
    value = node.attrs.get("contenteditable")
    return value is not None and value.lower() != "false"


def _short(text: Any) -> str:
    """Collapsed whitespace, at most what a label can show."""
    if not isinstance(text, str):
        return ""
    # One character over the limit, so that clip() marks the cut.
    return " ".join(text[: MAX_TEXT_CHARS * 4].split())[: MAX_TEXT_CHARS + 1]
