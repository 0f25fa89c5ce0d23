#!/usr/bin/env bash
# Validates the deployment examples without a cluster or a Docker engine:
#  - kubernetes/*.yaml against the API schemas of Kubernetes 1.29 and 1.37, strictly (an
#    unknown field is an error), with kubernetes-validate from PyPI (installed when missing),
#    then kubernetes/cross_check.py: references between the objects, and the sidecar's
#    security context, probes, shared Secret and route;
#  - compose/docker-compose.yml with Compose's own validator (`docker compose config`, else
#    `docker-compose config`; as root, Debian's docker-compose is installed when neither is
#    there), or, failing all of that, a YAML parse with a few structural checks.
# Exit status 0 when everything passes.
set -euo pipefail
cd "$(dirname "$0")"

KUBERNETES_VALIDATE=1.37.0
KUBERNETES_VERSIONS=(1.29.0 1.37.0)
PYTHON=${PYTHON:-python3}

log() { printf '\n== %s\n' "$*"; }

version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]; }

ensure_kubernetes_validate() {
  local installed
  installed=$("$PYTHON" -m kubernetes_validate --version 2>/dev/null || true)
  if [ -n "$installed" ] && version_at_least "$installed" "$KUBERNETES_VALIDATE"; then
    return
  fi
  log "Installing kubernetes-validate $KUBERNETES_VALIDATE from PyPI"
  PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE"
}

# Prints the command that validates a Compose file, or nothing.
compose_command() {
  if docker compose version >/dev/null 2>&1; then
    echo "docker compose"
  elif command -v docker-compose >/dev/null 2>&1; then
    echo "docker-compose"
  fi
}

ensure_compose() {
  if [ -n "$(compose_command)" ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    return
  fi
  log "Installing Debian's docker-compose (its validator needs no Docker engine)"
  local install=(apt-get install -y -qq --no-install-recommends docker-compose)
  DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null; } \
    || echo "could not install docker-compose; falling back to a YAML parse"
}

log "Kubernetes manifests: schemas"
ensure_kubernetes_validate
manifests=(kubernetes/*.yaml)
for version in "${KUBERNETES_VERSIONS[@]}"; do
  "$PYTHON" -m kubernetes_validate --strict --no-warn -k "$version" "${manifests[@]}"
done

log "Kubernetes manifests: references and sidecar settings"
"$PYTHON" kubernetes/cross_check.py "${manifests[@]}"

log "Compose file"
ensure_compose
compose=$(compose_command)
cd compose
if [ -n "$compose" ]; then
  # env.example stands in for the operator's .env, which holds the required values.
  $compose --env-file env.example -f docker-compose.yml config --quiet
  echo "INFO docker-compose.yml is valid ($compose config)"
else
  "$PYTHON" - docker-compose.yml <<'PY'
import sys
import yaml

path = sys.argv[1]
with open(path, encoding="utf-8") as file:
    doc = yaml.safe_load(file)
problems = []
allowed = {"services", "volumes", "networks", "secrets", "configs", "name"}
problems += [f"unknown top-level key {k}" for k in doc if k not in allowed and not k.startswith("x-")]
for name, service in doc["services"].items():
    if "image" not in service and "build" not in service:
        problems.append(f"service {name} has neither image nor build")
    for needed in (service.get("depends_on") or {}):
        if needed not in doc["services"]:
            problems.append(f"service {name} depends on unknown service {needed}")
    for secret in service.get("secrets") or []:
        if secret not in (doc.get("secrets") or {}):
            problems.append(f"service {name} uses undeclared secret {secret}")
for problem in problems:
    print(f"ERROR {path}: {problem}")
if problems:
    sys.exit(1)
print(f"INFO {path} parses (no Compose validator here: YAML and structure only)")
PY
fi
