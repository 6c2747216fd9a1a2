from tests.integration.conftest import api_base_url, make_streamer, publishers

__all__ = ["api_base_url", "make_streamer", "publishers"]
