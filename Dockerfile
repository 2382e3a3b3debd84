# syntax=docker/dockerfile:1
# One image for every role: `web` (the default), `scheduler`, `migrate`, `manage ARGS...`
# (see docker/entrypoint.sh and docs/deploy.md).

# --- build: wheels of every dependency, compiled here so the runtime needs no compiler ---
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cronadmin cronadmin
COPY jobs jobs
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]' && rm /wheels/cronadmin-*.whl

# --- runtime ---
FROM python:3.11-slim
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=cronadmin.settings \
    DATABASE_URL=sqlite:////data/cronadmin.sqlite3 \
    CRONADMIN_OUTPUT_DIR=/data/output \
    PORT=8000
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /venv && /venv/bin/pip install --no-cache-dir --no-index /wheels/*.whl
RUN useradd --create-home --uid 10001 cronadmin && install -d -o cronadmin /data
WORKDIR /app
# The code runs from /app (templates, static and locale sit next to it); only root may change it.
COPY manage.py ./
COPY cronadmin cronadmin
COPY jobs jobs
COPY templates templates
COPY static static
COPY locale locale
COPY docker docker
# Hashed, compressed static files, made once here; the throwaway key exists for this step only.
RUN SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost python manage.py collectstatic --no-input -v0
USER cronadmin
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/app/docker/entrypoint.sh", "healthcheck"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
