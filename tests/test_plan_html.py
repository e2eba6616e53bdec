"""The plan's HTML view: well-formed, complete, self-contained, escaped, and it renders in
headless Chromium (required when ``CI`` is set; skipped elsewhere when Chromium is missing)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import tinyabi
from tests.conftest import FLOAT_MODELS, INT8_MODELS, shared_model
from tests.png import read_png
from tinyabi.backends.base import Backend, CompiledPartition, NodeCheck, Verdict
from tinyabi.backends.reference import ReferenceBackend, ReferencePartition
from tinyabi.backends.registry import BackendRegistry
from tinyabi.dispatch.html import render_plan_html
from tinyabi.dispatch.plan_view.colors import PALETTE
from tinyabi.ir.builder import GraphBuilder
from tinyabi.ir.graph import Graph, Node

EVIL_NODE = "<script>alert(1)</script>"
EVIL_TENSOR = "<img src=x onerror=\"document.body.setAttribute('data-pwned',1)\">"
EVIL_MODEL = "</title><script>alert(2)</script>"
EVIL_REASON = 'refuses <b>bold</b> & "quoted" names </script><!--'


class ConvOnly(Backend):
    """Takes convolutions, declines the rest with a reason and a hint."""

    name = "test-conv"

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        if node.op == "CONV_2D":
            return Verdict.yes()
        return Verdict.no(f"{node.op} is not a convolution", "let the reference backend run it")

    def compile(self, subgraph: Graph) -> CompiledPartition:
        return ReferencePartition(subgraph)


class Picky(Backend):
    """Takes every other depthwise convolution; its reason is full of markup."""

    name = "test-picky"

    def supports(self, node: Node, graph: Graph, check: NodeCheck) -> Verdict:
        if node.op == "DEPTHWISE_CONV_2D" and node.name[-1] in "13579":
            return Verdict.yes()
        return Verdict.no(EVIL_REASON)

    def compile(self, subgraph: Graph) -> CompiledPartition:
        return ReferencePartition(subgraph)


def registry() -> BackendRegistry:
    reg = BackendRegistry()
    for cls in (ReferenceBackend, ConvOnly, Picky):
        reg.add(cls)
    assert not reg.problems
    return reg


def planned(graph: Graph) -> tinyabi.Session:
    return tinyabi.Session(graph, backends=["test-conv", "test-picky"], registry=registry())


def evil_graph() -> Graph:
    """A model whose names try to inject markup and script."""
    b = GraphBuilder(EVIL_MODEL)
    x = b.input(EVIL_TENSOR, "float32", [1, 4])
    y = b.tensor("y</script>", "float32", [1, 4])
    z = b.tensor("z&amp;", "float32", [1, 4])
    b.node("RELU", [x], [y], name=EVIL_NODE)
    b.node("TANH", [y], [z], name="tanh\x00\x1b]0;x\x07")
    return b.build([z])


def chain_graph(blocks: int) -> Graph:
    """``3 * blocks`` nodes: RELU and TANH side by side, joined by ADD, repeated."""
    b = GraphBuilder("long")
    x = b.input("x", "float32", [1, 8])
    for k in range(blocks):
        r = b.tensor(f"r{k}", "float32", [1, 8])
        t = b.tensor(f"t{k}", "float32", [1, 8])
        y = b.tensor(f"y{k}", "float32", [1, 8])
        b.node("RELU", [x], [r])
        b.node("TANH", [x], [t])
        b.node("ADD", [r, t], [y], fused_activation="NONE")
        x = y
    return b.build([x])


# --- structure ---------------------------------------------------------------------------------

VOID = {"meta", "input", "br", "hr", "img", "link", "col", "area", "base", "wbr", "source"}
SVG_SELF_CLOSING = {"rect", "path", "line", "circle"}


class TagBalance(HTMLParser):
    """Checks that every element is closed in order (void elements excepted)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.style = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)
        if tag == "script":
            self.scripts.append(dict(attrs))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "style":
            self.style += data

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)
        if tag not in SVG_SELF_CLOSING | VOID:
            self.problems.append(f"unexpected self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def parse(page: str) -> TagBalance:
    parser = TagBalance()
    parser.feed(page)
    parser.close()
    return parser


def check_well_formed(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    parser = parse(page)
    assert parser.problems == []
    assert parser.stack == []
    assert [s.get("type") for s in parser.scripts] == ["application/json", None]
    svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    assert len(svgs) == 2  # the graph and the memory plan
    for svg in svgs:
        ET.fromstring(svg)  # raises on malformed XML


def embedded_data(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="plan-data">(.*?)</script>', page, re.S)
    assert match is not None
    assert "<" not in match.group(1)
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def legend(page: str) -> str:
    match = re.search(r'<ul class="legend".*?</ul>', page, re.S)
    assert match is not None
    return match.group(0)


def assert_self_contained(page: str) -> None:
    lowered = page.lower()
    assert "http://" not in lowered
    assert "https://" not in lowered
    parser = parse(page)
    assert not parser.tags & {"link", "img", "iframe", "object", "embed", "image", "use", "a"}
    assert not parser.attributes & {"src", "href", "srcset", "xlink:href", "action"}
    assert not [a for a in parser.attributes if a.startswith("on")]  # no inline handlers
    assert "@import" not in parser.style
    assert "@font-face" not in parser.style
    assert set(re.findall(r"url\(([^)]*)\)", page)) <= {"#arrow"}


@pytest.mark.parametrize("name", INT8_MODELS + FLOAT_MODELS)
def test_page_for_every_shared_model(name: str) -> None:
    session = planned(tinyabi.load(str(shared_model(name))))
    plan, graph = session.plan, session.graph
    page = render_plan_html(plan, graph)
    check_well_formed(page)
    assert_self_contained(page)
    for node in graph.nodes:
        assert html.escape(node.name) in page
    keys = legend(page)
    used = {n.backend for n in plan.nodes}
    for backend in [*plan.backends, *used]:
        assert f"</span>{html.escape(backend)} " in keys
    for p in plan.partitions:
        assert f">partition {p.index}</text>" in page
    assert plan.memory is not None
    arena, bound = plan.memory.arena_bytes, plan.memory.lower_bound_bytes
    labels = re.findall(r'<text class="lim [a-z]+"[^>]*>([^<]*)</text>', page)
    if arena == bound:
        assert labels == [f"arena = lower bound = {arena:,} B"]
    else:
        assert labels == [f"arena {arena:,} B", f"lower bound {bound:,} B"]
    data = embedded_data(page)
    assert [n["name"] for n in data["nodes"]] == [n.name for n in graph.nodes]
    assert [t["name"] for t in data["tensors"]] == [t.tensor for t in plan.memory.tensors]
    assert page.count('<g class="n" data-node=') == len(graph.nodes)
    assert page.count('<rect class="t" data-tensor=') == len(plan.memory.tensors)


def test_declines_reasons_and_hints_are_shown_escaped() -> None:
    session = planned(tinyabi.load(str(shared_model("vww_96_int8"))))
    page = render_plan_html(session.plan, session.graph)
    assert "is not a convolution" in page
    assert "let the reference backend run it" in page
    assert html.escape(EVIL_REASON) in page
    assert EVIL_REASON not in page
    declined = [n for n in session.plan.nodes if n.declined]
    assert declined
    assert {d.reason for n in declined for d in n.declined} <= {
        d["reason"] for n in embedded_data(page)["nodes"] for d in n["declined"]
    }


def test_hostile_names_are_escaped() -> None:
    session = tinyabi.Session(evil_graph(), backends=["test-picky"], registry=registry())
    page = render_plan_html(session.plan, session.graph)
    check_well_formed(page)
    assert_self_contained(page)
    for raw in (EVIL_NODE, EVIL_TENSOR, EVIL_MODEL, "y</script>"):
        assert raw not in page
    assert html.escape(EVIL_NODE) in page
    assert html.escape(EVIL_MODEL) in page
    assert "<script>alert" not in page
    assert page.count("<script") == 2
    assert "\x00" not in page
    assert "\x1b" not in page
    data = embedded_data(page)
    assert data["nodes"][0]["name"] == EVIL_NODE  # intact for the script, after JSON.parse
    assert EVIL_TENSOR in {t["name"] for t in data["tensors"]}


def test_large_graphs_stay_bounded() -> None:
    graph = chain_graph(400)
    session = tinyabi.Session(graph, backends=["reference"])
    page = render_plan_html(session.plan, session.graph)
    check_well_formed(page)
    assert page.count('<g class="n" data-node=') == 1200
    assert len(page) < 6_000_000
    capped = render_plan_html(session.plan, session.graph, max_nodes=100)
    check_well_formed(capped)
    assert capped.count('<g class="n" data-node=') == 100
    assert "first 100" in capped
    assert len(capped) < len(page) / 5


# --- rendering in headless Chromium --------------------------------------------------------------


def chromium() -> str:
    """The Chromium binary; fails in CI and skips elsewhere when there is none."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    message = "chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run_chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *args,
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def write_page(tmp_path: Path, name: str, session: tinyabi.Session) -> Path:
    path = tmp_path / f"{name}.html"
    path.write_text(render_plan_html(session.plan, session.graph), encoding="utf-8")
    return path


def test_renders_in_headless_chromium(tmp_path: Path) -> None:
    session = planned(tinyabi.load(str(shared_model("vww_96_int8"))))
    page = write_page(tmp_path, "vww", session)
    png = tmp_path / "plan.png"
    result = run_chromium(tmp_path, page.as_uri(), f"--screenshot={png}", "--window-size=1400,1000")
    assert png.is_file(), result.stderr[-2000:]
    assert png.stat().st_size > 30_000
    image = read_png(png.read_bytes())
    assert (image.width, image.height) == (1400, 1000)
    colours = image.colours()
    assert len(colours) > 50  # text, boxes, bands and the memory picture, not a flat page
    # Solid fills in the backends' colours (legend swatches, node stripes, the step strip).
    for k in range(len(session.plan.backends)):
        rgb = tuple(int(PALETTE[k][i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in {c[:3] for c in colours}, PALETTE[k]

    dom = run_chromium(tmp_path, page.as_uri() + "#node=3", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-rendered="yes"' in dom.stdout
    # The script filled the details panel for the node the URL names.
    assert f"<h3>{html.escape(session.graph.nodes[3].name)}</h3>" in dom.stdout


def test_hostile_and_large_pages_render_safely(tmp_path: Path) -> None:
    evil = tinyabi.Session(evil_graph(), backends=["test-picky"], registry=registry())
    page = write_page(tmp_path, "evil", evil)
    dom = run_chromium(tmp_path, page.as_uri() + "#tensor=0", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-rendered="yes"' in dom.stdout
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body is not None
    assert "data-pwned" not in body.group(0)
    assert "<img" not in dom.stdout
    # The details panel shows the hostile tensor name as text.
    assert "<h3>&lt;img src=x onerror=" in dom.stdout

    large = tinyabi.Session(chain_graph(400), backends=["reference"])
    page = write_page(tmp_path, "large", large)
    dom = run_chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-rendered="yes"' in dom.stdout
