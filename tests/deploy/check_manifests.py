#!/usr/bin/python3
"""Lints and cross-checks the YAML in deploy/: Kubernetes manifests, compose.yaml, prometheus.yml.

usage: check_manifests.py REPO_ROOT

yamllint (Debian's, with deploy/.yamllint) catches syntax and style; the checks below catch what a linter
cannot: that the pieces refer to each other correctly (a probe on a port the container does not open, a
Service that selects no pod, a $(VAR) that Kubernetes would leave unexpanded, a scrape target that is not the
server's metrics port, a volume that is not the data directory). No cluster or Docker engine is needed.
Exit status 1 with one line per problem.
"""
import glob
import os
import re
import subprocess
import sys

import yaml

problems = []


def problem(msg):
    problems.append(msg)


def flag(args, name):
    """Value of --name=value in an argument list, or None."""
    for a in args or []:
        if a.startswith("--%s=" % name):
            return a.split("=", 1)[1]
    return None


def port_of(addr):
    return int(addr.rsplit(":", 1)[1]) if addr and ":" in addr else None


def run_yamllint(root, files):
    try:
        r = subprocess.run(["yamllint", "-f", "parsable", "-c", os.path.join(root, "deploy", ".yamllint")] + files,
                           capture_output=True, text=True)
    except FileNotFoundError:
        problem("yamllint is not installed (scripts/install-deps.sh installs it)")
        return
    if r.returncode != 0 or r.stdout.strip():
        problem("yamllint:\n" + r.stdout + r.stderr)


def dockerfile_uid(root):
    text = open(os.path.join(root, "deploy", "Dockerfile")).read()
    users = re.findall(r"^USER\s+(\d+)", text, re.M)
    return int(users[-1]) if users else None


def check_k8s(root):
    k8s = os.path.join(root, "deploy", "k8s")
    docs = {}
    for path in sorted(glob.glob(os.path.join(k8s, "*.yaml"))):
        for d in yaml.safe_load_all(open(path)):
            if d:
                docs.setdefault(d.get("kind"), []).append((os.path.basename(path), d))
    kust = [d for _, d in docs.get("Kustomization", [])]
    if not kust:
        problem("k8s: no kustomization.yaml")
    for k in kust:
        for res in k.get("resources", []):
            if not os.path.exists(os.path.join(k8s, res)):
                problem("k8s: kustomization lists missing file %s" % res)
    sts = [d for _, d in docs.get("StatefulSet", [])]
    if len(sts) != 1:
        problem("k8s: expected exactly one StatefulSet, found %d" % len(sts))
        return
    s = sts[0]["spec"]
    if s.get("replicas") != 1:
        problem("k8s: StatefulSet replicas must be 1 (one embedded RocksDB per volume, one writer)")
    pod = s["template"]["spec"]
    labels = s["template"]["metadata"].get("labels", {})
    if s["selector"].get("matchLabels") != {k: labels.get(k) for k in s["selector"].get("matchLabels", {})}:
        problem("k8s: StatefulSet selector does not match its pod template labels")
    containers = pod.get("containers", [])
    c = next((c for c in containers if "gpt4rec" in c.get("image", "")), None)
    if c is None:
        problem("k8s: no container runs the gpt4rec-serve image")
        return
    args = c.get("args", [])
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    grpc_port, metrics_port = port_of(flag(args, "addr")), flag(args, "metrics_port")
    if ports.get("grpc") != grpc_port:
        problem("k8s: containerPort 'grpc' (%s) differs from --addr's port (%s)" % (ports.get("grpc"), grpc_port))
    if metrics_port is None or ports.get("metrics") != int(metrics_port):
        problem("k8s: containerPort 'metrics' differs from --metrics_port")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        p = c.get(probe)
        if not p or "grpc" not in p:
            problem("k8s: %s must be a native gRPC probe (grpc: port:)" % probe)
        elif p["grpc"].get("port") != grpc_port:
            problem("k8s: %s probes port %s, the server listens on %s" % (probe, p["grpc"].get("port"), grpc_port))
    # Every $(VAR) must be defined, or Kubernetes passes the text "$(VAR)" through unchanged.
    defined = {e["name"] for e in c.get("env", [])}
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for _, d in docs.get("ConfigMap", [])}
    secrets = {d["metadata"]["name"]: set(d.get("stringData", {}) or {}) | set(d.get("data", {}) or {})
               for _, d in docs.get("Secret", [])}
    for ref in c.get("envFrom", []):
        name = ref.get("configMapRef", {}).get("name")
        if name not in configmaps:
            problem("k8s: envFrom refers to ConfigMap %s, which no manifest defines" % name)
        defined |= set(configmaps.get(name, {}))
    for a in args:
        for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", a):
            if var not in defined:
                problem("k8s: argument %s uses $(%s), which no env/envFrom defines" % (a, var))
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref and ref["key"] not in secrets.get(ref["name"], set()):
            problem("k8s: env %s reads key %s of Secret %s, absent from secret.example.yaml"
                    % (e["name"], ref["key"], ref["name"]))
    # Data directory on the persistent volume.
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    claims = [t["metadata"]["name"] for t in s.get("volumeClaimTemplates", [])]
    if not claims:
        problem("k8s: StatefulSet has no volumeClaimTemplates (data would not persist)")
    elif mounts.get(claims[0]) != flag(args, "data_dir"):
        problem("k8s: --data_dir (%s) is not the persistent volume's mountPath (%s)"
                % (flag(args, "data_dir"), mounts.get(claims[0])))
    # Security context.
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    uid = dockerfile_uid(root)
    if not psc.get("runAsNonRoot"):
        problem("k8s: pod securityContext lacks runAsNonRoot: true")
    if psc.get("runAsUser") != uid or psc.get("fsGroup") != uid:
        problem("k8s: runAsUser/fsGroup (%s/%s) differ from the image's USER %s"
                % (psc.get("runAsUser"), psc.get("fsGroup"), uid))
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problem("k8s: pod seccompProfile is not RuntimeDefault")
    if csc.get("allowPrivilegeEscalation") is not False or csc.get("readOnlyRootFilesystem") is not True:
        problem("k8s: container must set allowPrivilegeEscalation: false and readOnlyRootFilesystem: true")
    if "ALL" not in csc.get("capabilities", {}).get("drop", []):
        problem("k8s: container does not drop ALL capabilities")
    if "/tmp" not in mounts.values():
        problem("k8s: read-only root filesystem but no writable /tmp volume")
    # Services select the pod and name real ports.
    services = {d["metadata"]["name"]: d for _, d in docs.get("Service", [])}
    sn = s.get("serviceName")
    if sn not in services or services[sn]["spec"].get("clusterIP") != "None":
        problem("k8s: serviceName %s is not a headless Service in the manifests" % sn)
    for name, svc in services.items():
        sel = svc["spec"].get("selector", {})
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            problem("k8s: Service %s selects no pod of the StatefulSet" % name)
        for p in svc["spec"].get("ports", []):
            if p.get("targetPort") not in ports and p.get("targetPort") not in ports.values():
                problem("k8s: Service %s targets port %s, which the container does not declare"
                        % (name, p.get("targetPort")))


def check_compose(root):
    deploy = os.path.join(root, "deploy")
    compose = yaml.safe_load(open(os.path.join(deploy, "compose.yaml")))
    services = compose.get("services", {})
    app = services.get("gpt4rec")
    if not app:
        problem("compose: no gpt4rec service")
        return
    build = app.get("build", {})
    if not os.path.samefile(os.path.join(deploy, build.get("context", "."), build.get("dockerfile", "Dockerfile")),
                            os.path.join(deploy, "Dockerfile")):
        problem("compose: gpt4rec does not build deploy/Dockerfile")
    args = app.get("command", [])
    data_dir, metrics = flag(args, "data_dir"), flag(args, "metrics_port")
    mounts = [v.split(":") for v in app.get("volumes", []) if isinstance(v, str)]
    named = compose.get("volumes", {}) or {}
    if not any(len(m) >= 2 and m[1] == data_dir and m[0] in named for m in mounts):
        problem("compose: --data_dir=%s is not a named volume of the gpt4rec service" % data_dir)
    if app.get("read_only") and "/tmp" not in (app.get("tmpfs") or []):
        problem("compose: read_only without a tmpfs /tmp")
    prom = services.get("prometheus")
    if not prom:
        problem("compose: no prometheus service")
        return
    cfg_mount = next((v.split(":") for v in prom.get("volumes", []) if "prometheus.yml" in v), None)
    if not cfg_mount or not os.path.exists(os.path.join(deploy, cfg_mount[0])):
        problem("compose: prometheus does not mount deploy/prometheus.yml")
    elif "--config.file=%s" % cfg_mount[1] not in prom.get("command", []):
        problem("compose: prometheus --config.file is not the mounted prometheus.yml")
    cfg = yaml.safe_load(open(os.path.join(deploy, "prometheus.yml")))
    targets = [t for job in cfg.get("scrape_configs", []) if job.get("metrics_path", "/metrics") == "/metrics"
               for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
    if "gpt4rec:%s" % metrics not in targets:
        problem("prometheus.yml: no /metrics scrape of gpt4rec:%s (the service's --metrics_port); targets: %s"
                % (metrics, targets))


def check_cluster(root):
    """deploy/cluster/compose.yaml and deploy/k8s-cluster: replicas on an event log their NATS services serve."""
    deploy = os.path.join(root, "deploy")
    compose = yaml.safe_load(open(os.path.join(deploy, "cluster", "compose.yaml")))
    services = compose.get("services", {})
    nats = {n for n, s in services.items() if "nats" in s.get("image", "")}
    if len(nats) < 3:
        problem("cluster compose: needs 3 NATS services, found %s" % sorted(nats))
    for n in nats:
        cmd = services[n].get("command", [])
        if "-js" not in cmd:
            problem("cluster compose: %s runs without JetStream (-js)" % n)
        routes = cmd[cmd.index("--routes") + 1] if "--routes" in cmd else ""
        peers = set(re.findall(r"nats://([^:,]+):6222", routes))
        if peers != nats - {n}:
            problem("cluster compose: %s routes to %s, expected the other NATS services %s"
                    % (n, sorted(peers), sorted(nats - {n})))
    replicas = {n: s for n, s in services.items() if "gpt4rec" in s.get("image", "")}
    if len(replicas) < 2:
        problem("cluster compose: fewer than 2 gpt4rec replicas")
    named = compose.get("volumes", {}) or {}
    data_volumes = set()
    for n, s in replicas.items():
        args = s.get("command", [])
        log = flag(args, "log") or ""
        hosts = set(re.findall(r"nats://([^:,]+):4222", log))
        if not hosts or not hosts <= nats:
            problem("cluster compose: %s --log=%s does not name the NATS services' client port" % (n, log))
        mounts = [v.split(":") for v in s.get("volumes", []) if isinstance(v, str)]
        mine = [m[0] for m in mounts if len(m) >= 2 and m[1] == flag(args, "data_dir") and m[0] in named]
        if not mine:
            problem("cluster compose: %s --data_dir is not a named volume" % n)
        data_volumes.update(mine)
    if len(data_volumes) != len(replicas):
        problem("cluster compose: replicas share a data volume (each needs its own store)")
    k8s = os.path.join(deploy, "k8s-cluster")
    kust = yaml.safe_load(open(os.path.join(k8s, "kustomization.yaml")))
    if "../k8s" not in kust.get("resources", []):
        problem("k8s-cluster: kustomization does not build on ../k8s")
    ops = [op for p in kust.get("patches", []) for op in yaml.safe_load(open(os.path.join(k8s, p["path"])))]
    if not any(op.get("path") == "/spec/replicas" and op.get("value", 0) > 1 for op in ops):
        problem("k8s-cluster: the StatefulSet is not scaled past one replica")
    if not any(str(op.get("value", "")).startswith("--log=nats://") for op in ops):
        problem("k8s-cluster: replicas are scaled without --log (several writers of unrelated stores)")


def main(argv):
    root = argv[1] if len(argv) > 1 else "."
    files = ([os.path.join(root, "deploy", f) for f in ("compose.yaml", "prometheus.yml", ".yamllint")]
             + sorted(glob.glob(os.path.join(root, "deploy", "k8s", "*.yaml")))
             + [os.path.join(root, "deploy", "cluster", "compose.yaml")]
             + sorted(glob.glob(os.path.join(root, "deploy", "k8s-cluster", "*.yaml"))))
    run_yamllint(root, files)
    check_k8s(root)
    check_compose(root)
    check_cluster(root)
    for p in problems:
        print("check_manifests: " + p)
    if not problems:
        print("check_manifests: OK (%d YAML files linted and cross-checked)" % len(files))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
