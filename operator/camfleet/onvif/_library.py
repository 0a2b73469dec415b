"""Import onvif-zeep-async without the side effect of its import: `logging.basicConfig(level=INFO)`.

That call would add a second root handler next to the operator's, doubling every log line.
"""

import logging

_root = logging.getLogger()
_handlers, _level = list(_root.handlers), _root.level

import onvif  # noqa: E402, F401

_root.handlers[:] = _handlers
_root.setLevel(_level)
