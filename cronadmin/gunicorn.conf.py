"""Gunicorn settings for the web process, from the environment (see docs/deploy.md).

Start with `gunicorn -c cronadmin/gunicorn.conf.py`; every value can be overridden on the
command line as usual.
"""

import os
from pathlib import Path

from cronadmin.env import env_bool, env_int, env_str

wsgi_app = "cronadmin.wsgi:application"
bind = [env_str("GUNICORN_BIND", f"0.0.0.0:{env_int('PORT', 8000, minimum=1)}")]
# Pages are short and mostly wait on the database: a few processes with a few threads each keep
# memory low while one slow request does not hold a whole process.
workers = env_int("WEB_CONCURRENCY", 2, minimum=1)
threads = env_int("GUNICORN_THREADS", 4, minimum=1)
timeout = env_int("GUNICORN_TIMEOUT", 30, minimum=1)
graceful_timeout = env_int("GUNICORN_GRACEFUL_TIMEOUT", 20, minimum=0)
keepalive = env_int("GUNICORN_KEEPALIVE", 5, minimum=0)
# Recycle workers now and then so a slow leak cannot grow for ever; the jitter keeps them from
# all restarting at once.
max_requests = env_int("GUNICORN_MAX_REQUESTS", 2000, minimum=0)
max_requests_jitter = max_requests // 10
accesslog = "-" if env_bool("GUNICORN_ACCESS_LOG", True) else None
errorlog = "-"
loglevel = env_str("GUNICORN_LOG_LEVEL", "info")
# Gunicorn takes X-Forwarded-Proto (and sets https) only from these addresses.
forwarded_allow_ips = env_str("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# A worker's heartbeat file on disk-backed /tmp can stall under I/O load inside containers.
if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
    worker_tmp_dir = "/dev/shm"
