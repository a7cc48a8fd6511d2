"""export_corpus: every pair comes back out of TMX, Moses and TSV exactly (or with the
documented replacements), filters drop what they say, and files appear only when complete."""

from __future__ import annotations

import importlib
import json
import os
import xml.dom.minidom
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

import ja2en
from ja2en.corpus.output import PairFilter
from ja2en.errors import InputError, OutputError
from ja2en.corpus.export import FORMATS, export_corpus
from ja2en.writers import OutputLock

export_module = importlib.import_module("ja2en.corpus.export")
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
LONG = "長い文です。" * 20_000  # 120,000 characters in one segment

# Texts that break naive XML, line-based files or UTF-8 encoding.
TRICKY = [
    ("A&B <tag> \"quoted\" 'single'", "A&B <tag> \"quoted\" 'single'"),
    ("]]> で終わる", "ends with ]]>"),
    ("制御\x01文字\x0b", "control\x01 chars\x0b"),
    ("改行\r\nあり", "line\r\nbreak"),
    ("タブ\tと\n改行", "tab\tand\nnewline"),
    ("絵文字😀と𠮷", "emoji 😀 and 𠮷"),
    ("孤立\ud800サロゲート", "lone\udfffsurrogate"),
    ("非文字\ufffe\uffff", "noncharacters\ufffe\uffff"),
    ("  前後の空白  ", "  surrounding spaces  "),
    ("区切り\x85\u2028\u2029\x0c\x1c\x1d\x1e\r", "separators\x85\u2028\u2029\x0c\x1c\x1d\x1e\r"),
    (LONG, "A long sentence. " * 10_000),
]


def make_run(folder: Path, documents: dict[str, list[dict[str, Any]]]) -> Path:
    """A run's output folder by hand: documents.jsonl with the given pairs and a manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for doc_id, pairs in documents.items():
        records, offset = [], 0
        for number, pair in enumerate(pairs):
            record = {"paragraph": 0, "sentence": number, "start": offset, "end": offset + len(pair["ja"])}
            records.append({**record, **pair})
            offset += len(pair["ja"])
        text = "".join(pair["ja"] for pair in pairs)
        # ensure_ascii keeps lone surrogates writable, as \ud800 escapes.
        lines.append(json.dumps({"id": doc_id, "pairs": records, "ja": text, "en": ""}))
    (folder / "documents.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "manifest.json").write_text("{}", encoding="utf-8")
    return folder


def tricky_run(folder: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A run holding the TRICKY texts with scores and flags; returns it and the flat pair list."""
    pairs = [
        {
            "ja": ja,
            "en": en,
            "score": -0.1234567890123456789 * (i + 1),
            "flags": ["untranslated", "too&<long>"] if i % 3 == 0 else [],
        }
        for i, (ja, en) in enumerate(TRICKY)
    ]
    pairs[1]["score"] = None
    run = make_run(folder, {"news/a&b <1>": pairs[:5], "news/2": pairs[5:]})
    flat = [{"doc_id": "news/a&b <1>", "sentence": i, **pair} for i, pair in enumerate(pairs[:5])]
    flat += [{"doc_id": "news/2", "sentence": i, **pair} for i, pair in enumerate(pairs[5:])]
    return run, flat


def simple_run(folder: Path) -> Path:
    pairs = [{"ja": "一。", "en": "One."}, {"ja": "二。", "en": "Two."}, {"ja": "三。", "en": "Three."}]
    return make_run(folder, {"d1": pairs[:2], "d2": pairs[2:]})


def xml_safe(text: str) -> str:
    """What XML 1.0 can carry: disallowed characters become U+FFFD."""
    allowed = lambda c: c in "\t\n\r" or "\x20" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000"  # noqa: E731
    return "".join(c if allowed(c) else "\ufffd" for c in text)


def one_line(text: str, also: str = "") -> str:
    """`text` with CRLF and each character str.splitlines() breaks at (or in `also`) as one space."""
    text = text.replace("\r\n", " ")
    return "".join(" " if c in also or len(f"x{c}x".splitlines()) > 1 else c for c in text)


def read(path: Path) -> str:
    # Bytes decoded by hand: read_text() would translate a stray CR and hide it.
    return path.read_bytes().decode("utf-8")


# --- TMX ---------------------------------------------------------------------------------


def test_tmx_round_trips_every_pair_through_an_xml_parser(tmp_path: Path) -> None:
    run, pairs = tricky_run(tmp_path / "run")
    result = export_corpus(run, format="tmx")

    tmx = run / "corpus.tmx"
    xml.dom.minidom.parse(str(tmx))  # well-formed for a second, stricter-by-DOM parser too
    root = ElementTree.parse(tmx).getroot()
    assert root.tag == "tmx" and root.get("version") == "1.4"
    tus = root.findall("./body/tu")
    assert len(tus) == len(pairs) == result.counts.kept
    for tu, pair in zip(tus, pairs):
        assert [child.tag for child in tu][-2:] == ["tuv", "tuv"]  # props first, per the DTD
        props = {prop.get("type"): prop.text for prop in tu.findall("prop")}
        expected = {"x-doc-id": pair["doc_id"], "x-paragraph": "0", "x-sentence": str(pair["sentence"])}
        if pair["score"] is not None:
            expected["x-score"] = repr(pair["score"])
            assert float(props["x-score"]) == pair["score"]  # full precision
        if pair["flags"]:
            expected["x-flags"] = ",".join(pair["flags"])
        assert props == expected
        ja, en = tu.findall("tuv")
        assert (ja.get(XML_LANG), en.get(XML_LANG)) == ("ja", "en")
        # Exact, CR/CRLF, tabs, newlines and edge spaces included; only non-XML characters differ.
        assert ja.find("seg").text == xml_safe(pair["ja"])
        assert en.find("seg").text == xml_safe(pair["en"])


def test_tmx_counts_and_reports_every_replaced_character(tmp_path: Path) -> None:
    run, _ = tricky_run(tmp_path / "run")
    result = export_corpus(run, format="tmx")

    # \x01\x0b twice, one lone surrogate per side, \ufffe\uffff twice, \x0c\x1c\x1d\x1e twice.
    assert result.replaced_characters == 4 + 2 + 4 + 8
    segs = ElementTree.parse(run / "corpus.tmx").getroot().iter("seg")
    assert "制御\ufffd文字\ufffd" in [seg.text for seg in segs]
    report = json.loads((run / "corpus.export.json").read_text(encoding="utf-8"))
    assert report["replaced_characters"] == 18


def test_tmx_header_carries_the_attributes_tmx_14b_requires(tmp_path: Path) -> None:
    run = simple_run(tmp_path / "run")
    export_corpus(run, format="tmx")

    text = read(run / "corpus.tmx")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE tmx SYSTEM "tmx14.dtd">\n')
    header = ElementTree.parse(run / "corpus.tmx").getroot().find("header")
    assert header.attrib == {
        "creationtool": "ja2en",
        "creationtoolversion": ja2en.__version__,
        "datatype": "plaintext",
        "segtype": "sentence",
        "adminlang": "en",
        "srclang": "ja",
        "o-tmf": "ja2en",
    }
    # No score or flags recorded: no empty props either.
    assert {prop.get("type") for prop in ElementTree.parse(run / "corpus.tmx").getroot().iter("prop")} == {
        "x-doc-id", "x-paragraph", "x-sentence"
    }


# --- Moses -------------------------------------------------------------------------------


def test_moses_files_stay_line_aligned_whatever_the_segments_hold(tmp_path: Path) -> None:
    run, pairs = tricky_run(tmp_path / "run")
    result = export_corpus(run, format="moses")

    ja_text, en_text = read(run / "corpus.ja"), read(run / "corpus.en")
    assert len(ja_text.split("\n")) == len(en_text.split("\n")) == result.counts.kept + 1  # trailing newline
    ja_lines, en_lines = ja_text.splitlines(), en_text.splitlines()
    assert len(ja_lines) == len(en_lines) == result.counts.kept == len(TRICKY)
    assert ja_lines[3] == "改行 あり"  # CRLF is one break, so one space
    assert en_lines[4] == "tab\tand newline"  # tabs are kept: Moses splits lines, not fields
    assert ja_lines[9] == "区切り" + " " * 8
    assert en_lines[6] == "lone\ufffdsurrogate"  # cannot be UTF-8 at all
    assert result.replaced_characters == 2
    assert ja_lines[10] == LONG
    surrogate_free = lambda text: text.replace("\ud800", "\ufffd").replace("\udfff", "\ufffd")  # noqa: E731
    assert ja_lines == [one_line(surrogate_free(pair["ja"])) for pair in pairs]
    assert en_lines == [one_line(surrogate_free(pair["en"])) for pair in pairs]


def test_moses_destination_is_a_prefix_and_parents_are_created(tmp_path: Path) -> None:
    run = simple_run(tmp_path / "run")
    result = export_corpus(run, format="moses", destination=tmp_path / "out" / "sub" / "train.v1")

    out = tmp_path / "out" / "sub"
    assert result.files == (out / "train.v1.ja", out / "train.v1.en", out / "train.v1.export.json")
    assert sorted(path.name for path in out.iterdir()) == ["train.v1.en", "train.v1.export.json", "train.v1.ja"]
    assert read(out / "train.v1.ja") == "一。\n二。\n三。\n"
    assert read(out / "train.v1.en") == "One.\nTwo.\nThree.\n"


# --- TSV ---------------------------------------------------------------------------------


def test_tsv_has_jparacrawl_columns_and_one_line_per_pair(tmp_path: Path) -> None:
    run, pairs = tricky_run(tmp_path / "run")
    result = export_corpus(run, format="tsv")

    lines = read(run / "corpus.tsv").split("\n")
    assert lines[-1] == "" and len(lines[:-1]) == result.counts.kept == len(pairs)
    rows = [line.split("\t") for line in lines[:-1]]
    assert all(len(row) == 4 for row in rows)  # no header, no stray tabs
    assert rows[0] == ["news/a&b <1>", repr(pairs[0]["score"]), "A&B <tag> \"quoted\" 'single'", "A&B <tag> \"quoted\" 'single'"]
    assert rows[1][1] == ""  # no score recorded for this pair
    assert [float(row[1]) for row in rows if row[1]] == [pair["score"] for pair in pairs if pair["score"] is not None]
    assert rows[3][2:] == ["line break", "改行 あり"]
    assert rows[4][2:] == ["tab and newline", "タブ と 改行"]
    assert rows[5][2:] == ["emoji 😀 and 𠮷", "絵文字😀と𠮷"]
    assert rows[10][3] == LONG
    assert [row[0] for row in rows] == [pair["doc_id"] for pair in pairs]
    assert [row[2] for row in rows if "\ufffd" not in row[2]] == [
        one_line(pair["en"], also="\t") for pair in pairs if "\udfff" not in pair["en"]
    ]


# --- filters and the report --------------------------------------------------------------


def filter_run(folder: Path) -> Path:
    return make_run(
        folder,
        {
            "d1": [
                {"ja": "良い。", "en": "Good.", "score": -0.2, "flags": []},
                {"ja": "悪い。", "en": "Bad.", "score": -3.0, "flags": []},
                {"ja": "印。", "en": "Flagged.", "score": -0.5, "flags": ["length_ratio"]},
            ],
            "d2": [
                {"ja": "良い。", "en": "Good.", "score": -0.2, "flags": []},  # duplicate of d1's first
                {"ja": "良い。", "en": "Fine.", "score": -0.3, "flags": []},  # same ja, other en: kept
                {"ja": "無。", "en": "None.", "flags": []},  # no score: cannot pass --min-score
            ],
        },
    )


@pytest.mark.parametrize(
    ("pair_filter", "kept_en", "dropped"),
    [
        (PairFilter(), ["Good.", "Bad.", "Flagged.", "Good.", "Fine.", "None."], {}),
        # "None." has no score: with --min-score it cannot be kept, and is counted apart
        (PairFilter(min_score=-1.0), ["Good.", "Flagged.", "Good.", "Fine."], {"below_min_score": 1, "no_score": 1}),
        (PairFilter(drop_flagged=True), ["Good.", "Bad.", "Good.", "Fine.", "None."], {"flagged": 1}),
        (PairFilter(dedup=True), ["Good.", "Bad.", "Flagged.", "Fine.", "None."], {"duplicate": 1}),
        (
            PairFilter(min_score=-1.0, drop_flagged=True, dedup=True),
            ["Good.", "Fine."],
            {"below_min_score": 1, "no_score": 1, "flagged": 1, "duplicate": 1},
        ),
    ],
)
def test_filters_drop_exactly_what_they_say_and_the_report_counts_it(
    tmp_path: Path, pair_filter: PairFilter, kept_en: list[str], dropped: dict[str, int]
) -> None:
    run = filter_run(tmp_path / "run")
    result = export_corpus(run, format="tsv", pair_filter=pair_filter)

    assert [line.split("\t")[2] for line in read(run / "corpus.tsv").splitlines()] == kept_en
    report = json.loads((run / "corpus.export.json").read_text(encoding="utf-8"))
    assert report == {
        "format": "tsv",
        "source": str(run),
        "files": ["corpus.tsv"],
        "filter": {"min_score": pair_filter.min_score, "drop_flagged": pair_filter.drop_flagged, "dedup": pair_filter.dedup},
        "counts": {
            "pairs": 6,
            "kept": len(kept_en),
            "dropped": {"below_min_score": 0, "no_score": 0, "flagged": 0, "duplicate": 0, **dropped},
        },
        "replaced_characters": 0,
        "partial": False,
    }
    assert result.counts.to_dict() == report["counts"]


def test_min_score_on_a_run_without_scores_fails_before_writing_anything(tmp_path: Path) -> None:
    run = simple_run(tmp_path / "run")
    with pytest.raises(InputError) as caught:
        export_corpus(run, format="moses", destination=tmp_path / "out" / "train", pair_filter=PairFilter(min_score=-1.0))

    assert str(caught.value) == (
        f"{run}: its pairs have no scores, so --min-score cannot filter them; "
        "drop --min-score, or re-translate with a ja2en version that records scores"
    )
    assert not (tmp_path / "out").exists()


# --- errors, destinations, atomicity -----------------------------------------------------


def test_unknown_format_names_the_ones_that_exist(tmp_path: Path) -> None:
    run = simple_run(tmp_path / "run")
    with pytest.raises(InputError) as caught:
        export_corpus(run, format="xyz")
    assert str(caught.value) == "unknown export format 'xyz'; use one of tmx, moses, tsv"


def test_a_folder_without_documents_jsonl_says_to_translate_first(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        export_corpus(tmp_path, format="tmx")
    assert str(caught.value) == f"{tmp_path}: no documents.jsonl here; run `ja2en translate INPUT -o {tmp_path}` first"


@pytest.mark.parametrize(
    ("format", "data_files"),
    [("tmx", ["corpus.tmx"]), ("moses", ["corpus.ja", "corpus.en"]), ("tsv", ["corpus.tsv"])],
)
def test_default_destination_is_inside_the_run_folder(tmp_path: Path, format: str, data_files: list[str]) -> None:
    run = simple_run(tmp_path / "run")
    before = {path.name for path in run.iterdir()}
    result = export_corpus(run, format=format)

    assert result.format == format
    assert result.files == (*(run / name for name in data_files), run / "corpus.export.json")
    # Exactly the data and the report appeared (and the lock file readers share): no .partial left behind.
    assert {path.name for path in run.iterdir()} - before - {".ja2en.lock"} == {*data_files, "corpus.export.json"}
    assert json.loads((run / "corpus.export.json").read_text(encoding="utf-8"))["files"] == data_files


def test_tmx_destination_names_the_report_after_its_stem(tmp_path: Path) -> None:
    run = simple_run(tmp_path / "run")
    result = export_corpus(run, format="tmx", destination=tmp_path / "new" / "ja-en.tmx")
    assert result.files == (tmp_path / "new" / "ja-en.tmx", tmp_path / "new" / "ja-en.export.json")
    assert len(ElementTree.parse(result.files[0]).getroot().findall("./body/tu")) == 3


@pytest.mark.parametrize("format", FORMATS)
def test_a_failure_midway_keeps_the_previous_export_and_leaves_no_partial_file(tmp_path: Path, format: str) -> None:
    run = simple_run(tmp_path / "run")
    first = export_corpus(run, format=format)
    before = {path: path.read_bytes() for path in first.files}
    with (run / "documents.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")

    with pytest.raises(InputError, match=r"documents\.jsonl:3: not valid JSON"):
        export_corpus(run, format=format)
    assert {path: path.read_bytes() for path in first.files} == before
    assert not [path.name for path in run.iterdir() if path.name.endswith(".partial")]


def test_an_unwritable_destination_is_one_output_error_naming_it(tmp_path: Path) -> None:
    run = simple_run(tmp_path / "run")
    (tmp_path / "blocker").write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(OutputError) as caught:
        export_corpus(run, format="tsv", destination=tmp_path / "blocker" / "corpus.tsv")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'blocker'}: cannot write corpus.tsv there (")
    assert message.endswith("check the folder's permissions and free space, or choose another destination")
    assert "\n" not in message


def test_a_destination_over_the_runs_own_files_is_refused(tmp_path: Path) -> None:
    run = simple_run(tmp_path / "run")
    documents = (run / "documents.jsonl").read_bytes()
    with pytest.raises(OutputError) as caught:
        export_corpus(run, format="tsv", destination=run / "documents.jsonl", overwrite=True)
    assert str(caught.value) == (
        f"{run / 'documents.jsonl'}: is an input, inside an input folder, or one of the run's own files, and ja2en never "
        "writes over what it reads; choose another destination with --to"
    )
    assert (run / "documents.jsonl").read_bytes() == documents


def test_a_destination_over_an_input_of_the_run_is_refused(tmp_path: Path) -> None:
    run = simple_run(tmp_path / "run")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("原文です。\n", encoding="utf-8")
    (tmp_path / "b.tsv").write_text("id\ttext\n1\t原文\n", encoding="utf-8")
    manifest = {"ja2en_version": "0", "inputs": ["in", "b.tsv"], "input_roots": [str(tmp_path / "in"), str(tmp_path / "b.tsv")]}
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    for destination in (tmp_path / "b.tsv", tmp_path / "in" / "a.txt", tmp_path / "in" / "new.tsv"):
        with pytest.raises(OutputError, match="is an input, inside an input folder"):
            export_corpus(run, format="tsv", destination=destination, overwrite=True)
    assert (tmp_path / "b.tsv").read_text(encoding="utf-8") == "id\ttext\n1\t原文\n"
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["a.txt"]


@pytest.mark.parametrize("format", FORMATS)
def test_an_existing_file_an_export_did_not_write_is_replaced_only_with_overwrite(tmp_path: Path, format: str) -> None:
    run = simple_run(tmp_path / "run")
    prefix = tmp_path / "mine" / "corpus"
    names = ["corpus.ja", "corpus.en"] if format == "moses" else [f"corpus.{format}"]
    prefix.parent.mkdir()
    (prefix.parent / names[-1]).write_text("my own work\n", encoding="utf-8")
    destination = prefix if format == "moses" else prefix.with_name(names[0])
    with pytest.raises(OutputError) as caught:
        export_corpus(run, format=format, destination=destination)
    assert str(caught.value) == (
        f"{prefix.parent / names[-1]}: exists and was not written by ja2en; choose another destination with --to, "
        "or pass --overwrite to replace it"
    )
    assert sorted(p.name for p in prefix.parent.iterdir()) == [names[-1]]
    export_corpus(run, format=format, destination=destination, overwrite=True)
    export_corpus(run, format=format, destination=destination)  # its own earlier export: replaced without asking
    assert (prefix.parent / names[-1]).read_text(encoding="utf-8") != "my own work\n"


@pytest.mark.parametrize("format, name", [("tmx", "corpus.tmx"), ("tsv", "corpus.tsv"), ("moses", "corpus.ja")])
def test_a_folder_as_destination_means_corpus_files_in_it(tmp_path: Path, format: str, name: str) -> None:
    run = simple_run(tmp_path / "run")
    (tmp_path / "exports").mkdir()
    result = export_corpus(run, format=format, destination=tmp_path / "exports")
    assert result.files[0] == tmp_path / "exports" / name
    assert result.files[-1] == tmp_path / "exports" / "corpus.export.json"


@pytest.mark.parametrize("format", FORMATS)
def test_a_disk_that_fills_up_leaves_no_partial_files(tmp_path: Path, format: str) -> None:
    from small_disk import small_disk

    run = simple_run(tmp_path / "run")
    with small_disk(tmp_path / "disk", size="64k") as disk:
        fill(disk / "filler")  # the export's few bytes then fail at the last flush, and again at close
        with pytest.raises(OutputError) as caught:
            export_corpus(run, format=format, destination=disk / "corpus")
        left = sorted(p.name for p in disk.iterdir())
    assert "(No space left on device)" in str(caught.value)
    assert left == ["filler"]


def fill(path: Path) -> None:
    """Write `path` until its disk is full."""
    with path.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"x" * 4096)
        except OSError:
            pass


@pytest.mark.parametrize("format", FORMATS)
def test_a_run_with_no_pairs_exports_valid_empty_files(tmp_path: Path, format: str) -> None:
    run = make_run(tmp_path / "run", {"empty": []})
    result = export_corpus(run, format=format)

    assert result.counts.to_dict()["pairs"] == 0
    if format == "tmx":
        assert ElementTree.parse(result.files[0]).getroot().findall("./body/tu") == []
    else:
        assert all(read(path) == "" for path in result.files[:-1])


# --- unfinished runs ---------------------------------------------------------------------


def interrupted_run(folder: Path, planned: int | None) -> Path:
    """simple_run stopped midway: status "running" and a torn last line after its two documents."""
    run = simple_run(folder)
    manifest: dict[str, Any] = {"status": "running"}
    if planned is not None:
        manifest["counts"] = {"documents_planned": planned}
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with (run / "documents.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"id": "d3", "pairs": [{"paragraph": 0, "sentence": 0, "ja": "四。"')
    return run


@pytest.mark.parametrize(("planned", "progress"), [(20, "2 of 20 documents"), (None, "2 documents so far")])
def test_an_unfinished_run_is_refused(tmp_path: Path, planned: int | None, progress: str) -> None:
    run = interrupted_run(tmp_path / "run", planned)
    before = {path.name for path in run.iterdir()}
    with pytest.raises(InputError) as caught:
        export_corpus(run, format="tsv")
    assert str(caught.value) == (
        f"{run} is not finished ({progress}); re-run the same `ja2en translate ... -o {run}` command "
        "to finish it, or pass --partial"
    )
    assert {path.name for path in run.iterdir()} - {".ja2en.lock"} == before


@pytest.mark.parametrize("format", FORMATS)
def test_partial_exports_the_finished_documents_and_says_so(tmp_path: Path, format: str) -> None:
    run = interrupted_run(tmp_path / "run", 20)
    result = export_corpus(run, format=format, partial=True)

    assert result.partial and result.counts.to_dict()["pairs"] == 3  # the torn fourth pair is skipped
    report = json.loads((run / "corpus.export.json").read_text(encoding="utf-8"))
    assert report["partial"] is True
    if format == "tmx":
        header = ElementTree.parse(run / "corpus.tmx").getroot().find("header")
        assert [note.text for note in header.findall("note")] == [
            "partial: exported from a ja2en run that had not finished (2 of 20 documents)"
        ]
        assert len(ElementTree.parse(run / "corpus.tmx").getroot().findall("./body/tu")) == 3
    elif format == "tsv":
        assert [line.split("\t")[2] for line in read(run / "corpus.tsv").splitlines()] == ["One.", "Two.", "Three."]


def test_partial_tmx_of_a_run_that_does_not_know_its_total(tmp_path: Path) -> None:
    run = interrupted_run(tmp_path / "run", None)
    export_corpus(run, format="tmx", partial=True)
    header = ElementTree.parse(run / "corpus.tmx").getroot().find("header")
    assert [note.text for note in header.findall("note")] == [
        "partial: exported from a ja2en run that had not finished (2 documents so far)"
    ]


def test_partial_on_a_finished_run_changes_nothing(tmp_path: Path) -> None:
    run = simple_run(tmp_path / "run")
    result = export_corpus(run, format="tmx", partial=True)
    assert not result.partial
    assert ElementTree.parse(run / "corpus.tmx").getroot().find("header").findall("note") == []


# --- a run folder being written ----------------------------------------------------------


def test_export_fails_at_once_while_a_run_writes_the_folder(tmp_path: Path) -> None:
    run = simple_run(tmp_path / "run")
    # flock locks belong to an open file description: a second open in this process conflicts.
    with OutputLock(run):
        with pytest.raises(OutputError) as caught:
            export_corpus(run, format="tsv", destination=tmp_path / "out" / "corpus.tsv")
    assert str(caught.value) == (
        f"{run} is being written by another ja2en run (pid {os.getpid()}); wait for it to finish, then try again"
    )
    assert not (tmp_path / "out").exists()


def test_export_holds_the_run_folder_for_the_whole_read(tmp_path: Path, monkeypatch) -> None:
    run = simple_run(tmp_path / "run")
    real_select_pairs = export_module.select_pairs
    seen = []

    def select_pairs(*args, **kwargs):
        yield from real_select_pairs(*args, **kwargs)
        try:  # after the last pair was read
            OutputLock(run).acquire().release()
            seen.append("a run could start")
        except OutputError:
            seen.append("locked")

    monkeypatch.setattr(export_module, "select_pairs", select_pairs)
    export_corpus(run, format="tsv")
    assert seen == ["locked"]
    OutputLock(run).acquire().release()  # and let go afterwards
