"""Input detection and bad input for the dataset audit: every problem counted, nothing crashes."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.cli import main
from audit.dataset.lexicon import load_lexicons
from audit.dataset.run import audit_text
from audit.dataset.sources import detect
from audit.dataset.textstats import TextAuditor
from audit.errors import UserError
from audit.shards import ShardWriter


def run(path, **kw):
    return audit_text(detect(path, **kw), TextAuditor(load_lexicons()), progress=False)


def test_laion_parquet_with_renamed_and_missing_columns(tmp_path):
    p = tmp_path / "part.parquet"
    pq.write_table(pa.table({"caption": ["a nurse", "a woman", None], "Nsfw": ["NSFW", "UNLIKELY", "UNLIKELY"],
                             "url": ["u1", "u2", "u3"]}), p)
    ds = detect(p)
    assert ds.kind == "laion_parquet"
    assert ds.columns[str(p)]["mapping"] == {"caption": "text", "Nsfw": "nsfw", "url": "url"}
    assert "width" in ds.columns[str(p)]["missing"]
    c = run(p)
    assert c.n_rows == 3 and c.scalars["null"] == 1
    assert c.pair_count("profession:nurse", "flag:nsfw") == 1


def test_row_groups_become_tasks_and_add_up(tmp_path):
    p = tmp_path / "big.parquet"
    pq.write_table(pa.table({"TEXT": ["a nurse"] * 1000 + ["a man"] * 500}), p, row_group_size=100)
    ds = detect(p, rows_per_task=300)
    assert len(ds.tasks) == 5 and ds.total_rows == 1500
    c = audit_text(ds, TextAuditor(load_lexicons()), progress=False, batch_size=64)
    assert c.n_rows == 1500 and c.rows_with("profession:nurse") == 1000 and c.rows_with("gender:man") == 500
    assert c.distinct.count() == 2


def test_folder_with_a_corrupt_parquet_keeps_the_good_one(tmp_path):
    pq.write_table(pa.table({"TEXT": ["a nurse", "a chef"]}), tmp_path / "a.parquet")
    (tmp_path / "b.parquet").write_bytes(b"PAR1 this is not parquet")
    pq.write_table(pa.table({"other": [1, 2]}), tmp_path / "c.parquet")
    c = run(tmp_path)
    assert c.n_rows == 4  # c.parquet's rows are counted as null captions
    assert c.rows_with("profession:nurse") == 1
    assert c.problems["unreadable_file"] == 1 and c.problems["no_text_column"] == 1
    assert any("b.parquet" in m for m in c.messages)
    assert any("c.parquet" in m and "fix:" in m for m in c.messages)


def test_webdataset_shards_use_parquet_and_read_tars_without_parquet(tmp_path):
    with ShardWriter(tmp_path, 0) as w:
        w.add("000000000", {"jpg": b"x", "txt": b"a nurse"}, {"TEXT": "a nurse", "NSFW": "UNLIKELY"})
        w.add("000000001", {"jpg": b"x", "txt": b"a woman"}, {"TEXT": "a woman", "NSFW": "NSFW"})
    with ShardWriter(tmp_path, 1) as w:
        w.add("000000002", {"jpg": b"x", "txt": b"a chef"}, {"TEXT": "a chef"})
    (tmp_path / "00001.parquet").unlink()
    ds = detect(tmp_path)
    assert ds.kind == "webdataset" and len(ds.image_shards) == 2
    assert [t.kind for t in ds.tasks] == ["parquet", "tar"]
    assert any("00001.tar" in n for n in ds.notes)
    c = run(tmp_path)
    assert c.n_rows == 3 and c.rows_with("profession:chef") == 1
    assert c.pair_count("gender:woman", "flag:nsfw") == 1


def _tar_with(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_corrupt_truncated_and_unsafe_tars_are_counted_and_never_extracted(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    good = _tar_with([("k1.txt", b"a nurse"), ("k2.txt", b"a woman"), ("k3.txt", b"a chef " * 2000)])
    (data / "00000.tar").write_bytes(good[: len(good) - 9000])  # truncated inside k3
    (data / "00001.tar").write_bytes(_tar_with([("../evil.txt", b"a man"), ("/abs.txt", b"a man"),
                                                ("ok.txt", b"a boy")]))
    (data / "00002.tar").write_bytes(b"not a tar at all" * 10)
    c = run(data)
    assert c.rows_with("profession:nurse") == 1 and c.rows_with("gender:boy") == 1
    assert c.rows_with("gender:man") == 0
    assert c.problems["unsafe_member_name"] == 2
    assert c.problems["corrupt_tar"] == 2
    assert not (tmp_path / "evil.txt").exists() and not Path("/abs.txt").exists()


def test_files_layout_and_caption_folder(tmp_path):
    files = tmp_path / "files"
    (files / "00000").mkdir(parents=True)
    (files / "00000" / "000000000.jpg").write_bytes(b"x")
    (files / "00000" / "000000000.txt").write_text("a black woman")
    (files / "00000" / "000000001.jpg").write_bytes(b"x")
    (files / "00000" / "000000001.txt").write_bytes(b"\xff bad nurse")
    ds = detect(files)
    assert ds.kind == "files" and len(ds.image_files) == 2
    c = run(files)
    assert c.rows_with("ethnicity:black") == 1 and c.rows_with("profession:nurse") == 1
    assert c.problems == {"invalid_utf8": 1}
    folder = tmp_path / "loose"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.png").write_bytes(b"x")
    (folder / "sub" / "a.txt").write_text("a teacher")
    assert detect(folder).kind == "caption_folder"
    assert run(folder).rows_with("profession:teacher") == 1


def test_detect_errors_name_the_path_and_fix(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        detect(tmp_path / "missing")
    with pytest.raises(UserError, match="fix:"):
        detect(tmp_path)  # empty folder
    (tmp_path / "x.csv").write_text("a")
    with pytest.raises(UserError, match="not a .parquet or .tar"):
        detect(tmp_path / "x.csv")


def test_cli_without_caption_column_exits_2_with_fix(tmp_path, capsys):
    pq.write_table(pa.table({"url": ["u"], "width": [3]}), tmp_path / "x.parquet")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.json").write_text("{}")  # an earlier run's marker
    code = main(["dataset", "audit", str(tmp_path / "x.parquet"), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "x.parquet" in err and "fix: rename the caption column" in err
    assert not (tmp_path / "out" / "results.json").exists()


def test_cli_bad_lexicon_names_file_and_field(tmp_path, capsys):
    pq.write_table(pa.table({"TEXT": ["a"]}), tmp_path / "x.parquet")
    lex = tmp_path / "l.yaml"
    lex.write_text("categories:\n  c:\n    role: identity\n    terms: []\n")
    code = main(["dataset", "audit", str(tmp_path / "x.parquet"), "--out", str(tmp_path / "o"),
                 "--lexicon", str(lex), "--no-progress"])
    assert code == 2 and "l.yaml: field categories.c.terms" in capsys.readouterr().err


def test_cli_on_real_captions_writes_every_output(tmp_path, capsys):
    fixture = Path("/work/shared/fixtures/laion_captions_1000.parquet")
    if not fixture.exists():
        pytest.fail(f"fixture missing: {fixture} (the shared LAION-style sample of 1,000 URL, TEXT rows)")
    out = tmp_path / "out"
    assert main(["dataset", "audit", str(fixture), "--out", str(out), "--no-progress"]) == 0
    assert "1,000 captions" in capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    assert res["captions"]["rows"] == 1000 and res["input"]["kind"] == "laion_parquet"
    assert "nsfw" in res["input"]["missing_columns"]
    for name in ("term_frequencies.parquet", "cooccurrence.parquet", "per_query_rates.parquet", "dataset_card.md"):
        assert (out / name).exists() and name in res["outputs"]
    assert not list(out.glob("*.tmp"))
    card = (out / "dataset_card.md").read_text()
    for section in ("## Dataset Structure", "### Social Impact of Dataset", "### Discussion of Biases",
                    "### Other Known Limitations", "## Personal and Sensitive Information"):
        assert section in card
    assert "**1,000 rows**" in card
    html = (out / "report.html").read_text()
    assert res["report"] == "report.html"
    for title in ("Dataset", "Identity query terms: NSFW, unsafe and toxic rates", "Identity x concept associations"):
        assert f">{title}</h2>" in html


def test_empty_and_all_null_parquets_give_complete_outputs(tmp_path):
    pq.write_table(pa.table({"TEXT": pa.array([], pa.string())}), tmp_path / "empty.parquet")
    pq.write_table(pa.table({"TEXT": pa.array([None, None], pa.string())}), tmp_path / "nulls.parquet")
    for name, rows, nulls in (("empty", 0, 0), ("nulls", 2, 2)):
        out = tmp_path / f"out_{name}"
        assert main(["dataset", "audit", str(tmp_path / f"{name}.parquet"), "--out", str(out), "--no-progress"]) == 0
        res = json.loads((out / "results.json").read_text())
        assert (res["captions"]["rows"], res["captions"]["null"]) == (rows, nulls)
        assert (out / "dataset_card.md").exists() and res["report"] == "report.html"
