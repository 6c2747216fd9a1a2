"""What crosses process boundaries, written once: the HLS layout and the video-url rule (`layout`),
the rendition ladder and its validation (`ladder`), logging (`logs`), reading settings from the
environment for the non-Django processes (`env`), and the wire formats more than one process writes
(`amf0`, `flv`). Free of Django, so the ingest, the transcoder, the HLS server, the API and the
workers all import it."""
