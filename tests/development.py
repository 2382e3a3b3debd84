"""A pytest plugin (loaded with -p from pyproject.toml, before Django reads its settings): the
test suite runs in development mode, and so do the scheduler and server processes it starts,
which inherit this environment. Tests of production behaviour build their own environment."""

import os

os.environ.setdefault("CRONADMIN_DEV", "1")
# Tests never ask DNS: saving a job checks IP literals and `localhost` names only.
os.environ.setdefault("CRONADMIN_HTTP_SAVE_RESOLVE_SECONDS", "0")
