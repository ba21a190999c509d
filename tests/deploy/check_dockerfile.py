#!/usr/bin/python3
"""Checks deploy/Dockerfile without a Docker engine (none is packaged for CI, nor is hadolint).

usage: check_dockerfile.py REPO_ROOT BINARY...

What it proves, each against the real thing rather than a copy:
  * the build stage installs its packages through scripts/install-deps.sh (one package list for every machine);
  * every runtime package exists in Debian (is known to dpkg here, where install-deps.sh installed the same set);
  * the runtime stage brings every shared library that the built BINARYs load: the Debian package owning each
    library (ldd + dpkg -S) must be installed by the runtime stage or be pulled in by one it installs
    (dependency closure read from dpkg's status database), and it installs nothing that provides none of them;
  * the runtime stage copies the binaries from the build stage, runs as a non-root numeric user, declares the
    data volume, exposes the gRPC and metrics ports, checks health through `gpt4rec-cli health`, and starts the
    server in exec form.
Exit status 1 with one line per problem.
"""
import json
import os
import re
import shlex
import subprocess
import sys

def base_image_roots():
    """What debian:bookworm-slim starts from: the Essential and Priority: required packages (their closure is
    taken below). Read from dpkg here, a Debian 12 machine, instead of a hand-written list."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Essential}\t${Priority}\n"],
                         capture_output=True, text=True, check=True).stdout
    return {l.split("\t")[0] for l in out.splitlines() if l.split("\t")[1] == "yes" or l.split("\t")[2] == "required"}


def fail(problems):
    for p in problems:
        print("check_dockerfile: " + p)
    return 1 if problems else 0


def logical_lines(text):
    """Dockerfile instructions with continuations joined and comments dropped."""
    out, cur = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not cur and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        out.append((cur + line).strip())
        cur = ""
    if cur:
        out.append(cur.strip())
    return out


def stages(lines):
    """[(stage name, [instructions])] in order."""
    result = []
    for line in lines:
        word = line.split(None, 1)[0].upper()
        if word == "FROM":
            m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
            result.append({"image": m.group(1), "name": m.group(2) or str(len(result)), "lines": []})
        elif result:
            result[-1]["lines"].append(line)
    return result


def apt_packages(run_line):
    """Package names of every `apt-get install` in one RUN line."""
    pkgs = []
    for cmd in re.split(r"&&|;|\|\|", run_line):
        words = shlex.split(cmd)
        words = [w for w in words if "=" not in w or w.startswith("-")]  # drop VAR=value prefixes
        if len(words) >= 3 and words[0] in ("apt-get", "apt") and "install" in words:
            after = words[words.index("install") + 1:]
            pkgs += [w for w in after if not w.startswith("-")]
    return pkgs


def install_deps_packages(path):
    text = open(path).read()
    m = re.search(r"PACKAGES=\((.*?)\)", text, re.S)
    return set(m.group(1).split()) if m else set()


def dpkg_installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


def dependency_closure(roots):
    """All packages reachable through Depends/Pre-Depends of installed packages (Provides resolved)."""
    status = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Provides}\t${Depends}, ${Pre-Depends}\n"],
                            capture_output=True, text=True, check=True).stdout
    depends, provided_by = {}, {}
    for line in status.splitlines():
        name, provides, deps = (line.split("\t") + ["", ""])[:3]
        depends[name] = deps
        for p in provides.split(","):
            p = p.strip().split(" ")[0]
            if p:
                provided_by.setdefault(p, []).append(name)
    seen, todo = set(), list(roots)
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        for clause in depends.get(pkg, "").split(","):
            for alt in clause.split("|"):
                name = alt.strip().split(" ")[0].split(":")[0]
                if not name:
                    continue
                targets = [name] if name in depends else provided_by.get(name, [])
                if targets:
                    todo.extend(targets)
                    break  # first satisfiable alternative, as apt would pick
    return seen


def library_packages(binaries):
    """{package: [libraries]} for every shared library the binaries load (one dpkg -S call per path spelling)."""
    libs = {}  # resolved path -> soname as ldd printed it
    for binary in binaries:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            m = re.search(r"=>\s+(/\S+)", line)
            if m:
                libs[os.path.realpath(m.group(1))] = os.path.basename(m.group(1))
    owners, unowned = {}, dict(libs)
    # dpkg knows each file under one spelling; with merged /usr, /lib/... and /usr/lib/... name the same file.
    for spell in (lambda p: p, lambda p: p.replace("/usr/lib/", "/lib/", 1), lambda p: p.replace("/lib/", "/usr/lib/", 1)):
        if not unowned:
            break
        query = {spell(p): p for p in unowned}
        out = subprocess.run(["dpkg", "-S"] + list(query), capture_output=True, text=True).stdout
        for line in out.splitlines():
            pkgs, _, path = line.partition(": ")
            if path in query and query[path] in unowned:
                pkg = pkgs.split(",")[0].split(":")[0].strip()
                owners.setdefault(pkg, []).append(unowned.pop(query[path]))
    if unowned:
        owners["?unowned"] = sorted(unowned)
    return owners


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    root, binaries = argv[1], argv[2:]
    problems = []
    dockerfile = open(os.path.join(root, "deploy", "Dockerfile")).read()
    st = stages(logical_lines(dockerfile))
    if len(st) < 2:
        return fail(["expected a multi-stage build (build + runtime), found %d stage(s)" % len(st)])
    build, runtime = st[0], st[-1]
    for s in st:
        if not s["image"].startswith("debian:bookworm"):
            problems.append("stage %s is based on %s, not debian:bookworm*" % (s["name"], s["image"]))

    # Build stage: packages come from scripts/install-deps.sh, nowhere else.
    build_runs = [l for l in build["lines"] if l.upper().startswith("RUN")]
    if not any("scripts/install-deps.sh" in l for l in build_runs):
        problems.append("build stage does not run scripts/install-deps.sh")
    deps = install_deps_packages(os.path.join(root, "scripts", "install-deps.sh"))
    if not deps:
        problems.append("no PACKAGES=( ... ) list found in scripts/install-deps.sh")
    for l in build_runs:
        for p in apt_packages(l):
            if p not in deps:
                problems.append("build stage installs %s, which scripts/install-deps.sh does not list" % p)
    for target in ("gpt4rec-server", "gpt4rec-cli"):
        if not any("--target" in l and target in l for l in build_runs):
            problems.append("build stage does not build target %s" % target)

    # Runtime stage: its packages exist and cover every shared library of the binaries.
    runtime_pkgs = [p for l in runtime["lines"] if l.upper().startswith("RUN") for p in apt_packages(l)]
    if not runtime_pkgs:
        problems.append("runtime stage installs no packages")
    for p in runtime_pkgs:
        if p.endswith("-dev"):
            problems.append("runtime stage installs a -dev package: %s" % p)
        if not dpkg_installed(p):
            problems.append("runtime package %s is not a Debian package installed by scripts/install-deps.sh's "
                            "set (misspelt, or a version the build does not use)" % p)
    closure = dependency_closure(runtime_pkgs) | dependency_closure(base_image_roots())
    needed = library_packages(binaries)
    for p in runtime_pkgs:
        if p not in needed:
            problems.append("runtime package %s provides no library the binaries load (drop it)" % p)
    for pkg, libs in sorted(needed.items()):
        if pkg not in closure:
            problems.append("%s needs %s from package %s, which the runtime stage does not install"
                            % (", ".join(os.path.basename(b) for b in binaries), ", ".join(sorted(set(libs))), pkg))

    # Runtime stage shape.
    instr = {}
    for l in runtime["lines"]:
        instr.setdefault(l.split(None, 1)[0].upper(), []).append(l.split(None, 1)[1] if " " in l else "")
    copies = " ".join(instr.get("COPY", []))
    for b in ("gpt4rec-server", "gpt4rec-cli"):
        if not re.search(r"--from=%s\b.*\b%s\b" % (re.escape(build["name"]), b), copies):
            problems.append("runtime stage does not COPY --from=%s the %s binary" % (build["name"], b))
    user = (instr.get("USER") or [""])[-1].split(":")[0]
    if not user or user in ("root", "0") or not user.isdigit():
        problems.append("runtime USER must be a numeric non-root uid (Kubernetes runAsNonRoot needs one), got %r"
                        % user)
    volumes = " ".join(instr.get("VOLUME", []))
    if "/var/lib/gpt4rec" not in volumes:
        problems.append("no VOLUME for /var/lib/gpt4rec")
    exposed = " ".join(instr.get("EXPOSE", [])).split()
    for port in ("50051", "9464"):
        if port not in exposed:
            problems.append("port %s not EXPOSEd" % port)
    health = " ".join(instr.get("HEALTHCHECK", []))
    if not re.search(r"CMD\s+\[.*gpt4rec-cli\",\s*\"health\"", health):
        problems.append("HEALTHCHECK must run [\"gpt4rec-cli\", \"health\", ...] in exec form")
    entry = (instr.get("ENTRYPOINT") or [""])[-1]
    try:
        if json.loads(entry) != ["/usr/local/bin/gpt4rec-server"]:
            problems.append("ENTRYPOINT must be [\"/usr/local/bin/gpt4rec-server\"], got %s" % entry)
    except ValueError:
        problems.append("ENTRYPOINT is not in exec (JSON) form: %s" % entry)
    cmd = (instr.get("CMD") or ["[]"])[-1]
    try:
        args = json.loads(cmd)
        if "--data_dir=/var/lib/gpt4rec" not in args:
            problems.append("CMD does not point --data_dir at the volume /var/lib/gpt4rec")
    except ValueError:
        problems.append("CMD is not in exec (JSON) form: %s" % cmd)

    if not problems:
        print("check_dockerfile: OK (%d stages; runtime installs %d packages covering %d library packages of %s)"
              % (len(st), len(runtime_pkgs), len(needed), ", ".join(os.path.basename(b) for b in binaries)))
    return fail(problems)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
