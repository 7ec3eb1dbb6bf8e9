# Builder: compile wheels (native extensions need a compiler), then a slim runtime without one.
FROM python:3.11-slim-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services ./services
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /app hashshare
WORKDIR /app
COPY --from=builder /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels hashshare && rm -rf /wheels
USER hashshare
ENV HASHSHARE_DATABASE_URL=sqlite+aiosqlite:////app/data/hashshare.db \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
# Run migrations as a separate step (`hashshare db upgrade`, see deploy/), not at start-up.
CMD ["hashshare", "serve", "--host", "0.0.0.0", "--port", "8000"]
