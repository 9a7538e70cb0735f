"""Unit tests of the node's OCI image archives and of the Dockerfile check.

    python3 -m unittest discover -s tests/testbed/node -p 'test_*.py' -v

A host binary (coreutils' echo, dynamically linked) stands in for the operator,
so the tests need no Rust build; where the tests run as root the layer is
unpacked and the binary run in it with chroot, as uid 65532, which proves that
the libraries and the loader it needs are all there.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oci_image  # noqa: E402

DOCKERFILE = os.path.normpath(os.path.join(HERE, "..", "..", "..", "Dockerfile"))
STAND_IN = shutil.which("echo", path="/usr/bin:/bin")
NAME = "ghcr.io/sitehapair/sitehapair:unit-test"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Archive:
    """An archive's parts, each blob checked against its name on the way in."""

    def __init__(self, data: bytes, test: unittest.TestCase):
        self.names = []
        self.files = {}
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for m in tar.getmembers():
                self.names.append(m.name)
                test.assertEqual(m.mtime, 0, m.name)
                test.assertEqual((m.uid, m.gid), (0, 0), m.name)
                if m.isfile():
                    self.files[m.name] = tar.extractfile(m).read()
        for name, blob in self.files.items():
            if name.startswith("blobs/sha256/"):
                test.assertEqual(sha(blob), "sha256:" + name.rsplit("/", 1)[1], "a blob named by another digest")
        self.layout = json.loads(self.files["oci-layout"])
        self.index = json.loads(self.files["index.json"])
        desc = self.index["manifests"][0]
        self.manifest_desc = desc
        self.manifest = json.loads(self.blob(desc))
        self.config = json.loads(self.blob(self.manifest["config"]))
        self.layer_gz = self.blob(self.manifest["layers"][0])
        self.layer_tar = gzip.decompress(self.layer_gz)

    def blob(self, desc: dict) -> bytes:
        data = self.files["blobs/sha256/" + desc["digest"].split(":", 1)[1]]
        assert len(data) == desc["size"], desc
        return data

    def layer_members(self):
        with tarfile.open(fileobj=io.BytesIO(self.layer_tar)) as tar:
            return {m.name: (m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}


def resolve(members: dict, path: str, depth: int = 0) -> str:
    """Resolve path inside the layer, following its symlinks as the kernel would."""
    assert depth < 40, path
    parts = path.strip("/").split("/")
    cur = ""
    for i, part in enumerate(parts):
        cur = cur + "/" + part
        m = members.get(cur.lstrip("/"))
        assert m is not None, f"{path}: {cur} missing from the layer"
        if m[0].issym():
            target = m[0].linkname
            base = os.path.dirname(cur) if not target.startswith("/") else ""
            rest = "/".join(parts[i + 1:])
            joined = os.path.normpath(os.path.join(base or "/", target) + ("/" + rest if rest else ""))
            return resolve(members, joined, depth + 1)
    return cur


@unittest.skipUnless(STAND_IN and shutil.which("ldd"), "needs a dynamically linked echo and ldd")
class OperatorArchiveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = oci_image.archive_bytes(oci_image.operator_layer(STAND_IN), oci_image.operator_config(), NAME)

    def test_layout_index_and_digests(self):
        a = Archive(self.data, self)
        self.assertEqual(a.layout, {"imageLayoutVersion": "1.0.0"})
        self.assertEqual(sorted(n for n in a.names if not n.startswith("blobs")), ["index.json", "oci-layout"])
        self.assertEqual(a.index["schemaVersion"], 2)
        self.assertEqual(a.index["mediaType"], oci_image.MT_INDEX)
        self.assertEqual(len(a.index["manifests"]), 1)
        self.assertEqual(a.manifest_desc["mediaType"], oci_image.MT_MANIFEST)
        self.assertEqual(a.manifest_desc["annotations"]["io.containerd.image.name"], NAME)
        self.assertEqual(a.manifest_desc["annotations"]["org.opencontainers.image.ref.name"], "unit-test")
        self.assertEqual(a.manifest["mediaType"], oci_image.MT_MANIFEST)
        self.assertEqual(a.manifest["config"]["mediaType"], oci_image.MT_CONFIG)
        self.assertEqual([l["mediaType"] for l in a.manifest["layers"]], [oci_image.MT_LAYER])
        # diff_ids name the uncompressed layer; the manifest names the gzip.
        self.assertEqual(a.config["rootfs"], {"type": "layers", "diff_ids": [sha(a.layer_tar)]})
        self.assertEqual(a.manifest["layers"][0]["digest"], sha(a.layer_gz))
        self.assertEqual(a.config["os"], "linux")
        self.assertEqual(a.config["architecture"], a.manifest_desc["platform"]["architecture"])
        # Three blobs and nothing else: layer, config, manifest.
        self.assertEqual(len([n for n in a.files if n.startswith("blobs/sha256/")]), 3)

    def test_config_follows_the_dockerfile_constants(self):
        c = Archive(self.data, self).config["config"]
        self.assertEqual(c["User"], "65532:65532")
        self.assertEqual(c["Entrypoint"], ["/usr/local/bin/sitehapair"])
        self.assertEqual(c["Cmd"], ["run"])
        self.assertEqual(c["ExposedPorts"], {"8080/tcp": {}})
        self.assertIn("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", c["Env"])

    def test_layer_contents(self):
        a = Archive(self.data, self)
        members = a.layer_members()
        names = list(members)
        self.assertEqual(names, sorted(names), "layer entries are sorted")
        for name, (m, _) in members.items():
            self.assertEqual(m.mtime, 0, name)
            parent = os.path.dirname(name)
            if parent:
                self.assertIn(parent, members, f"{name}: parent directory missing")
                self.assertLess(names.index(parent), names.index(name))
        binary, data = members["usr/local/bin/sitehapair"]
        self.assertTrue(binary.isfile())
        self.assertEqual(binary.mode, 0o755)
        with open(STAND_IN, "rb") as f:
            self.assertEqual(data, f.read())
        libs = oci_image.shared_libraries(STAND_IN)
        self.assertTrue(any("ld-linux" in l or "/ld-" in l for l in libs), libs)
        self.assertTrue(any("libc.so" in l for l in libs), libs)
        for lib in libs:
            real = resolve(members, lib)
            m, content = members[real.lstrip("/")]
            self.assertTrue(m.isfile(), lib)
            with open(os.path.realpath(lib), "rb") as f:
                self.assertEqual(content, f.read(), lib)
        passwd = members["etc/passwd"][1].decode()
        self.assertIn("nonroot:x:65532:65532:", passwd)
        self.assertIn("nonroot:x:65532:", members["etc/group"][1].decode())
        ca = members["etc/ssl/certs/ca-certificates.crt"][1]
        self.assertIn(b"BEGIN CERTIFICATE", ca)
        home = members["home/nonroot"][0]
        self.assertEqual((home.uid, home.gid, home.isdir()), (65532, 65532, True))
        tmp = members["tmp"][0]
        self.assertEqual(tmp.mode, 0o1777)

    def test_deterministic(self):
        again = oci_image.archive_bytes(oci_image.operator_layer(STAND_IN), oci_image.operator_config(), NAME)
        self.assertEqual(sha(again), sha(self.data))

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("chroot"), "needs root and chroot")
    def test_binary_runs_in_the_unpacked_layer_as_65532(self):
        a = Archive(self.data, self)
        with tempfile.TemporaryDirectory() as root:
            os.chmod(root, 0o755)  # the image's / as uid 65532 sees it
            with tarfile.open(fileobj=io.BytesIO(a.layer_tar)) as tar:
                tar.extractall(root, filter="tar") if hasattr(tarfile, "data_filter") else tar.extractall(root)
            r = subprocess.run(["chroot", "--userspec=65532:65532", root, "/usr/local/bin/sitehapair", "from", "the", "layer"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "from the layer\n", ""))

    def test_cli_writes_the_same_bytes(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "op.tar")
            r = subprocess.run([sys.executable, os.path.join(HERE, "image-archive"), "--binary", STAND_IN,
                                "--name", NAME, "-o", out], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out, "rb") as f:
                self.assertEqual(sha(f.read()), sha(self.data))
            path, digest, size = r.stdout.split()
            self.assertEqual((path, int(size)), (out, len(self.data)))
            self.assertEqual(digest, Archive(self.data, self).manifest_desc["digest"])


class PauseArchiveTest(unittest.TestCase):
    def pause_binary(self):
        p = os.environ.get("SITEHAPAIR_PAUSE_BINARY")
        if not p:
            if not shutil.which("go"):
                self.skipTest("no go to build the pause program")
            p = subprocess.run([os.path.join(HERE, "build"), "pause"], check=True,
                               capture_output=True, text=True).stdout.strip()
        return p

    def test_pause_archive(self):
        p = self.pause_binary()
        a = Archive(oci_image.archive_bytes(oci_image.pause_layer(p), oci_image.pause_config(), "sitehapair.test/pause:1"), self)
        members = a.layer_members()
        self.assertEqual(list(members), ["pause"])
        self.assertEqual(members["pause"][0].mode, 0o755)
        self.assertEqual(a.config["config"]["Entrypoint"], ["/pause"])
        self.assertEqual(a.manifest_desc["annotations"]["io.containerd.image.name"], "sitehapair.test/pause:1")

    def test_pause_exits_on_sigterm(self):
        proc = subprocess.Popen([self.pause_binary()])
        try:
            time.sleep(0.3)
            self.assertIsNone(proc.poll(), "pause exited by itself")
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=10), 0)
        finally:
            if proc.poll() is None:
                proc.kill()

    @unittest.skipUnless(STAND_IN, "needs a dynamically linked echo")
    def test_pause_must_be_static(self):
        with self.assertRaises(ValueError):
            oci_image.pause_layer(STAND_IN)


class LddTest(unittest.TestCase):
    SAMPLE = (
        "\tlinux-vdso.so.1 (0x00007ffd2b1f0000)\n"
        "\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f0b9c5a0000)\n"
        "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0b9c3bf000)\n"
        "\t/lib64/ld-linux-x86-64.so.2 (0x00007f0b9d1e6000)\n"
    )

    def test_parse(self):
        self.assertEqual(oci_image.parse_ldd(self.SAMPLE), [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/x86_64-linux-gnu/libgcc_s.so.1",
            "/lib64/ld-linux-x86-64.so.2",
        ])

    def test_not_found_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "libgit2.so.1"):
            oci_image.parse_ldd(self.SAMPLE + "\tlibgit2.so.1 => not found\n")


class DockerfileCheckTest(unittest.TestCase):
    def test_real_dockerfile_agrees_with_the_archive(self):
        self.assertEqual(oci_image.check_dockerfile(DOCKERFILE), [])

    def test_final_stage_parsed(self):
        with open(DOCKERFILE) as f:
            stage = oci_image.parse_final_stage(f.read())
        self.assertEqual(stage.base, oci_image.BASE_IMAGE)
        self.assertEqual([(s, d) for s, d, _ in stage.copies], [([oci_image.BINARY_SOURCE], oci_image.BINARY_PATH)])
        self.assertEqual(stage.user, oci_image.USER)
        self.assertEqual(stage.entrypoint, oci_image.ENTRYPOINT)

    def check_variant(self, old: str, new: str) -> list:
        with open(DOCKERFILE) as f:
            text = f.read()
        self.assertIn(old, text)
        with tempfile.NamedTemporaryFile("w", suffix=".Dockerfile", delete=False) as f:
            f.write(text.replace(old, new))
        try:
            return oci_image.check_dockerfile(f.name)
        finally:
            os.unlink(f.name)

    def test_drift_is_caught(self):
        cases = [
            ("USER 65532:65532", "USER 1000:1000", "USER"),
            ("/usr/local/bin/sitehapair\n", "/sitehapair\n", "COPY"),
            ('ENTRYPOINT ["/usr/local/bin/sitehapair"]', 'ENTRYPOINT ["/sitehapair"]', "ENTRYPOINT"),
            ('CMD ["run"]', 'CMD ["serve"]', "CMD"),
            ("EXPOSE 8080", "EXPOSE 9090", "EXPOSE"),
            ("cc-debian12:nonroot", "static-debian12:nonroot", "base image"),
            ("USER 65532:65532", "COPY --from=build /src/crds /crds\nUSER 65532:65532", "COPY /src/crds"),
            ("USER 65532:65532", "ENV RUST_LOG=debug\nUSER 65532:65532", "ENV"),
            ("USER 65532:65532", "RUN true\nUSER 65532:65532", "RUN true"),
        ]
        for old, new, word in cases:
            with self.subTest(word):
                problems = self.check_variant(old, new)
                self.assertTrue(any(word in p for p in problems), problems)

    def test_only_the_final_stage_counts(self):
        # A change in the build stage is not a drift of the image's layout.
        self.assertEqual(self.check_variant("WORKDIR /src", "WORKDIR /build-here"), [])


if __name__ == "__main__":
    unittest.main()
