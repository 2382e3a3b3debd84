"""Exit 0 when the local web answers the health path with 200, else 1 (for HEALTHCHECK).

The request names the first of ALLOWED_HOSTS as its Host, which the web would otherwise refuse;
the health path is exempt from the HTTPS redirect (see SECURE_REDIRECT_EXEMPT).
"""

import http.client
import os
import sys


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    path = os.environ.get("HEALTHCHECK_PATH", "/healthz")
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = hosts[0].lstrip(".") if hosts and hosts[0] != "*" else "localhost"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=4)
    try:
        connection.request("GET", path, headers={"Host": host})
        status = connection.getresponse().status
    except OSError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if status != 200:
        print(f"healthcheck: GET {path} answered {status}", file=sys.stderr)
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
