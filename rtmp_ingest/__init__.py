"""rtmp_ingest package."""
