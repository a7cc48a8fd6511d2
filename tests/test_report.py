"""The HTML review page of a run (ja2en.corpus.report), checked in a real headless browser:
Debian's `chromium` driven by Playwright (no browser download). Without chromium the
browser tests are skipped, except on CI, where they must run.

JA2EN_WRITE_SCREENSHOT=1 rewrites docs/report.png, the README's picture of the page.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ja2en import InputError, OutputError, translate_documents
from ja2en.corpus.output import FilterCounts, PairFilter, RunOutput, select_pairs
from ja2en.corpus.report import script_json, write_report

SCREENSHOT = Path(__file__).parent.parent / "docs" / "report.png"
PAYLOAD = "<script>window.__pwned=1;alert(1)</script><img src=x onerror=window.__pwned=2>"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, translator, summarizer) -> Path:
    """A finished run with an error, a flagged (copied) pair and a sentence that is markup."""
    root = tmp_path_factory.mktemp("report") / "in"
    (root / "news").mkdir(parents=True)
    (root / "news" / "a.txt").write_text(
        "株価は大幅に下落した。会議は延期された。\n\n"
        f"市長は「市民の声に耳を傾ける。」と強調した。{PAYLOAD}\n\n"
        "★★★\n",
        encoding="utf-8",
    )
    b_text = "参加費は無料です。\n\n東京都は発表した。ありがとうございます。\n"
    (root / "news" / "b.txt").write_text(b_text, encoding="utf-8")
    (root / "broken.txt").write_bytes(b"\x00\x01binary\xff")
    out = root.parent / "out"
    translate_documents(root, output_dir=out, translator=translator, summarizer=summarizer)
    return out


def _documents(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "documents.jsonl").read_text(encoding="utf-8").splitlines()]


def _pairs(run: Path) -> list[tuple[str, str, str, list[str]]]:
    return [(d["id"], p["ja"], p["en"], p["flags"]) for d in _documents(run) for p in d["pairs"]]


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("report.html", ".ja2en.lock"))
    return copy


def _edit_manifest(run: Path, **changes: Any) -> None:
    path = run / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text(encoding="utf-8")) | changes), encoding="utf-8")


# ---- the file ------------------------------------------------------------------------


def test_the_fixture_run_has_what_the_page_must_show(run_dir: Path) -> None:
    pairs = _pairs(run_dir)
    assert any(PAYLOAD in ja for _, ja, _, _ in pairs)
    assert ("news/a", "★★★", "★★★", ["copied"]) in pairs
    assert (run_dir / "errors.jsonl").read_text(encoding="utf-8").count("\n") == 1


def test_the_report_is_one_file_whose_data_cannot_close_its_script(run_dir: Path, tmp_path: Path) -> None:
    run = _copy_run(run_dir, tmp_path)
    path = write_report(run)
    assert path == run / "report.html"
    assert sorted(p.name for p in run.iterdir() if "report" in p.name) == ["report.html"]  # no temporary left
    page = path.read_text(encoding="utf-8")
    # The two data blocks and the page's own script: the sentence's <script> is not a fourth.
    assert page.count("<script") == 3
    assert "alert(1)" in page and "<script>window" not in page and "<img" not in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page

    elsewhere = write_report(run, tmp_path / "page.html")
    assert elsewhere == tmp_path / "page.html"
    assert elsewhere.read_text(encoding="utf-8").count("<script") == 3


def test_data_in_a_script_block_is_escaped_and_reads_back_the_same() -> None:
    value = {"ja": "</script><!-- a & b \u2028\u2029 \ud800", "score": -0.5}
    text = script_json(value)
    assert not any(ch in text for ch in "<>&\u2028\u2029\ud800")
    assert json.loads(text) == value


def test_a_folder_without_a_run_is_refused_with_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no documents.jsonl here; run `ja2en translate INPUT -o "):
        write_report(tmp_path)


# ---- the page, in a browser --------------------------------------------------------------


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI must run the report's browser tests")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium, driven by Playwright (which downloads no browser here)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: pip install -e '.[test]'")
    executable = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if executable is None:
        _unavailable("chromium is not installed: apt-get install chromium (Debian/Ubuntu)")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass
class Opened:
    page: Any
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str, str, list[str]]]:
        """The pairs shown, in page order: (document id, Japanese, English, flag labels)."""
        return [
            tuple(row)
            for row in self.page.eval_on_selector_all(
                ".pair",
                "rows => rows.map(r => [r.dataset.doc, r.querySelector('.ja').textContent,"
                " r.querySelector('.en').textContent, [...r.querySelectorAll('.flag')].map(f => f.textContent)])",
            )
        ]


@pytest.fixture
def open_report(browser) -> Iterator[Any]:
    pages = []

    def open_(path: Path) -> Opened:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        pages.append(page)
        # Generous budgets (30 s a step, 60 s to render): the 10,000-pair page on two loaded
        # cores; waits end at their event, so a fast machine is not slowed by them.
        page.set_default_timeout(30_000)
        opened = Opened(page)
        page.on("request", lambda request: opened.requests.append(request.url))
        page.on("dialog", lambda dialog: (opened.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: opened.errors.append(str(error)))
        # A load the page's Content-Security-Policy refused is no request, but a console error.
        page.on("console", lambda message: message.type == "error" and opened.errors.append(message.text))
        page.goto(path.resolve().as_uri())
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        return opened

    yield open_
    for page in pages:
        page.close()


@pytest.fixture(scope="module")
def report(run_dir: Path) -> Path:
    return write_report(run_dir)


def test_every_pair_appears_once_in_order_with_its_flags(report: Path, run_dir: Path, open_report) -> None:
    opened = open_report(report)
    assert opened.rows() == _pairs(run_dir)
    assert opened.errors == []
    flagged = opened.page.locator(".pair.flagged")
    assert flagged.count() == sum(1 for *_, flags in _pairs(run_dir) if flags) >= 1
    assert "copied" in opened.page.locator("#counts").inner_text()


def test_a_script_in_a_sentence_shows_as_text_runs_nothing_and_nothing_is_fetched(report: Path, open_report) -> None:
    opened = open_report(report)
    shown = opened.page.locator(".pair .ja", has_text="alert(1)")
    assert PAYLOAD in shown.inner_text()
    # The page renders its rows while it is parsed, and its load event waits for every image
    # in it, failed ones included: once it has fired, an injected <img onerror> has run.
    opened.page.wait_for_load_state("load")
    assert opened.page.evaluate("document.readyState") == "complete"
    assert opened.page.evaluate("typeof window.__pwned") == "undefined"
    assert opened.dialogs == []
    assert opened.page.locator(".pair img, .pair script").count() == 0
    assert opened.requests == [report.resolve().as_uri()]
    assert opened.errors == []


def test_the_review_filters_show_exactly_the_matching_pairs(report: Path, run_dir: Path, open_report) -> None:
    opened = open_report(report)
    pairs = _pairs(run_dir)
    page = opened.page

    page.check("#f-flagged")
    assert opened.rows() == [p for p in pairs if p[3]]
    assert page.locator("#f-count").inner_text() == f"Showing {len(opened.rows())} of {len(pairs)} pairs"

    page.click("#f-clear")
    page.select_option("#f-flag", "copied")
    assert opened.rows() == [p for p in pairs if "copied" in p[3]]

    page.click("#f-clear")
    page.fill("#f-search", "POSTPONED")  # English, any case
    assert opened.rows() == [p for p in pairs if "postponed" in p[2].lower()]
    assert ("news/a", "会議は延期された。", "The meeting was postponed.", []) in opened.rows()
    page.fill("#f-search", "東京都")
    assert opened.rows() == [p for p in pairs if "東京都" in p[1]] != []

    page.click("#f-clear")
    scores = [p["score"] for d in _documents(run_dir) for p in d["pairs"] if p["score"] is not None]
    threshold = sorted(scores)[len(scores) // 2]
    page.fill("#f-below", str(threshold))
    assert len(opened.rows()) == sum(1 for s in scores if s < threshold) >= 1  # a copied pair has no score

    page.click("#f-clear")
    assert opened.rows() == pairs
    assert opened.errors == []


def test_the_min_score_marker_counts_what_publish_would_drop(report: Path, run_dir: Path, open_report) -> None:
    opened = open_report(report)
    pairs = [p for d in _documents(run_dir) for p in d["pairs"]]
    scores = sorted(p["score"] for p in pairs if p["score"] is not None)
    assert len(scores) < len(pairs)  # the copied pair has none, and publish drops it too
    for threshold in (scores[0] - 1, scores[len(scores) // 2], 0.0):
        opened.page.fill("#min-score", f"{threshold:.2f}")
        counts = FilterCounts()
        kept = sum(1 for _ in select_pairs(RunOutput(run_dir), PairFilter(min_score=round(threshold, 2)), counts))
        assert opened.page.locator("#min-score-drops").inner_text().startswith(
            f"--min-score {threshold:.2f} drops {len(pairs) - kept} of {len(pairs)} pairs"
        )
    marker = opened.page.locator("#min-score-marker")
    assert float(marker.get_attribute("x1")) > 34  # moved right of the axis, to 0

    opened.page.fill("#min-score", f"{scores[len(scores) // 2]:.2f}")
    opened.page.click("#min-score-show")  # the scored pairs it would drop, listed for review
    threshold = float(opened.page.input_value("#f-below"))
    assert len(opened.rows()) == sum(1 for s in scores if s < threshold) >= 1


def test_summaries_titles_locators_and_licenses_show_as_text(run_dir: Path, tmp_path: Path, open_report) -> None:
    run = _copy_run(run_dir, tmp_path)
    documents = _documents(run)
    documents[0] |= {"title": "<b>Title</b>", "summary_ja": "要約<i>です</i>。"}
    documents[0] |= {"summary_ja_en": "A <u>summary</u>."}
    documents[0]["pairs"][0]["locator"] = "page <2>"
    documents[0]["pairs"][1]["score"] = None
    (run / "documents.jsonl").write_text(
        "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents), encoding="utf-8"
    )
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["models"]["translation"]["name"] = "fugumt"
    _edit_manifest(run, models=manifest["models"])

    opened = open_report(write_report(run))
    page = opened.page
    head = page.locator("article.doc").first.locator(".doc-head").inner_text()
    assert "<b>Title</b>" in head and "要約<i>です</i>。" in head and "A <u>summary</u>." in head
    first = page.locator(".pair").first
    assert "page <2>" in first.get_attribute("title")
    first.click()
    source = first.locator(".source").inner_text()
    assert source.startswith(f"{documents[0]['source']} · paragraph 0, sentence 0 · characters 0–11 · page <2>")
    assert page.locator(".pair").nth(1).locator(".score").inner_text() == "no score"
    licenses = page.locator("#models tr").evaluate_all(
        "rows => rows.map(r => [r.querySelector('.model-name').textContent, r.querySelector('.license').textContent])"
    )
    summarizer = str(manifest["models"]["summarization"]["name"])
    assert licenses == [["staka/fugumt-ja-en", "cc-by-sa-4.0"], [summarizer, "unknown"]]
    assert "2\npairs without a score" in page.locator("#counts").inner_text()  # the copied one, and this one
    assert opened.errors == []


def test_a_run_still_going_says_so_and_shows_what_is_done(run_dir: Path, tmp_path: Path, open_report) -> None:
    run = _copy_run(run_dir, tmp_path)
    _edit_manifest(run, status="running", counts={"documents_planned": 5}, this_run=None)
    (run / "errors.jsonl").unlink()
    done = _documents(run)[:1]
    torn = json.dumps(_documents(run)[1], ensure_ascii=False)[:80]  # a write cut short
    (run / "documents.jsonl").write_text(json.dumps(done[0], ensure_ascii=False) + "\n" + torn, encoding="utf-8")

    opened = open_report(write_report(run))
    status = opened.page.locator("#status")
    assert status.is_visible()
    assert status.inner_text().startswith("Unfinished run (status: running): 1 of 5 documents written so far.")
    assert opened.rows() == [(done[0]["id"], p["ja"], p["en"], p["flags"]) for p in done[0]["pairs"]]
    assert opened.errors == []


def test_a_run_with_thousands_of_errors_lists_the_first_and_counts_them_all(run_dir: Path, tmp_path: Path, open_report) -> None:
    run = _copy_run(run_dir, tmp_path)
    lines = [json.dumps({"error": "InputError", "message": f"in/{n:05d}.txt: empty"}) + "\n" for n in range(2500)]
    (run / "errors.jsonl").write_text("".join(lines), encoding="utf-8")

    opened = open_report(write_report(run))
    assert "2500\nerrors" in opened.page.locator("#counts").inner_text()
    listed = opened.page.locator("#error-list td:nth-child(2)")
    assert listed.count() == 2000
    assert listed.nth(1999).inner_text() == "in/01999.txt: empty"
    assert "The first 2000 of 2500 errors; errors.jsonl lists them all." in opened.page.locator("#error-list").inner_text()
    assert opened.errors == []


def _large_run(run_dir: Path, folder: Path, *, documents: int, pairs_per_document: int) -> Path:
    """A copy of the fixture run whose documents.jsonl holds documents × pairs long pairs."""
    run = _copy_run(run_dir, folder)
    template = _documents(run)[0]
    ja = "政府は2023年2月10日に新たな経済対策を閣議決定し、物価高への対応を強化する方針を示した。"
    en = "On February 10, 2023, the government approved a new economic package at a cabinet meeting and " * 2
    with (run / "documents.jsonl").open("w", encoding="utf-8") as out:
        for d in range(documents):
            pairs = [
                {"paragraph": i // 5, "sentence": i % 5, "start": i * len(ja), "end": (i + 1) * len(ja), "ja": ja,
                 "en": en.strip(), "score": -((d * pairs_per_document + i) % 97) / 50,
                 "flags": ["length_ratio"] if i % 37 == 0 else [], "locator": None}
                for i in range(pairs_per_document)
            ]  # fmt: skip
            record = template | {"id": f"doc-{d:04d}", "pairs": pairs, "ja": ja * len(pairs), "en": en * len(pairs)}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return run


def test_a_run_of_10000_pairs_makes_a_small_page_that_shows_them_a_page_at_a_time(
    run_dir: Path, tmp_path: Path, open_report
) -> None:
    run = _large_run(run_dir, tmp_path, documents=100, pairs_per_document=100)
    report = write_report(run)
    assert report.stat().st_size < 15_000_000
    opened = open_report(report)
    page = opened.page
    assert page.locator(".pair").count() == 400
    assert page.locator("#pager-top").inner_text().replace("\n", " ").count("page 1 of 25") == 1
    page.locator("#pager-top button", has_text="Next").click()
    first = page.locator(".pair").first
    assert (first.get_attribute("data-doc"), first.get_attribute("data-paragraph")) == ("doc-0004", "0")
    page.check("#f-flagged")
    assert page.locator("#f-count").inner_text() == f"Showing {100 * 3} of 10000 pairs"
    assert page.locator(".pair").count() == page.locator(".pair.flagged").count() == 300
    assert opened.errors == []


def test_a_finished_run_says_nothing_of_status(report: Path, open_report) -> None:
    assert not open_report(report).page.locator("#status").is_visible()


def test_the_page_renders_something_to_look_at(report: Path, open_report) -> None:
    opened = open_report(report)
    opened.page.set_viewport_size({"width": 1200, "height": 1200})  # the overview and the first pairs
    png = opened.page.screenshot()
    colours = opened.page.evaluate(
        """async (data) => {
            const image = new Image();
            image.src = "data:image/png;base64," + data;
            await image.decode();
            const canvas = document.createElement("canvas");
            canvas.width = image.width; canvas.height = image.height;
            const context = canvas.getContext("2d");
            context.drawImage(image, 0, 0);
            const pixels = context.getImageData(0, 0, image.width, image.height).data;
            const seen = new Set();
            for (let i = 0; i < pixels.length; i += 4) seen.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
            return seen.size;
        }""",
        base64.b64encode(png).decode("ascii"),
    )
    assert colours > 200  # text, charts and score colours; a blank or unstyled page has a handful
    if os.environ.get("JA2EN_WRITE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(png)


# ---- where the page goes, and what it never replaces ----------------------------------------


def _hand_run(tmp_path: Path, **manifest: Any) -> Path:
    from test_export import simple_run

    run = simple_run(tmp_path / "run")
    (run / "manifest.json").write_text(json.dumps({"ja2en_version": "0", **manifest}), encoding="utf-8")
    return run


@pytest.mark.parametrize("name", ["documents.jsonl", "manifest.json", "sentences.jsonl", ".ja2en.lock"])
def test_the_report_never_replaces_the_runs_own_files(tmp_path: Path, name: str) -> None:
    run = _hand_run(tmp_path)
    (run / name).touch()
    before = (run / name).read_bytes()
    with pytest.raises(OutputError) as error:
        write_report(run, run / name, overwrite=True)
    assert str(error.value) == (
        f"{run / name}: is an input, inside an input folder, or one of the run's own files, and ja2en never "
        "writes over what it reads; choose another file with -o"
    )
    assert (run / name).read_bytes() == before


def test_the_report_never_replaces_an_input_of_the_run(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<p>原文</p>", encoding="utf-8")
    run = _hand_run(tmp_path, input_roots=[str(page)])
    with pytest.raises(OutputError, match=r"page\.html: is an input, inside an input folder"):
        write_report(run, page, overwrite=True)
    assert page.read_text(encoding="utf-8") == "<p>原文</p>"


def test_a_folder_as_destination_means_report_html_in_it(tmp_path: Path) -> None:
    run = _hand_run(tmp_path)
    assert write_report(run, run) == run / "report.html"
    (tmp_path / "reviews").mkdir()
    assert write_report(run, tmp_path / "reviews") == tmp_path / "reviews" / "report.html"
    assert "一。" in (tmp_path / "reviews" / "report.html").read_text(encoding="utf-8")


def test_an_existing_page_ja2en_did_not_write_is_replaced_only_with_overwrite(tmp_path: Path) -> None:
    run = _hand_run(tmp_path)
    mine = tmp_path / "notes.html"
    mine.write_text("<title>my notes</title>", encoding="utf-8")
    with pytest.raises(OutputError) as error:
        write_report(run, mine)
    assert str(error.value) == (
        f"{mine}: exists and was not written by ja2en; choose another file with -o, or pass --overwrite to replace it"
    )
    assert mine.read_text(encoding="utf-8") == "<title>my notes</title>"
    write_report(run, mine, overwrite=True)
    write_report(run, mine)  # now a ja2en report: replaced without being asked
    assert "一。" in mine.read_text(encoding="utf-8")


def test_report_on_a_full_disk_is_one_line_exit_4_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ja2en.cli import app
    from small_disk import small_disk

    from test_export import make_run

    run = make_run(tmp_path / "run", {"big": [{"ja": "長い文です。" * 2000, "en": "A long sentence. " * 2000}]})
    with small_disk(tmp_path / "disk", size="64k") as disk:
        result = CliRunner().invoke(app, ["report", str(run), "-o", str(disk / "report.html")])
        left = sorted(p.name for p in disk.iterdir())
    assert result.exit_code == 4, result.output
    assert result.output == (
        f"error: {disk / 'report.html'}: cannot be written (No space left on device); free space, or choose another "
        "file with -o\n"
    )
    assert left == []


def test_report_on_a_read_only_disk_is_one_line_exit_4(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ja2en.cli import app
    from small_disk import small_disk

    run = _hand_run(tmp_path)
    with small_disk(tmp_path / "disk", read_only=True) as disk:
        result = CliRunner().invoke(app, ["report", str(run), "-o", str(disk)])
    assert result.exit_code == 4, result.output
    assert result.output == (
        f"error: {disk / 'report.html'}: cannot be written (Read-only file system); free space, or choose another "
        "file with -o\n"
    )


def test_a_killed_reports_temporary_file_is_removed_but_a_live_ones_is_kept(tmp_path: Path) -> None:
    import subprocess
    import sys

    run = _hand_run(tmp_path)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = run / f".report.html.{int(gone.stdout)}.tmp"  # what a report killed with kill -9 leaves
    live_process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = run / f".report.html.{live_process.pid}.tmp"
        for path in (dead, live):
            path.write_text("<!DOCTYPE html> half a page", encoding="utf-8")
        write_report(run)
        assert sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp")) == [live.name]
    finally:
        live_process.kill()
        live_process.wait()


def test_a_temporary_file_named_with_no_possible_pid_is_a_leftover_not_a_crash(tmp_path: Path) -> None:
    run = _hand_run(tmp_path)
    odd = run / f".report.html.{'9' * 30}.tmp"  # a pid no process can have (os.kill raises OverflowError)
    odd.write_text("half a page", encoding="utf-8")
    write_report(run)
    assert not odd.exists()
    assert (run / "report.html").is_file()
