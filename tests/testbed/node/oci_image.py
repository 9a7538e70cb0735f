"""OCI image archives for the test bed's node, written without a container engine.

An OCI image layout (https://github.com/opencontainers/image-spec, image-layout.md)
packed as one tar: `oci-layout`, `index.json`, and blobs named by their sha256
under `blobs/sha256/` (a manifest, a config, one gzipped layer tar).
`ctr -n k8s.io images import FILE` takes it and names the image after the
index's `io.containerd.image.name` annotation.

Everything is deterministic: fixed mtimes, owners and modes, entries sorted,
gzip without a name or a timestamp, JSON with sorted keys. The same inputs
give the same bytes and so the same digests.

Two images:

- the operator's (`operator_image`): the release binary where the Dockerfile
  puts it, the shared libraries `ldd` lists (with the dynamic loader, and the
  symlinks on their paths, such as Debian's merged /lib -> usr/lib), a CA
  bundle, /etc/passwd and /etc/group lines for uid 65532 and its home, /tmp;
  the config carries the Dockerfile's USER, ENTRYPOINT, CMD and EXPOSE. What
  the distroless base supplies is written here by hand, so `check_dockerfile`
  compares the Dockerfile's final stage with the constants below: the two
  cannot drift apart unnoticed.
- the pause image (`pause_image`): one static program at /pause that waits
  for SIGTERM (./pause, built by ./build).

Standard library only.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import re
import shlex
import stat
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

# What the Dockerfile's final stage says; check_dockerfile() keeps these honest.
BASE_IMAGE = "gcr.io/distroless/cc-debian12:nonroot"
BINARY_SOURCE = "/src/target/release/sitehapair"  # the COPY --from=build source
BINARY_PATH = "/usr/local/bin/sitehapair"
USER = "65532:65532"
ENTRYPOINT = [BINARY_PATH]
CMD = ["run"]
EXPOSED_PORTS = ["8080/tcp"]

# What the distroless :nonroot base supplies and the archive copies by hand.
UID = GID = 65532
USER_NAME = "nonroot"
HOME = "/home/nonroot"
CA_BUNDLE_PATH = "/etc/ssl/certs/ca-certificates.crt"
ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "SSL_CERT_FILE=" + CA_BUNDLE_PATH,
]
HOST_CA_BUNDLES = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]

PAUSE_PATH = "/pause"

MTIME = 0  # every entry's mtime, and the config's "created"
CREATED = "1970-01-01T00:00:00Z"

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"


def oci_arch(machine: str | None = None) -> str:
    m = machine or platform.machine()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(m, m)


# ---------------------------------------------------------------- the layer


@dataclass
class Entry:
    """One entry of a layer: a directory, a regular file or a symlink."""

    path: str  # absolute, normalised
    kind: str  # "dir", "file" or "symlink"
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    data: bytes = b""
    target: str = ""  # for symlinks


@dataclass
class Layer:
    entries: dict[str, Entry] = field(default_factory=dict)

    def _parents(self, path: str) -> None:
        parent = str(PurePosixPath(path).parent)
        if parent != "/" and parent not in self.entries:
            self.add_dir(parent)

    def add_dir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        path = _norm(path)
        old = self.entries.get(path)
        if old is not None and old.kind != "dir":
            raise ValueError(f"{path}: already a {old.kind}")
        self._parents(path)
        if old is None or (mode, uid, gid) != (0o755, 0, 0):
            self.entries[path] = Entry(path, "dir", mode, uid, gid)

    def add_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        path = _norm(path)
        old = self.entries.get(path)
        if old is not None and (old.kind != "file" or old.data != data):
            raise ValueError(f"{path}: two different contents")
        self._parents(path)
        self.entries[path] = Entry(path, "file", mode, data=data)

    def add_symlink(self, path: str, target: str) -> None:
        path = _norm(path)
        old = self.entries.get(path)
        if old is not None and (old.kind != "symlink" or old.target != target):
            raise ValueError(f"{path}: already a {old.kind}")
        self._parents(path)
        self.entries[path] = Entry(path, "symlink", 0o777, target=target)

    def add_host_path(self, host_path: str, image_path: str | None = None) -> None:
        """Copy a host file into the layer at the same path (or image_path),
        reproducing every symlink on the way, so that the path resolves in the
        image as it does on the host (e.g. /lib64/ld-linux-x86-64.so.2 ->
        /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2, /lib -> usr/lib)."""
        self._add_resolving(_norm(host_path), _norm(image_path or host_path), depth=0)

    def _add_resolving(self, host_path: str, image_path: str, depth: int) -> None:
        if depth > 40:
            raise ValueError(f"{host_path}: too many symlinks")
        parts = PurePosixPath(host_path).parts[1:]
        if image_path == host_path:
            # Walk the directories: a symlinked directory becomes a symlink
            # entry, and the rest of the path is resolved at its target.
            for i in range(1, len(parts)):
                prefix = "/" + "/".join(parts[:i])
                if os.path.islink(prefix):
                    target = os.readlink(prefix)
                    self.add_symlink(prefix, target)
                    resolved = _norm(os.path.join(os.path.dirname(prefix), target))
                    rest = "/".join(parts[i:])
                    self._add_resolving(resolved + "/" + rest, resolved + "/" + rest, depth + 1)
                    return
        if os.path.islink(host_path):
            target = os.readlink(host_path)
            self.add_symlink(image_path, target)
            resolved = _norm(os.path.join(os.path.dirname(host_path), target))
            self._add_resolving(resolved, resolved, depth + 1)
            return
        st = os.stat(host_path)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{host_path}: not a regular file")
        with open(host_path, "rb") as f:
            data = f.read()
        self.add_file(image_path, data, 0o755 if st.st_mode & 0o111 else 0o644)

    def tar_bytes(self) -> bytes:
        """The uncompressed layer tar: entries sorted by path, parents first."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.entries):
                e = self.entries[path]
                info = tarfile.TarInfo(path.lstrip("/"))
                info.mtime = MTIME
                info.mode = e.mode
                info.uid, info.gid = e.uid, e.gid
                info.uname = info.gname = ""
                if e.kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif e.kind == "symlink":
                    info.type = tarfile.SYMTYPE
                    info.linkname = e.target
                    tar.addfile(info)
                else:
                    info.type = tarfile.REGTYPE
                    info.size = len(e.data)
                    tar.addfile(info, io.BytesIO(e.data))
        return buf.getvalue()


def _norm(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"{path}: not an absolute path")
    return os.path.normpath(path).replace("//", "/")


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    # No file name and mtime 0 in the header: the same tar gives the same gzip.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=6, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


# ------------------------------------------------------------ shared libraries

_LDD_ARROW = re.compile(r"^\s*(\S+)\s+=>\s+(\S+)\s+\(0x[0-9a-fA-F]+\)\s*$")
_LDD_PLAIN = re.compile(r"^\s*(/\S+)\s+\(0x[0-9a-fA-F]+\)\s*$")


def parse_ldd(output: str) -> list[str]:
    """The absolute paths in `ldd` output: the libraries and the dynamic
    loader, not the vDSO. Raises on a library that was not found."""
    paths, missing = [], []
    for line in output.splitlines():
        m = _LDD_ARROW.match(line)
        if m:
            paths.append(m.group(2))
            continue
        if "=> not found" in line:
            missing.append(line.split()[0])
            continue
        m = _LDD_PLAIN.match(line)
        if m:
            paths.append(m.group(1))
    if missing:
        raise ValueError("ldd: libraries not found: " + ", ".join(missing))
    return sorted(set(paths))


def shared_libraries(binary: str) -> list[str]:
    """What the dynamic linker loads for binary ([] for a static binary)."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    text = r.stdout + r.stderr
    if r.returncode != 0:
        if "not a dynamic executable" in text or "statically linked" in text:
            return []
        raise RuntimeError(f"ldd {binary} failed: {text.strip()}")
    if "statically linked" in text:
        return []
    return parse_ldd(r.stdout)


def host_ca_bundle() -> str:
    for p in HOST_CA_BUNDLES:
        if os.path.isfile(p):
            return p
    raise FileNotFoundError("no CA bundle on this machine (Debian: apt-get install ca-certificates)")


# ----------------------------------------------------------------- the images


def operator_layer(binary: str, ca_bundle: str | None = None) -> Layer:
    layer = Layer()
    with open(binary, "rb") as f:
        layer.add_file(BINARY_PATH, f.read(), 0o755)
    for lib in shared_libraries(binary):
        layer.add_host_path(lib)
    with open(ca_bundle or host_ca_bundle(), "rb") as f:
        layer.add_file(CA_BUNDLE_PATH, f.read(), 0o644)
    layer.add_file(
        "/etc/passwd",
        (
            "root:x:0:0:root:/root:/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
            f"{USER_NAME}:x:{UID}:{GID}:{USER_NAME}:{HOME}:/sbin/nologin\n"
        ).encode(),
    )
    layer.add_file(
        "/etc/group",
        f"root:x:0:\nnogroup:x:65534:\n{USER_NAME}:x:{GID}:\n".encode(),
    )
    layer.add_dir(HOME, 0o700, UID, GID)
    layer.add_dir("/tmp", 0o1777)
    return layer


def operator_config() -> dict:
    return {
        "User": USER,
        "Env": list(ENV),
        "Entrypoint": list(ENTRYPOINT),
        "Cmd": list(CMD),
        "WorkingDir": HOME,
        "ExposedPorts": {p: {} for p in EXPOSED_PORTS},
    }


def pause_layer(pause_binary: str) -> Layer:
    if shared_libraries(pause_binary):
        raise ValueError(f"{pause_binary}: the pause program must be static")
    layer = Layer()
    with open(pause_binary, "rb") as f:
        layer.add_file(PAUSE_PATH, f.read(), 0o755)
    return layer


def pause_config() -> dict:
    return {"User": "65535:65535", "Entrypoint": [PAUSE_PATH], "WorkingDir": "/"}


def _json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def archive_bytes(layer: Layer, config: dict, name: str, arch: str | None = None) -> bytes:
    """The OCI image layout tar for one image of one layer, named `name`
    (a full reference such as ghcr.io/sitehapair/sitehapair:0.1.0)."""
    arch = arch or oci_arch()
    layer_tar = layer.tar_bytes()
    layer_gz = gzip_bytes(layer_tar)
    image_config = {
        "architecture": arch,
        "os": "linux",
        "created": CREATED,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [_digest(layer_tar)]},
        "history": [{"created": CREATED, "created_by": "sitehapair tests/testbed/node/image-archive"}],
    }
    config_bytes = _json(image_config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": _digest(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": MT_LAYER, "digest": _digest(layer_gz), "size": len(layer_gz)}],
    }
    manifest_bytes = _json(manifest)
    tag = name.rsplit("/", 1)[-1].split("@")[0]
    tag = tag.split(":", 1)[1] if ":" in tag else "latest"
    index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [
            {
                "mediaType": MT_MANIFEST,
                "digest": _digest(manifest_bytes),
                "size": len(manifest_bytes),
                "platform": {"architecture": arch, "os": "linux"},
                "annotations": {NAME_ANNOTATION: name, REF_ANNOTATION: tag},
            }
        ],
    }
    files = {
        "oci-layout": _json({"imageLayoutVersion": "1.0.0"}),
        "index.json": _json(index),
    }
    for blob in (layer_gz, config_bytes, manifest_bytes):
        files["blobs/sha256/" + _digest(blob).split(":", 1)[1]] = blob
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
            tar.addfile(info)
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(files[path]), 0o644, MTIME
            tar.addfile(info, io.BytesIO(files[path]))
    return buf.getvalue()


def write_operator_archive(binary: str, name: str, out: str, ca_bundle: str | None = None) -> str:
    data = archive_bytes(operator_layer(binary, ca_bundle), operator_config(), name)
    _write_atomic(out, data)
    return out


def write_pause_archive(pause_binary: str, name: str, out: str) -> str:
    data = archive_bytes(pause_layer(pause_binary), pause_config(), name)
    _write_atomic(out, data)
    return out


def _write_atomic(out: str, data: bytes) -> None:
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out)


# ---------------------------------------------------- the Dockerfile, compared


@dataclass
class FinalStage:
    base: str = ""
    copies: list[tuple[list[str], str, dict[str, str]]] = field(default_factory=list)  # (sources, dest, flags)
    user: str | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    expose: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    other: list[str] = field(default_factory=list)  # instructions the archive does not model


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: comments dropped, backslash
    continuations joined. Heredocs are not supported (the Dockerfile has none)."""
    out, cur = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not cur and (not line or line.startswith("#")):
            continue
        if cur and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        if cur.strip():
            kw, _, rest = cur.strip().partition(" ")
            out.append((kw.upper(), rest.strip()))
        cur = ""
    if cur.strip():
        kw, _, rest = cur.strip().partition(" ")
        out.append((kw.upper(), rest.strip()))
    return out


def _exec_form(args: str) -> list[str]:
    """ENTRYPOINT/CMD: JSON exec form, or the shell form as /bin/sh -c."""
    if args.startswith("["):
        v = json.loads(args)
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise ValueError(f"not a JSON string array: {args}")
        return v
    return ["/bin/sh", "-c", args]


def parse_final_stage(text: str) -> FinalStage:
    stage = None
    for kw, args in _instructions(text):
        if kw == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--")]
            stage = FinalStage(base=words[0] if words else "")
            continue
        if stage is None:
            continue  # ARG before the first FROM
        if kw in ("COPY", "ADD"):
            if args.lstrip().startswith("[") or "[" in args and args.rstrip().endswith("]"):
                words_all = json.loads(args[args.index("["):])
                flag_words = args[: args.index("[")].split()
            else:
                words_all = shlex.split(args)
                flag_words = [w for w in words_all if w.startswith("--")]
                words_all = [w for w in words_all if not w.startswith("--")]
            flags = {}
            for w in flag_words:
                k, _, v = w[2:].partition("=")
                flags[k] = v
            if kw == "ADD":
                flags["add"] = ""
            stage.copies.append((words_all[:-1], words_all[-1], flags))
        elif kw == "USER":
            stage.user = args
        elif kw == "ENTRYPOINT":
            stage.entrypoint = _exec_form(args)
        elif kw == "CMD":
            stage.cmd = _exec_form(args)
        elif kw == "EXPOSE":
            stage.expose += [p if "/" in p else p + "/tcp" for p in args.split()]
        elif kw == "ENV":
            stage.env.append(args)
        elif kw == "WORKDIR":
            stage.workdir = args
        elif kw in ("LABEL", "ARG"):
            pass  # no effect on where files go or how the process runs
        else:
            stage.other.append(f"{kw} {args}")
    if stage is None:
        raise ValueError("no FROM in the Dockerfile")
    return stage


def check_dockerfile(path: str) -> list[str]:
    """Differences between the Dockerfile's final stage and what
    operator_layer()/operator_config() produce; [] when they agree."""
    with open(path) as f:
        stage = parse_final_stage(f.read())
    problems = []
    if stage.base != BASE_IMAGE:
        problems.append(
            f"base image {stage.base!r}, the archive models {BASE_IMAGE!r} "
            "(its user, home, CA bundle, libraries and env are written by hand in oci_image.py)"
        )
    expected_copy = ([BINARY_SOURCE], BINARY_PATH)
    seen_binary = False
    for sources, dest, flags in stage.copies:
        if (sources, dest) == expected_copy and "from" in flags and "add" not in flags:
            seen_binary = True
            for k in ("chown", "chmod"):
                if k in flags:
                    problems.append(f"COPY of the binary has --{k}={flags[k]}; the archive writes root-owned 0755")
            continue
        problems.append(f"COPY {' '.join(sources)} {dest}: not in the archive")
    if not seen_binary:
        problems.append(f"no COPY --from=... {BINARY_SOURCE} {BINARY_PATH}; the archive puts the binary at {BINARY_PATH}")
    if stage.user != USER:
        problems.append(f"USER {stage.user}, the archive uses {USER}")
    if stage.entrypoint != ENTRYPOINT:
        problems.append(f"ENTRYPOINT {stage.entrypoint}, the archive uses {ENTRYPOINT}")
    if stage.cmd != CMD:
        problems.append(f"CMD {stage.cmd}, the archive uses {CMD}")
    if sorted(stage.expose) != sorted(EXPOSED_PORTS):
        problems.append(f"EXPOSE {stage.expose}, the archive uses {EXPOSED_PORTS}")
    if stage.env:
        problems.append(f"ENV {stage.env}: not in the archive's config")
    if stage.workdir is not None and stage.workdir != HOME:
        problems.append(f"WORKDIR {stage.workdir}, the archive uses {HOME}")
    for o in stage.other:
        problems.append(f"{o}: not modelled by the archive")
    return problems
