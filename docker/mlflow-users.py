"""Creates gaplab's MLflow users in docker-compose.yml (idempotent; run once per `up`).

The service account (`gaplab`, an MLflow admin: it grants the roles' reads per experiment) and
one user per gaplab role (pi, researcher, viewer), with the passwords from the environment
(.env). The same as stack/mlflow-auth.ts `provisionMlflowUsers` does for the local stack.
"""

import base64
import json
import os
import sys
import urllib.error
import urllib.request

URI = os.environ.get("MLFLOW_URI", "http://mlflow:5000")
ADMIN = ("admin", os.environ["MLFLOW_ADMIN_PASSWORD"])
USERS = {
    "gaplab": os.environ["MLFLOW_SERVICE_PASSWORD"],
    "pi": os.environ["MLFLOW_PI_PASSWORD"],
    "researcher": os.environ["MLFLOW_RESEARCHER_PASSWORD"],
    "viewer": os.environ["MLFLOW_VIEWER_PASSWORD"],
}


def call(method, route, body):
    token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    req = urllib.request.Request(
        URI + route,
        data=json.dumps(body).encode(),
        method=method,
        headers={"authorization": f"Basic {token}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


for name, password in USERS.items():
    status, text = call("POST", "/api/2.0/mlflow/users/create", {"username": name, "password": password})
    if status >= 400:
        if "already exists" not in text.lower() and "RESOURCE_ALREADY_EXISTS" not in text:
            sys.exit(f"creating MLflow user {name}: {status} {text[:300]}")
        status, text = call(
            "PATCH", "/api/2.0/mlflow/users/update-password", {"username": name, "password": password}
        )
        if status >= 400:
            sys.exit(f"setting MLflow user {name}'s password: {status} {text[:300]}")
status, text = call("PATCH", "/api/2.0/mlflow/users/update-admin", {"username": "gaplab", "is_admin": True})
if status >= 400:
    sys.exit(f"making gaplab an MLflow admin: {status} {text[:300]}")
print("MLflow users ready: gaplab (service), pi, researcher, viewer")
