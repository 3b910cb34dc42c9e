"""The Data API (``/api/v1/...``): its shapes (``models``), rules (``service``) and the data
table (``store``)."""
