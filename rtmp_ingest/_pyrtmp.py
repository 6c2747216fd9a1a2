"""The one place the project imports pyrtmp from.

`pyrtmp.rtmp` calls `logging.basicConfig(level=DEBUG)` at import time, which would make every
library in the process log at DEBUG; its modules also pin their own loggers to DEBUG. Importing
through here restores the root logger exactly as it was and quiets pyrtmp's loggers.
"""

from __future__ import annotations

import logging

_root = logging.getLogger()
_root_level = _root.level
_root_handlers = list(_root.handlers)

try:
    from pyrtmp import StreamClosedException
    from pyrtmp.messages import Chunk
    from pyrtmp.messages.audio import AudioMessage
    from pyrtmp.messages.command import (
        CommandMessage,
        NCConnect,
        NCCreateStream,
        NSCloseStream,
        NSDeleteStream,
        NSPublish,
    )
    from pyrtmp.messages.data import DataMessage, MetaDataMessage
    from pyrtmp.messages.factory import MessageFactory
    from pyrtmp.messages.protocol_control import (
        AbortMessage,
        Acknowledgement,
        SetChunkSize,
        SetPeerBandwidth,
        WindowAcknowledgementSize,
    )
    from pyrtmp.messages.user_control import StreamBegin, UserControlMessage
    from pyrtmp.messages.video import VideoMessage
    from pyrtmp.rtmp import BaseRTMPController, RTMPProtocol, SimpleRTMPController, SimpleRTMPServer
    from pyrtmp.session_manager import SessionManager
finally:
    _root.setLevel(_root_level)
    for _handler in list(_root.handlers):
        if _handler not in _root_handlers:
            _root.removeHandler(_handler)

PYRTMP_LOG_LEVEL = logging.WARNING
for _name in list(logging.root.manager.loggerDict):
    if _name == "pyrtmp" or _name.startswith("pyrtmp."):
        logging.getLogger(_name).setLevel(PYRTMP_LOG_LEVEL)

__all__ = [
    "AbortMessage",
    "Acknowledgement",
    "AudioMessage",
    "BaseRTMPController",
    "Chunk",
    "CommandMessage",
    "DataMessage",
    "MessageFactory",
    "MetaDataMessage",
    "NCConnect",
    "NCCreateStream",
    "NSCloseStream",
    "NSDeleteStream",
    "NSPublish",
    "RTMPProtocol",
    "SessionManager",
    "SetChunkSize",
    "SetPeerBandwidth",
    "SimpleRTMPController",
    "SimpleRTMPServer",
    "StreamBegin",
    "StreamClosedException",
    "UserControlMessage",
    "VideoMessage",
    "WindowAcknowledgementSize",
]
