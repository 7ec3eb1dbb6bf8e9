"""The python-threatexchange extension, driven through pytx's own CLI against a running
service: the shared set arrives by `threatexchange fetch`, a later addition and a later
retraction arrive by the next fetch, a reference image matches through pytx's PDQ index,
and pytx's `label` sends feedback back to hashshare."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("threatexchange")

from PIL import Image

from hashshare.client import Client
from hashshare.client.local import hash_image
from tests.client.conftest import Live

pytestmark = pytest.mark.processes

LABELS = ["attacker-manifesto", "entity:isil"]


def _image(folder: Path, n: int) -> Path:
    path = folder / f"{n}.png"
    box = (-2 + 0.3 * n, -1.2, 1, 1.2)
    Image.effect_mandelbrot((640, 480), box, 60 + 20 * n).convert("RGB").save(path)
    return path


class Pytx:
    """pytx's CLI with its state in a private home folder and a beta token."""

    def __init__(self, home: Path, token_file: Path) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HASHSHARE_")},
            "HOME": str(home),
            "HASHSHARE_TOKEN_FILE": str(token_file),
        }

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "threatexchange", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def signals(self) -> set[tuple[str, str]]:
        lines = self("dataset", "--print-signals", "--print-signals-only").splitlines()
        return {(kind, value) for kind, value in (line.split() for line in lines if line)}


def test_pytx_fetches_the_shared_set_its_changes_and_matches_and_reports_through_it(
    live: Live, tmp_path: Path
) -> None:
    token_file = tmp_path / "beta.token"
    token_file.write_text(live.token("beta", ["hashes:read", "hashes:match", "hashes:feedback"]))
    images = [_image(tmp_path, n) for n in range(3)]
    pdq = [hash_image(path, ["pdq"])[0].value for path in images]
    md5 = [hash_image(path, ["md5"])[0].value for path in images]

    with Client(live.url, live.token("alpha")) as alpha:
        first = alpha.submit(
            [
                {"signal_type": t, "value": v, "labels": LABELS}
                for t, v in [
                    ("pdq", pdq[0]),
                    ("pdq", pdq[1]),
                    ("md5", md5[0]),
                    ("phash", "c4009b0073006700"),
                ]
            ]
        )
        pytx = Pytx(tmp_path / "home", token_file)
        (tmp_path / "home").mkdir()
        added = pytx("config", "extensions", "add", "hashshare.pytx_extension")
        assert "hashshare - HashshareSignalExchangeAPI" in added
        pytx("config", "collab", "edit", "hashshare", "shared", "--create", "--url", live.url)

        pytx("fetch")
        # phash has no pytx signal type: not fetched.
        assert pytx.signals() == {("pdq", pdq[0]), ("pdq", pdq[1]), ("video_md5", md5[0])}
        matched = pytx("match", "photo", str(images[0]))
        assert matched.startswith("pdq 0 (shared) POSITIVE_CLASS ")
        assert set(matched.split()[-1].split(",")) == set(LABELS)

        # A later addition and a later retraction arrive with the next fetch.
        alpha.submit([{"signal_type": "pdq", "value": pdq[2], "labels": LABELS}])
        alpha.retract(first.results[0].hash_id)
        pytx("fetch")
        assert pytx.signals() == {("pdq", pdq[1]), ("pdq", pdq[2]), ("video_md5", md5[0])}
        assert pytx("match", "photo", str(images[0])).strip() == ""
        assert "(shared) POSITIVE_CLASS" in pytx("match", "photo", str(images[2]))

        # pytx's label (report_opinion) becomes beta's feedback on the hash.
        hash_file = tmp_path / "hash.txt"
        hash_file.write_text(pdq[1])
        pytx("label", "--as-hash", "pdq", "shared", "photo", str(hash_file))
        assert alpha.get(first.results[1].hash_id).feedback.agree == 1
