"""The node mirror: the page as rrweb described it, kept just well enough to name an element.

Rebuilt from a FullSnapshot and kept current with mutations (adds, removes, texts, attributes).
It keeps, per node, its parent, its children in order, its tag, the few attributes selectors and
labels use, and short text. It never keeps what a user typed:

* no ``value`` attribute, on any element (inputs, textareas and selects carry typed text there);
* no text under ``textarea``, ``script``, ``style``, ``noscript``, ``template`` or ``head``,
  nor under an element that is or was ``contenteditable`` (typing there becomes text mutations);
* Input events (what was typed) are never given to it.

Its state is a list of compact rows (``to_state``/``from_state``) that detection stores per
session between batches.

A recording is hostile page content, so every cost here is bounded by construction
(docs/decisions/022-mirror-bounds.md):

* siblings are a doubly linked list and nodes a dict: an add (with or without ``nextId``) and a
  remove cost O(1) plus the size of what is added or removed, never the number of siblings;
* at most ``MAX_NODES`` nodes are mirrored; further nodes are refused (and counted);
* whether text below a node is kept is a flag each node inherits when it is added (tags and
  ancestors never change while a node is mirrored), and ``contenteditable`` is sticky, so an
  element turns opaque at most once and no text change walks its ancestors;
* an element's visible text is collected by a walk of at most ``MAX_TEXT_VISITS`` nodes, and
  ``:nth-of-type`` by at most ``MAX_SIBLING_STEPS`` sibling steps per selector (past it the
  position is left out); both are cached until the next mutation;
* tag names must be CSS identifiers (``[a-z][a-z0-9_-]*``, at most ``MAX_TAG_CHARS``); any other
  becomes ``*``, so no page-chosen markup ever reaches a selector; kept attribute values are
  clipped, and a selector stops at ``MAX_SELECTOR_CHARS``.

``dropped`` counts, per mirror (one batch), what these bounds left out.
"""

from __future__ import annotations

import re
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
# Attributes shown as a label when an element has no text: kept as short, collapsed text.
LABEL_ATTRIBUTES = ("aria-label", "alt", "title")
# Text below these is never kept: it is code, or what the user typed.
OPAQUE_TAGS = frozenset({"textarea", "script", "style", "noscript", "template", "head"})
TEXT = "#text"
DOCUMENT = "#document"
# What an element whose tag name is not a CSS identifier is called: it matches any element.
UNKNOWN_TAG = "*"

# Bounds (docs/decisions/022-mirror-bounds.md).
MAX_NODES = 10_000
MAX_TAG_CHARS = 64
MAX_ATTRIBUTE_CHARS = 256  # id, role, type, contenteditable: longer ids are never stable anyway
MAX_CLASS_CHARS = 1_024  # of the class list kept
MAX_CLASS_NAMES = 32  # classes looked at for the stable ones: they come first in real pages
MAX_TEXT_VISITS = 256  # nodes one visible-text walk visits
MAX_SIBLING_STEPS = 512  # sibling steps one selector takes to find its :nth-of-type positions
MAX_SELECTOR_CHARS = 512

_TAG = re.compile(r"[a-z][a-z0-9_-]*")


class Node:
    __slots__ = ("attrs", "first", "id", "last", "next", "opaque", "parent", "prev", "tag", "text")

    def __init__(
        self,
        tag: str,
        parent: int | None,
        attrs: dict[str, str] | None = None,
        text: str = "",
        node_id: int = 0,
    ) -> None:
        self.id = node_id
        self.tag = tag  # lower-case element name, "*", "#text" or "#document"
        self.parent = parent
        self.attrs = attrs or {}
        self.text = text
        # Children as a doubly linked list: first and last child, previous and next sibling.
        self.first: Node | None = None
        self.last: Node | None = None
        self.prev: Node | None = None
        self.next: Node | None = None
        # Text below this node is not kept (an opaque tag or an editable element, here or above).
        self.opaque = False

    @property
    def children(self) -> list[int]:
        """The ids of its children, in order."""
        found: list[int] = []
        current = self.first
        while current is not None:
            found.append(current.id)
            current = current.next
        return found


def tag_name(value: Any) -> str:
    """rrweb's ``tagName`` as the mirror keeps it: a lower-case CSS identifier, else ``*``."""
    tag = value.lower() if isinstance(value, str) else ""
    return tag if len(tag) <= MAX_TAG_CHARS and _TAG.fullmatch(tag) else UNKNOWN_TAG


def _clipped(name: str, value: str) -> str:
    if name in LABEL_ATTRIBUTES:
        return _short(value)
    if name == "class":
        if len(value) <= MAX_CLASS_CHARS:
            return value
        # Cut at a space, so that no class is cut into a different name.
        head = value[: MAX_CLASS_CHARS + 1]
        return head.rsplit(None, 1)[0] if " " in head.strip() else ""
    return value[:MAX_ATTRIBUTE_CHARS]


def _kept(attributes: Any) -> dict[str, str]:
    if not isinstance(attributes, dict):
        return {}
    return {k: _clipped(k, v) for k in KEPT_ATTRIBUTES if isinstance(v := attributes.get(k), str)}


class NodeMirror:
    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}
        # Selectors and texts asked for since the last mutation: a page is clicked, scrolled and
        # typed in far more often than it mutates.
        self._selectors: dict[int, str | None] = {}
        self._texts: dict[int, str | None] = {}
        # What the bounds left out, by kind (module docstring).
        self.dropped: dict[str, int] = {}
        # Nodes and siblings visited by walks: what tests hold to a budget.
        self.steps = 0

    def _drop(self, kind: str, count: int = 1) -> None:
        self.dropped[kind] = self.dropped.get(kind, 0) + count

    # --- building -------------------------------------------------------------------------------

    def reset(self, snapshot_root: Any) -> None:
        """A FullSnapshot replaces everything."""
        self.nodes = {}
        self._changed()
        self._add_tree(snapshot_root, None, None)

    def _changed(self) -> None:
        self._selectors.clear()
        self._texts.clear()

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
                tag = tag_name(data.get("tagName"))
                if tag == "head":
                    continue  # nothing in <head> is clicked or labelled
                if tag == UNKNOWN_TAG:
                    self._drop("tag_names")
                node = Node(tag, parent_id, _kept(data.get("attributes")), node_id=node_id)
            elif kind == rrweb.TEXT_NODE:
                node = Node(TEXT, parent_id, node_id=node_id)
            elif kind == rrweb.DOCUMENT_NODE:
                node = Node(DOCUMENT, parent_id, node_id=node_id)
            else:
                continue  # doctype, CDATA, comments: never targets, never text
            if node_id not in self.nodes and len(self.nodes) >= MAX_NODES:
                self._drop("nodes")
                continue
            self._insert(node, before)
            if kind == rrweb.TEXT_NODE and not node.opaque:
                node.text = _short(data.get("textContent"))
            children = data.get("childNodes")
            if isinstance(children, list) and children:
                room = MAX_NODES - len(self.nodes)
                if len(children) > room:
                    # Past the cap nothing more is mirrored: the rest is refused unread.
                    self._drop("nodes", len(children) - room)
                    children = children[:room]
                # Pushed in reverse so they are added in document order.
                stack.extend((child, node_id, None) for child in reversed(children))

    def _insert(self, node: Node, before: int | None) -> None:
        """Add ``node`` under its parent, before the sibling ``before`` if it has one: O(1)."""
        if node.id in self.nodes:
            self._remove(node.id)
        parent = self.nodes.get(node.parent) if node.parent is not None else None
        self.nodes[node.id] = node
        if node.tag != TEXT:
            node.opaque = node.tag in OPAQUE_TAGS or _editable(node)
        if parent is None:
            return
        if parent.opaque:
            node.opaque = True
        following = self.nodes.get(before) if before is not None and before != node.id else None
        if following is None or following.parent != node.parent:
            # Appended: no nextId, or one that is not a child of this parent.
            node.prev = parent.last
            if parent.last is not None:
                parent.last.next = node
            else:
                parent.first = node
            parent.last = node
        else:
            node.next = following
            node.prev = following.prev
            if following.prev is not None:
                following.prev.next = node
            else:
                parent.first = node
            following.prev = node

    def _remove(self, node_id: int) -> None:
        node = self.nodes.get(node_id)
        if node is None:
            return
        parent = self.nodes.get(node.parent) if node.parent is not None else None
        if parent is not None:
            if node.prev is not None:
                node.prev.next = node.next
            else:
                parent.first = node.next
            if node.next is not None:
                node.next.prev = node.prev
            else:
                parent.last = node.prev
        # Each removed node was added once: removing it costs what adding it did.
        stack = [node]
        while stack:
            gone = stack.pop()
            if self.nodes.get(gone.id) is gone:
                del self.nodes[gone.id]
            self.steps += 1
            child = gone.first
            while child is not None:
                stack.append(child)
                child = child.next

    def apply_mutation(self, data: dict[str, Any]) -> None:
        """An IncrementalSnapshot of source Mutation: removes, then adds, texts, attributes."""
        self._changed()
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
                node.text = "" if node.opaque else _short(change.get("value"))
        for change in data.get("attributes") or ():
            if not isinstance(change, dict):
                continue
            node = self.nodes.get(change.get("id"))  # type: ignore[arg-type]
            attributes = change.get("attributes")
            if node is None or node.tag == TEXT or not isinstance(attributes, dict):
                continue
            was_editable = _editable(node)
            for name in KEPT_ATTRIBUTES:
                if name in attributes:
                    if name == "contenteditable" and was_editable:
                        continue  # sticky: what is typed there stays out (module docstring)
                    value = attributes[name]
                    if isinstance(value, str):
                        node.attrs[name] = _clipped(name, value)
                    elif value is None:
                        node.attrs.pop(name, None)
            if not node.opaque and _editable(node):
                self._make_opaque(node)

    def _make_opaque(self, node: Node) -> None:
        """Blank the text below ``node`` and mark it and its elements opaque. An opaque element's
        subtree already is, so it is skipped: each node is visited once per mirror at most."""
        node.opaque = True
        stack = [node.first]
        while stack:
            child = stack.pop()
            while child is not None:
                self.steps += 1
                if not child.opaque:
                    child.opaque = True
                    child.text = ""
                    stack.append(child.first)
                child = child.next

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
        path of tags, stable classes and ``:nth-of-type`` up to ``body`` or MAX_SELECTOR_DEPTH
        segments, and at most MAX_SELECTOR_CHARS."""
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
        size = 0
        budget = [MAX_SIBLING_STEPS]
        current: int | None = element
        while current is not None and len(parts) < MAX_SELECTOR_DEPTH:
            node = self.nodes.get(current)
            if node is None or node.tag.startswith("#"):
                break
            ident = node.attrs.get("id", "")
            if is_stable_name(ident):
                segment = f"{node.tag}#{css_ident(ident)}"
                last = True
            else:
                segment = node.tag
                if node.tag not in ("html", "body"):
                    segment += "".join(f".{css_ident(c)}" for c in _stable_classes(node))
                    segment += self._nth_of_type(node, budget)
                last = node.tag in ("body", "html")
            size += len(segment) + (3 if parts else 0)
            if size > MAX_SELECTOR_CHARS:
                self._drop("selector_segments")
                break
            parts.append(segment)
            if last:
                break
            current = node.parent
        return " > ".join(reversed(parts)) if parts else None

    def _nth_of_type(self, node: Node, budget: list[int]) -> str:
        """``:nth-of-type(n)`` when a sibling has the same tag, "" when none has. ``budget`` is
        the sibling steps this selector has left: past it, a position is left out."""
        if node.tag == UNKNOWN_TAG or node.parent not in self.nodes:
            return ""
        position = 1
        sibling = node.prev
        while sibling is not None:
            if budget[0] <= 0:
                self._drop("nth_of_type")
                return ""
            budget[0] -= 1
            self.steps += 1
            if sibling.tag == node.tag:
                position += 1
            sibling = sibling.prev
        if position > 1:
            return f":nth-of-type({position})"
        sibling = node.next
        while sibling is not None:
            if budget[0] <= 0:
                # The first of its type, whether or not another follows: still exact.
                self._drop("nth_of_type")
                return ":nth-of-type(1)"
            budget[0] -= 1
            self.steps += 1
            if sibling.tag == node.tag:
                return ":nth-of-type(1)"
            sibling = sibling.next
        return ""

    def text(self, node_id: int) -> str | None:
        """Visible text of the element (≤ 80 characters), else its label attributes."""
        element = self.element(node_id)
        if element is None:
            return None
        if element in self._texts:
            return self._texts[element]
        found = self._text(self.nodes[element])
        self._texts[element] = found
        return found

    def _text(self, node: Node) -> str | None:
        pieces: list[str] = []
        size = 0
        visits = 0
        stack = [node.first]
        while stack and size <= MAX_TEXT_CHARS:
            child = stack.pop()
            if child is None:
                continue
            if visits == MAX_TEXT_VISITS:
                self._drop("text_walks")
                break
            visits += 1
            stack.append(child.next)  # after its own subtree: document order
            if child.tag == TEXT:
                if child.text:
                    pieces.append(child.text)
                    size += len(child.text) + 1
            elif not child.opaque:
                stack.append(child.first)
        self.steps += visits
        text = " ".join(" ".join(pieces).split())
        if not text:
            for name in LABEL_ATTRIBUTES:
                text = " ".join(node.attrs.get(name, "").split())
                if text:
                    break
        return clip(text, MAX_TEXT_CHARS) if text else None

    # --- state ----------------------------------------------------------------------------------

    def to_state(self) -> list[list[Any]]:
        """Rows ``[id, parent, tag, attrs or text]`` in an order that rebuilds the same tree."""
        rows: list[list[Any]] = []
        roots = [n for n in self.nodes.values() if n.parent not in self.nodes]
        stack = sorted(roots, key=lambda n: n.id, reverse=True)
        while stack:
            node = stack.pop()
            rows.append(
                [node.id, node.parent, node.tag, node.text if node.tag == TEXT else node.attrs]
            )
            child = node.last
            while child is not None:
                stack.append(child)
                child = child.prev
        return rows

    @classmethod
    def from_state(cls, rows: list[list[Any]]) -> NodeMirror:
        """The mirror ``to_state`` saved, its rows read as page content: a state saved before
        these bounds may hold any tag name, attribute length or number of nodes."""
        mirror = cls()
        refused: set[int] = set()
        for row in rows:
            if not isinstance(row, list) or len(row) != 4:
                continue
            node_id, parent, tag, payload = row
            if not isinstance(node_id, int) or node_id in mirror.nodes:
                continue
            if parent is not None and not isinstance(parent, int):
                continue
            if parent in refused:
                refused.add(node_id)
                mirror._drop("nodes")
                continue
            if len(mirror.nodes) >= MAX_NODES:
                refused.add(node_id)
                mirror._drop("nodes")
                continue
            if tag == TEXT:
                node = Node(TEXT, parent, node_id=node_id)
            elif tag == DOCUMENT:
                node = Node(DOCUMENT, parent, node_id=node_id)
            else:
                node = Node(tag_name(tag), parent, _kept(payload), node_id=node_id)
            mirror._insert(node, None)
            if tag == TEXT and not node.opaque:
                node.text = _short(payload)
        return mirror


def _stable_classes(node: Node) -> list[str]:
    found: list[str] = []
    for name in node.attrs.get("class", "").split()[:MAX_CLASS_NAMES]:
        if is_stable_name(name):
            found.append(name)
            if len(found) == MAX_STABLE_CLASSES:
                break
    return found


def _editable(node: Node) -> bool:
    value = node.attrs.get("contenteditable")
    return value is not None and value.lower() != "false"


def _short(text: Any) -> str:
    """Collapsed whitespace, at most what a label can show."""
    if not isinstance(text, str):
        return ""
    # One character over the limit, so that clip() marks the cut.
    return " ".join(text[: MAX_TEXT_CHARS * 4].split())[: MAX_TEXT_CHARS + 1]
