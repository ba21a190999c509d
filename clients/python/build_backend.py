"""A PEP 517 build backend with no dependencies beyond the standard library, for gpt4rec-client.

Why not setuptools: pip builds in an isolated environment and would have to download setuptools, which fails
offline; this backend needs nothing but protoc. It generates gpt4rec/v1/recommender_pb2{,_grpc}.py from
proto/gpt4rec/v1/recommender.proto (the repository's, two folders up, or $GPT4REC_PROTO_DIR) and zips them
with the hand-written modules into a wheel. Only wheels are built (no sdist: the proto lives outside this folder).
"""
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

NAME = "gpt4rec_client"
DIST = "gpt4rec-client"
VERSION = "0.1.0"
HERE = os.path.dirname(os.path.abspath(__file__))
REQUIRES = ["grpcio>=1.51", "protobuf>=4.21"]
SUMMARY = "Python client of gpt4rec-serve, the streaming graph recommender (gRPC gpt4rec.v1)"
PROTO = "gpt4rec/v1/recommender.proto"


def _proto_dir():
    for d in (os.environ.get("GPT4REC_PROTO_DIR"), os.path.join(HERE, "..", "..", "proto")):
        if d and os.path.exists(os.path.join(d, PROTO)):
            return os.path.abspath(d)
    raise RuntimeError("gpt4rec-client: %s not found (build from the repository, or set GPT4REC_PROTO_DIR)" % PROTO)


def generate_stubs(out_dir):
    """Writes gpt4rec/v1/recommender_pb2.py and recommender_pb2_grpc.py under out_dir."""
    proto_dir = _proto_dir()
    protoc, plugin = shutil.which("protoc"), shutil.which("grpc_python_plugin")
    if protoc and plugin:
        cmd = [protoc, "--proto_path=" + proto_dir, "--python_out=" + out_dir, "--grpc_out=" + out_dir,
               "--plugin=protoc-gen-grpc=" + plugin, os.path.join(proto_dir, PROTO)]
    else:
        try:
            import grpc_tools  # noqa: F401
        except ImportError:
            raise RuntimeError("gpt4rec-client: need protoc and grpc_python_plugin (Debian: protobuf-compiler, "
                               "protobuf-compiler-grpc) or the grpcio-tools package to generate the stubs")
        cmd = [sys.executable, "-m", "grpc_tools.protoc", "--proto_path=" + proto_dir, "--python_out=" + out_dir,
               "--grpc_python_out=" + out_dir, os.path.join(proto_dir, PROTO)]
    subprocess.run(cmd, check=True)


def _metadata():
    lines = ["Metadata-Version: 2.1", "Name: " + DIST, "Version: " + VERSION, "Summary: " + SUMMARY,
             "Requires-Python: >=3.9"]
    lines += ["Requires-Dist: " + r for r in REQUIRES]
    return "\n".join(lines) + "\n"


def _wheel_name():
    return "%s-%s-py3-none-any.whl" % (NAME, VERSION)


def _dist_info():
    return "%s-%s.dist-info" % (NAME, VERSION)


def _files():
    """(archive path, bytes) of the package, stubs generated now."""
    files = []
    for base, _, names in os.walk(os.path.join(HERE, "gpt4rec")):
        for n in sorted(names):
            if n.endswith(".py") or n == "py.typed":
                path = os.path.join(base, n)
                files.append((os.path.relpath(path, HERE).replace(os.sep, "/"), open(path, "rb").read()))
    with tempfile.TemporaryDirectory() as tmp:
        generate_stubs(tmp)
        for n in ("recommender_pb2.py", "recommender_pb2_grpc.py"):
            files.append(("gpt4rec/v1/" + n, open(os.path.join(tmp, "gpt4rec", "v1", n), "rb").read()))
    return files


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (path, digest, len(data))


# --- PEP 517 hooks ---

def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    d = os.path.join(metadata_directory, _dist_info())
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w") as f:
        f.write(_metadata())
    with open(os.path.join(d, "WHEEL"), "w") as f:
        f.write("Wheel-Version: 1.0\nGenerator: gpt4rec build_backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    return _dist_info()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = _files()
    info = _dist_info()
    files.append((info + "/METADATA", _metadata().encode()))
    files.append((info + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: gpt4rec build_backend\n"
                                   b"Root-Is-Purelib: true\nTag: py3-none-any\n"))
    record = [_record_line(p, d) for p, d in files] + [info + "/RECORD,,"]
    files.append((info + "/RECORD", ("\n".join(record) + "\n").encode()))
    path = os.path.join(wheel_directory, _wheel_name())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for p, d in files:
            info_ = zipfile.ZipInfo(p, date_time=(2026, 1, 1, 0, 0, 0))
            info_.external_attr = 0o644 << 16
            z.writestr(info_, d, zipfile.ZIP_DEFLATED)
    return _wheel_name()
