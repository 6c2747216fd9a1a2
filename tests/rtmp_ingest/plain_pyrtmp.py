"""Plain pyrtmp, which the ingest no longer uses, imported quietly for the tests that compare with it.

`pyrtmp.rtmp` calls `logging.basicConfig(level=DEBUG)` at import time; this restores the root
logger as it was and quiets pyrtmp's own loggers, so the test run's logging stays as configured.
"""

from __future__ import annotations

import logging

_root = logging.getLogger()
_root_level = _root.level
_root_handlers = list(_root.handlers)

try:
    from pyrtmp import StreamClosedException
    from pyrtmp.messages import Chunk
    from pyrtmp.messages.factory import MessageFactory
    from pyrtmp.session_manager import SessionManager
finally:
    _root.setLevel(_root_level)
    for _handler in list(_root.handlers):
        if _handler not in _root_handlers:
            _root.removeHandler(_handler)

for _name in list(logging.root.manager.loggerDict):
    if _name == "pyrtmp" or _name.startswith("pyrtmp."):
        logging.getLogger(_name).setLevel(logging.WARNING)

__all__ = ["Chunk", "MessageFactory", "SessionManager", "StreamClosedException"]
