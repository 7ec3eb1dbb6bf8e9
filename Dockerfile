# hashshare's image. Builder stage: compile the wheels (the match kernel and pdqhash are C/C++).
# Runtime stage: the slim base with those wheels installed, no compiler, a non-root user.
#   docker build -t hashshare:0.1.0 .
#   docker run --rm hashshare:0.1.0 db upgrade       (migrations: a separate step, never at start-up)
#   docker run -p 8000:8000 hashshare:0.1.0          (hashshare serve; HASHSHARE_WORKERS sets workers)
FROM python:3.11-slim-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential=12.9 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# setup.py builds the compiled match kernel (hashshare.matching._kernel); without it the
# service would silently fall back to the numpy kernel. tests/test_container.py runs the
# first `pip wheel` below (the project's own wheel) on these same files, and checks that the
# kernel is in the wheel and loads.
COPY pyproject.toml setup.py README.md ./
COPY services ./services
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/hashshare-*.whl

FROM python:3.11-slim-bookworm
RUN useradd --system --user-group --uid 10001 --home-dir /app --shell /usr/sbin/nologin hashshare
WORKDIR /app
COPY --from=builder /wheels /wheels
# The import fails the build if the compiled kernel is missing from the installed package.
RUN pip install --no-cache-dir --no-index /wheels/*.whl \
 && rm -rf /wheels \
 && python -c "import hashshare.matching._kernel" \
 && mkdir -p /app/data \
 && chown 10001:10001 /app/data
USER 10001:10001
ENV HASHSHARE_DATABASE_URL=sqlite+aiosqlite:////app/data/hashshare.db \
    HASHSHARE_WORKERS=1 \
    PYTHONUNBUFFERED=1
VOLUME ["/app/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["hashshare"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
