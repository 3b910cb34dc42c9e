"""rrweb 2 event numbers (``@rrweb/types``): the only ones detection reads."""

from __future__ import annotations

# EventType
DOM_CONTENT_LOADED = 0
LOAD = 1
FULL_SNAPSHOT = 2
INCREMENTAL_SNAPSHOT = 3
META = 4
CUSTOM = 5
PLUGIN = 6

# IncrementalSource
MUTATION = 0
MOUSE_MOVE = 1
MOUSE_INTERACTION = 2
SCROLL = 3
VIEWPORT_RESIZE = 4
INPUT = 5
MEDIA_INTERACTION = 7
STYLE_SHEET_RULE = 8
STYLE_DECLARATION = 13
SELECTION = 14
ADOPTED_STYLE_SHEET = 15

# MouseInteractions
CLICK = 2

# Serialized node types (rrweb-snapshot NodeType)
DOCUMENT_NODE = 0
DOCUMENT_TYPE_NODE = 1
ELEMENT_NODE = 2
TEXT_NODE = 3
CDATA_NODE = 4
COMMENT_NODE = 5

CONSOLE_PLUGIN = "rrweb/console@1"
NETWORK_PLUGIN = "rrweb/network@1"
