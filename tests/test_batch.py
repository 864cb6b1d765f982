"""shotoku separate over a catalogue: one folder per input, resumable, failures reported, Dask."""

import json

import numpy as np
import pytest

from shotoku.cli import main
from shotoku.datasets.scenes import make_scene
from shotoku.io import save

RATE = 8000


def write_mix(path, seed):
    t = np.arange(RATE) / RATE
    rng = np.random.default_rng(seed)
    objects = np.stack([np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal(t.size) for f in (220, 330, 550)])
    mixture, _ = make_scene(objects, [-30.0, 0.0, 30.0])
    save(path, mixture, RATE)
    return path


@pytest.fixture
def catalogue(tmp_path):
    root = tmp_path / "catalogue"
    write_mix(root / "a.wav", 0)
    write_mix(root / "sub" / "b.wav", 1)
    return root


ARGS = ["-m", "adress", "--param", "postfilter=false", "-n", "3"]


def stamps(folder):
    return {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_catalogue_is_resumable_and_a_bad_input_is_reported(catalogue, tmp_path, capsys):
    (catalogue / "broken.wav").write_bytes(b"RIFF not really audio")
    out = tmp_path / "out"
    assert main(["separate", str(catalogue), "-o", str(out), *ARGS]) == 1
    captured = capsys.readouterr()
    assert "broken.wav" in captured.err and "1 failed" in captured.out
    for name in ("a", "sub/b"):
        record = json.loads((out / name / "separation.json").read_text())
        assert record["method"] == "adress" and record["parameters"]["sources"] == 3
        assert len(record["sources"]) == 3
        assert all((out / name / f).is_file() for f in record["sources"].values())
    before = stamps(out)
    assert main(["separate", str(catalogue), "-o", str(out), *ARGS]) == 1   # the broken file again
    assert "2 already separated, 1 to run" in capsys.readouterr().out
    assert stamps(out) == before
    (catalogue / "broken.wav").unlink()
    # other parameters: not the same separation; it replaces the first only when asked to
    other = ["separate", str(catalogue), "-o", str(out), "-m", "adress", "--param", "postfilter=false", "-n", "2"]
    assert main(other) == 1
    assert "--overwrite" in capsys.readouterr().err and stamps(out) == before
    assert main([*other, "--overwrite"]) == 0
    assert "0 already separated, 2 to run" in capsys.readouterr().out
    assert json.loads((out / "a" / "separation.json").read_text())["parameters"]["sources"] == 2


def test_catalogue_on_a_local_cluster_matches_single_files(catalogue, tmp_path):
    import distributed  # noqa: F401  (the study extra, installed by make test)
    out = tmp_path / "cluster"
    files = [str(catalogue / "a.wav"), str(catalogue / "sub" / "b.wav")]
    assert main(["separate", *files, "-o", str(out), *ARGS, "--workers", "1"]) == 0
    single = tmp_path / "single"
    assert main(["separate", files[0], "-o", str(single), *ARGS]) == 0
    a = json.loads((out / "a" / "separation.json").read_text())
    s = json.loads((single / "separation.json").read_text())
    assert {k: v for k, v in a.items() if k != "timings"} == {k: v for k, v in s.items() if k != "timings"}
    for f in s["sources"].values():
        assert (out / "a" / f).read_bytes() == (single / f).read_bytes()
    assert (out / "b" / "separation.json").is_file()


def test_single_file_writes_into_the_folder_itself(catalogue, tmp_path, capsys):
    out = tmp_path / "one"
    assert main(["separate", str(catalogue / "a.wav"), "-o", str(out), *ARGS]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"3 source image(s) in {out}/ (adress, ")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["separation.json"] + list(json.loads((out / "separation.json").read_text())["sources"].values()))


def test_batch_refuses_references_and_duplicate_names(catalogue, tmp_path):
    write_mix(tmp_path / "other" / "a.wav", 2)
    assert main(["separate", str(catalogue / "a.wav"), str(tmp_path / "other" / "a.wav"), "-o",
                 str(tmp_path / "o"), *ARGS]) == 2
    assert main(["separate", str(catalogue), "-o", str(tmp_path / "o"), "-m", "oracle-irm",
                 "--references", str(catalogue)]) == 2
