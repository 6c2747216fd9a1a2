"""hls_out package."""
