"""Checks what a schema validator cannot see in the example manifests: that the objects refer
to each other correctly, and that the sidecar is deployed the way deploy/README.md says.

Usage: python3 cross_check.py MANIFEST.yaml...   (exit 1 and one line per problem)
"""

import sys

import yaml

SIDECAR = "scim-sidecar"
# The image's SCIM_LISTEN (Dockerfile): the port every probe and route must reach.
SIDECAR_PORT = 8080
SCIM_PATH = "/scim/v2"


def load(paths):
    objects = []
    for path in paths:
        with open(path, encoding="utf-8") as file:
            objects += [doc for doc in yaml.safe_load_all(file) if doc]
    return objects


def by_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o.get("kind") == kind}


def secret_keys(secret):
    return set(secret.get("data") or {}) | set(secret.get("stringData") or {})


def port_number(container, port):
    """A probe's or a Service's port (a name or a number) as the container's number."""
    for declared in container.get("ports") or []:
        if port in (declared.get("name"), declared["containerPort"]):
            return declared["containerPort"]
    return None


def env_source(container, name):
    for var in container.get("env") or []:
        if var["name"] == name:
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            return (ref["name"], ref["key"]) if ref else ("value", var.get("value"))
    return None


def check_pod(problems, where, pod, secrets, config_maps):
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for volume in volumes.values():
        config_map = (volume.get("configMap") or {}).get("name")
        if config_map and config_map not in config_maps:
            problems.append(f"{where}: volume {volume['name']} names no ConfigMap {config_map}")
    for container in pod["containers"]:
        here = f"{where} container {container['name']}"
        for mount in container.get("volumeMounts") or []:
            if mount["name"] not in volumes:
                problems.append(f"{here}: mounts undeclared volume {mount['name']}")
        for var in container.get("env") or []:
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            if not ref or ref.get("optional"):
                continue
            if ref["name"] not in secrets:
                problems.append(f"{here}: {var['name']} names no Secret {ref['name']}")
            elif ref["key"] not in secret_keys(secrets[ref["name"]]):
                problems.append(f"{here}: {var['name']} names no key {ref['key']}")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = (container.get(probe) or {}).get("httpGet")
            if get and port_number(container, get["port"]) is None:
                problems.append(f"{here}: {probe} port {get['port']} is not declared")


def check_sidecar(problems, where, pod):
    containers = {c["name"]: c for c in pod["containers"]}
    sidecar = containers.get(SIDECAR)
    if sidecar is None:
        problems.append(f"{where}: no container named {SIDECAR}")
        return
    here = f"{where} container {SIDECAR}"
    context = sidecar.get("securityContext") or {}
    expected = {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
    }
    for key, value in expected.items():
        if context.get(key) != value:
            problems.append(f"{here}: securityContext.{key} must be {value}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (sidecar.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path:
            problems.append(f"{here}: {probe} must GET {path}")
        elif port_number(sidecar, get.get("port")) != SIDECAR_PORT:
            problems.append(f"{here}: {probe} must reach port {SIDECAR_PORT}")
    resources = sidecar.get("resources") or {}
    if not resources.get("requests") or not (resources.get("limits") or {}).get("memory"):
        problems.append(f"{here}: resources need requests and a memory limit")
    public_url = env_source(sidecar, "SCIM_PUBLIC_URL")
    if not public_url or not str(public_url[1]).startswith("https://") \
            or not str(public_url[1]).endswith(SCIM_PATH):
        problems.append(f"{here}: SCIM_PUBLIC_URL must be https://<host>{SCIM_PATH}")
    for name in ("DATABASE_URL", "SOURCEBOT_ENCRYPTION_KEY"):
        source = env_source(sidecar, name)
        if source is None or source[0] == "value":
            problems.append(f"{here}: {name} must come from a Secret")
    # Tokens are hashed with the app's key: it must be the app's own. (The database URL may
    # differ, for example when the app goes through a transaction-mode PgBouncer.)
    mine = env_source(sidecar, "SOURCEBOT_ENCRYPTION_KEY")
    for other in containers.values():
        theirs = env_source(other, "SOURCEBOT_ENCRYPTION_KEY")
        if other is not sidecar and theirs is not None and theirs != mine:
            problems.append(f"{here}: SOURCEBOT_ENCRYPTION_KEY differs from {other['name']}'s")


def check_routes(problems, services, ingresses, pods):
    for name, service in services.items():
        selector = service["spec"].get("selector") or {}
        matching = [p for p in pods.values() if selector.items() <= p["labels"].items()]
        if not matching:
            problems.append(f"Service {name}: its selector matches no pod template")
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if not any(port_number(c, target) for p in matching for c in p["spec"]["containers"]):
                problems.append(f"Service {name}: targetPort {target} is no container's port")
    routed_to_sidecar = False
    for name, ingress in ingresses.items():
        for rule in ingress["spec"].get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = path["backend"]["service"]
                service = services.get(backend["name"])
                if service is None:
                    problems.append(f"Ingress {name}: no Service {backend['name']}")
                    continue
                wanted = backend["port"].get("name") or backend["port"].get("number")
                ports = [p for p in service["spec"]["ports"] if wanted in (p.get("name"), p["port"])]
                if not ports:
                    problems.append(f"Ingress {name}: Service {backend['name']} has no port {wanted}")
                    continue
                target = ports[0].get("targetPort", ports[0]["port"])
                sidecar_ports = [
                    port_number(c, target)
                    for p in pods.values()
                    for c in p["spec"]["containers"]
                    if c["name"] == SIDECAR
                ]
                if path["path"] == SCIM_PATH and path.get("pathType") == "Prefix" \
                        and SIDECAR_PORT in sidecar_ports:
                    routed_to_sidecar = True
    if ingresses and not routed_to_sidecar:
        problems.append(f"no Ingress routes the Prefix {SCIM_PATH} to the sidecar's port {SIDECAR_PORT}")


def main(paths):
    objects = load(paths)
    secrets = by_kind(objects, "Secret")
    config_maps = by_kind(objects, "ConfigMap")
    problems = []
    pods = {}
    for name, deployment in by_kind(objects, "Deployment").items():
        where = f"Deployment {name}"
        template = deployment["spec"]["template"]
        labels = template["metadata"].get("labels") or {}
        if not deployment["spec"]["selector"]["matchLabels"].items() <= labels.items():
            problems.append(f"{where}: selector does not match the pod template's labels")
        check_pod(problems, where, template["spec"], secrets, config_maps)
        check_sidecar(problems, where, template["spec"])
        pods[name] = {"labels": labels, "spec": template["spec"]}
    check_routes(problems, by_kind(objects, "Service"), by_kind(objects, "Ingress"), pods)
    for problem in problems:
        print(f"ERROR {problem}")
    if not problems:
        print(f"INFO {', '.join(paths)}: references and sidecar settings are consistent")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
