# The router's image, built once (`docker compose build`, or `docker build -t callrouter .`) and
# started as often as needed: nothing is installed at start and nothing is fetched from the network.
FROM python:3.11-slim

# the package from this checkout only (see .dockerignore): no tests, no benchmarks, no venv
WORKDIR /build
COPY pyproject.toml README.md ./
COPY router ./router
RUN pip install --no-cache-dir . && rm -rf /build \
    && useradd --system --home-dir /var/lib/callrouter --create-home callrouter

# the shipped rules, for a first start; mount your own over /etc/callrouter/rules
COPY rules /etc/callrouter/rules

USER callrouter
WORKDIR /var/lib/callrouter
# the spool (what the store could not take at shutdown) lives in STATE_DIRECTORY: give it a volume
ENV ROUTER_RULES=/etc/callrouter/rules STATE_DIRECTORY=/var/lib/callrouter PYTHONUNBUFFERED=1
EXPOSE 4573 8080
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["router", "serve"]
