"""The largest picture and frame rate Tidecast takes in, live (the ingest) or uploaded (the workers).

A picture is judged by its long and short sides, so 3840x2160 admits a portrait 2160x3840 too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FrameCaps:
    max_long_side: int = 3840
    max_short_side: int = 2160
    max_fps: float = 60.0

    def too_large(self, width: int, height: int) -> bool:
        return max(width, height) > self.max_long_side or min(width, height) > self.max_short_side

    def refusal(self, width: int, height: int) -> str | None:
        """ "<w>x<h> is above <long>x<short>" when the picture is too large, else None."""
        if not self.too_large(width, height):
            return None
        return f"{width}x{height} is above {self.max_long_side}x{self.max_short_side}"
