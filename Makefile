# Tidecast: `make run` starts the whole stack, `make test` runs the whole suite.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
NODE_STAMP := node_modules/.installed
# Playwright drives the system's Chromium and never downloads a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: install system-deps browser-deps deploy-deps bench-deps run test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# ffmpeg (transcoder, tests) from the system's packages, installed once if missing.
system-deps:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { \
		echo "Installing ffmpeg with apt-get"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ffmpeg >/dev/null; }

# hls.js for the web player, from the npm registry exactly as package-lock.json pins it.
$(NODE_STAMP): package-lock.json
	@command -v npm >/dev/null || { \
		echo "Installing npm with apt-get"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq npm >/dev/null; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# Chromium for the browser tests (tests/e2e), from the system's packages, installed once if missing.
browser-deps:
	@command -v chromium >/dev/null || { \
		echo "Installing chromium with apt-get"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# nginx and docker-compose for the deployment tests (tests/deploy), installed once if missing.
# nginx is only started by the tests, on loopback; no Docker engine is needed. Its stream module
# terminates TLS in front of an RTMP listener for the rtmps:// restream test.
deploy-deps:
	@{ command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } && command -v docker-compose >/dev/null && [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || { \
		echo "Installing nginx, its stream module and docker-compose with apt-get"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx libnginx-mod-stream docker-compose >/dev/null; }

# nginx with nginx-rtmp, the reference the ingest benches (bench/bench_ingest.py,
# bench/bench_restream.py) measure against, installed once if missing.
bench-deps:
	@{ command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } && [ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || { \
		echo "Installing nginx and libnginx-mod-rtmp with apt-get"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx libnginx-mod-rtmp >/dev/null; }

install: $(STAMP) $(NODE_STAMP) system-deps

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py runstack

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy api workers rtmp_ingest transcoder hls_out tidecast_common

test: install browser-deps deploy-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy api workers rtmp_ingest transcoder hls_out tidecast_common
	$(PY) -m pytest

# Restreaming CPU and memory per destination beside nginx-rtmp's push (takes a few minutes).
bench: install bench-deps
	$(PY) bench/bench_restream.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
