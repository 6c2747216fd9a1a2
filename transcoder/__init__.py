"""transcoder package."""
