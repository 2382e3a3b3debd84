# One image, two roles: the web (default command) or the scheduler
# (`docker run IMAGE python manage.py runscheduler`).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cronadmin cronadmin
COPY jobs jobs
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir '.[postgres]'

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 cronadmin
COPY --from=build /venv /venv
WORKDIR /app
COPY --chown=cronadmin . .
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=cronadmin.settings
RUN python manage.py collectstatic --no-input -v0
USER cronadmin
EXPOSE 8000
# The scheduler role overrides this with `python manage.py schedulerhealth`.
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["gunicorn", "cronadmin.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2"]
