"""HTML pages and EPUB books: only the article is translated, exactly, and each pair says where it was.

The pages are news pages with everything around an article (menus, breadcrumb, cookie
banner, scripts, styles, related articles, footer); the article is made of corpus
sentences, so the overfit model translates each exactly, and the boilerplate of none, so
any leak shows up as a pair.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ja2en import translate_documents

TITLE_S, LEAD_1, LEAD_2, BODY_1 = (
    "会議は延期された。",
    "東京都は発表した。",
    "参加費は無料です。",
    "株価は大幅に下落した。",
)
HEAD_2, BODY_2, ITEM_1, ITEM_2 = (
    "詳細は後日お知らせします。",
    "新しい図書館は来月開館する。",
    "大会は予定通り開催される。",
    "事故による死傷者はいなかった。",
)
CELL_1, CELL_2 = ("ありがとうございます。", "本件に関するお問い合わせは、広報部までご連絡ください。")

# Text that must never become a pair; the sentence-like ones would be translated if kept.
BOILERPLATE = [
    "トップページ",
    "報道発表",
    "くらし・健康・福祉",
    "ホーム",
    "経済ニュース",
    "当サイトではクッキーを使用しています。閲覧を続けると同意したものとみなします。",
    "同意する",
    "この記事をシェアする",
    "関連記事",
    "円安進む 一時1ドル151円台に",
    "日銀総裁「緩和を粘り強く続ける」",
    "アクセスランキング",
    "関東で記録的猛暑 熱中症に警戒",
    "サイトポリシー",
    "Copyright © 毎日ニュース",
    "JavaScriptを有効にしてください。",
    "dataLayer",
    "cookie-banner",
]


def _links(titles: list[str]) -> str:
    return "".join(f'<li><a href="/a/{i}">{title}</a></li>' for i, title in enumerate(titles))


NEWS_PAGE = f"""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>会議延期 - 毎日ニュース</title>
<style>.cookie-banner{{position:fixed}}</style>
<script>window.dataLayer=window.dataLayer||[];</script></head>
<body>
<div class="cookie-banner"><p>{BOILERPLATE[5]}</p><button>{BOILERPLATE[6]}</button></div>
<header><a href="/">毎日ニュース</a><nav><ul>{_links(BOILERPLATE[:3])}</ul></nav></header>
<nav class="breadcrumb"><a href="/">{BOILERPLATE[3]}</a> &gt; <a href="/economy">{BOILERPLATE[4]}</a></nav>
<main><article>
<h1>{TITLE_S}</h1>
<div class="share"><span>{BOILERPLATE[7]}</span></div>
<p>{LEAD_1}
{LEAD_2}</p>
<p>{BODY_1}</p>
<h2>{HEAD_2}</h2>
<p>{BODY_2}</p>
<ul><li>{ITEM_1}</li><li>{ITEM_2}</li></ul>
<table><tr><th>{CELL_1}</th><td>{CELL_2}</td></tr></table>
<section class="related"><h3>{BOILERPLATE[8]}</h3><ul>{_links(BOILERPLATE[9:11])}</ul></section>
</article>
<aside><h3>{BOILERPLATE[11]}</h3><ol>{_links(BOILERPLATE[12:13])}</ol></aside></main>
<noscript><p>{BOILERPLATE[15]}</p></noscript>
<footer><ul>{_links(BOILERPLATE[13:14])}</ul><small>{BOILERPLATE[14]}</small></footer>
</body></html>"""

NEWS_PAIRS = [
    (TITLE_S, f"h1 {TITLE_S}"),
    (LEAD_1, f"h1 {TITLE_S} › p 1"),
    (LEAD_2, f"h1 {TITLE_S} › p 1"),
    (BODY_1, f"h1 {TITLE_S} › p 2"),
    (HEAD_2, f"h2 {HEAD_2}"),
    (BODY_2, f"h2 {HEAD_2} › p 1"),
    (ITEM_1, f"h2 {HEAD_2} › li 1"),
    (ITEM_2, f"h2 {HEAD_2} › li 2"),
    (CELL_1, f"h2 {HEAD_2} › table 1, row 1, cell 1"),
    (CELL_2, f"h2 {HEAD_2} › table 1, row 1, cell 2"),
]

# An article in <div>s and <br>-separated lines, with no <p> at all.
DIV_LINES = [
    "台風10号は今夜、九州南部に上陸する見込みです。",
    "気象庁によると、明日は関東地方で大雨が予想される。",
    "市は住民に対し、不要不急の外出を控えるよう呼びかけている。",
]
DIV_PAGE = f"""<html><head><title>台風情報</title></head><body>
<div id="header"><div class="menu">{"".join(f'<div><a href="/{i}">{t}</a></div>' for i, t in enumerate(BOILERPLATE[:3]))}</div></div>
<div id="main"><div class="article"><div class="body">
<div>{DIV_LINES[0]}</div>
<div>{DIV_LINES[1]}<br>{DIV_LINES[2]}</div>
</div></div>
<div id="side">{"".join(f'<div><a href="/r{i}">{t}</a></div>' for i, t in enumerate(BOILERPLATE[9:11]))}</div></div>
<div id="footer"><a href="/p">{BOILERPLATE[13]}</a><div>{BOILERPLATE[14]}</div></div>
</body></html>"""

NAV_ONLY_PAGE = f"""<html lang="ja"><head><title>サイトマップ</title></head><body>
<header><nav><ul>{_links(BOILERPLATE[:3])}</ul></nav></header>
<footer><p>{BOILERPLATE[14]}</p></footer><script>var a = 1;</script></body></html>"""


def translate(folder: Path, tmp_path: Path, translator) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Documents by id, and the errors.jsonl lines, of a run over `folder`."""
    result = translate_documents(folder, output_dir=tmp_path / "out", translator=translator, summary="none")
    documents = [json.loads(line) for line in result.files["documents"].read_text(encoding="utf-8").splitlines()]
    errors = [json.loads(line) for line in result.files["errors"].read_text(encoding="utf-8").splitlines()]
    return {doc["id"]: doc for doc in documents}, errors


def assert_pairs(doc: dict[str, Any], want: list[tuple[str, str]], expected: dict[str, str]) -> None:
    """The document's pairs are exactly `want` (ja, locator), each with its exact English, and no boilerplate."""
    assert [(p["ja"], p["locator"]) for p in doc["pairs"]] == want
    assert [p["en"] for p in doc["pairs"]] == [expected[ja] for ja, _ in want]
    for pair in doc["pairs"]:
        assert not [b for b in BOILERPLATE if b in pair["ja"]]


def test_a_news_page_gives_its_article_only(tmp_path: Path, translator, expected) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "news.html").write_text(NEWS_PAGE, encoding="utf-8")
    (folder / "typhoon.htm").write_text(DIV_PAGE, encoding="utf-8")
    docs, errors = translate(folder, tmp_path, translator)
    assert errors == []
    news = docs["news"]
    assert (news["format"], news["title"], news["meta"], news["encoding"]) == (
        "html",
        "会議延期 - 毎日ニュース",
        {"lang": "ja"},
        "utf-8",
    )
    assert_pairs(news, NEWS_PAIRS, expected)
    typhoon = docs["typhoon"]
    assert (typhoon["title"], typhoon["meta"]) == ("台風情報", None)
    assert_pairs(typhoon, [(DIV_LINES[0], "div 1"), (DIV_LINES[1], "div 2"), (DIV_LINES[2], "div 3")], expected)


@pytest.mark.parametrize(
    "declaration",
    ['<meta charset="shift_jis">', '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'],
)
def test_a_shift_jis_page_is_decoded_with_its_declared_charset(
    tmp_path: Path, translator, expected, declaration: str
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    sentences = ["円相場は一時1ドル=150円台まで下落した。", "事故による死傷者はいなかった。"]
    page = (
        f"<html lang='ja'><head>{declaration}<title>円相場</title></head><body><article>"
        + "".join(f"<p>{s}</p>" for s in sentences)
        + "</article></body></html>"
    )
    (folder / "sjis.html").write_bytes(page.encode("cp932"))
    docs, errors = translate(folder, tmp_path, translator)
    assert errors == []
    assert (docs["sjis"]["encoding"], docs["sjis"]["title"]) == ("cp932", "円相場")
    assert_pairs(docs["sjis"], [(sentences[0], "p 1"), (sentences[1], "p 2")], expected)


def write_epub(path: Path, chapters: dict[str, str], spine: list[str], *, title: str = "テスト本") -> None:
    """An EPUB 3 with `chapters` (file name → body HTML) under OEBPS/, read in `spine` order."""
    manifest = "".join(
        f'<item id="c{i}" href="{name}" media-type="application/xhtml+xml"/>' for i, name in enumerate(chapters)
    )
    ids = {name: f"c{i}" for i, name in enumerate(chapters)}
    opf = f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">urn:test</dc:identifier>
<dc:title>{title}</dc:title><dc:language>ja</dc:language></metadata>
<manifest>{manifest}<item id="css" href="style.css" media-type="text/css"/></manifest>
<spine>{"".join(f'<itemref idref="{ids[name]}"/>' for name in spine)}</spine></package>"""
    container = """<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"""
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr("META-INF/container.xml", container)
        book.writestr("OEBPS/content.opf", opf)
        book.writestr("OEBPS/style.css", "p { margin: 0 }")
        for name, body in chapters.items():
            book.writestr(
                f"OEBPS/{name}",
                '<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml" xml:lang="ja">'
                f"<head><title>{name}</title></head><body>{body}</body></html>",
            )


def test_an_epub_gives_its_chapters_in_spine_order(tmp_path: Path, translator, expected) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    chapter1, chapter2 = (
        ["新しい図書館は来月開館する。", "参加費は無料です。"],
        ["大会は予定通り開催される。", "会議は延期された。"],
    )
    # The manifest lists chapter2 first: the spine, not the manifest or the zip, sets the order.
    write_epub(
        folder / "book.epub",
        {
            "chapter2.xhtml": f"<h2>{chapter2[0]}</h2><p>{chapter2[1]}</p>",
            "chapter1.xhtml": f"<p>{chapter1[0]}</p><p>{chapter1[1]}</p>",
        },
        ["chapter1.xhtml", "chapter2.xhtml"],
    )
    docs, errors = translate(folder, tmp_path, translator)
    assert errors == []
    book = docs["book"]
    assert (book["format"], book["title"], book["meta"]) == ("epub", "テスト本", {"lang": "ja"})
    assert_pairs(
        book,
        [
            (chapter1[0], "chapter1.xhtml › p 1"),
            (chapter1[1], "chapter1.xhtml › p 2"),
            (chapter2[0], f"chapter2.xhtml › h2 {chapter2[0]}"),
            (chapter2[1], f"chapter2.xhtml › h2 {chapter2[0]} › p 1"),
        ],
        expected,
    )


def test_broken_pages_and_books_are_reported_one_line_each(tmp_path: Path, translator, expected) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("株価は大幅に下落した。\n", encoding="utf-8")
    (folder / "b_menu.html").write_text(NAV_ONLY_PAGE, encoding="utf-8")
    with zipfile.ZipFile(folder / "c_notes.epub", "w") as archive:
        archive.writestr("notes.txt", "参加費は無料です。")
    (folder / "d_fake.epub").write_bytes(b"not a zip at all")
    (folder / "e.txt").write_text("ありがとうございます。\n", encoding="utf-8")
    docs, errors = translate(folder, tmp_path, translator)
    assert errors == [
        {
            "error": "InputError",
            "message": f"{folder / 'b_menu.html'}: no article text found; the page holds only menus and links, "
            "or its text is loaded by JavaScript",
        },
        {
            "error": "InputError",
            "message": f"{folder / 'c_notes.epub'}: not an EPUB (no META-INF/container.xml in the zip); "
            "re-export it from the editor that made it",
        },
        {
            "error": "InputError",
            "message": f"{folder / 'd_fake.epub'}: not an EPUB (not a zip file); re-export it from the editor that made it",
        },
    ]
    assert [(doc_id, [(p["ja"], p["en"]) for p in doc["pairs"]]) for doc_id, doc in docs.items()] == [
        ("a", [("株価は大幅に下落した。", expected["株価は大幅に下落した。"])]),
        ("e", [("ありがとうございます。", expected["ありがとうございます。"])]),
    ]


def _deep_page(depth: int) -> str:
    article = "<p>会議は延期された。</p><p>参加費は無料です。</p><p>株価は大幅に下落した。</p>"
    return f"<html><head><title>深い</title></head><body>{'<div>' * depth}{article}{'</div>' * depth}</body></html>"


@pytest.mark.parametrize("depth", [300, 2000])
def test_a_page_nested_thousands_of_elements_deep_keeps_its_text(tmp_path: Path, depth: int) -> None:
    from ja2en.readers import read_file

    (tmp_path / "deep.html").write_text(_deep_page(depth), encoding="utf-8")
    [doc] = read_file(tmp_path / "deep.html", tmp_path)
    assert doc.text == "会議は延期された。\n参加費は無料です。\n株価は大幅に下落した。\n"


def test_a_page_nested_deeper_than_the_parser_reads_says_so(tmp_path: Path) -> None:
    from ja2en import InputError
    from ja2en.readers import read_file

    (tmp_path / "deeper.html").write_text(_deep_page(5000), encoding="utf-8")
    [error] = read_file(tmp_path / "deeper.html", tmp_path)
    assert isinstance(error, InputError)
    assert str(error) == (
        f"{tmp_path / 'deeper.html'}: its elements are nested more than 2048 deep, deeper than the HTML parser "
        "(libxml2) reads, so the text below that depth cannot be read; save the page again with less nesting"
    )
