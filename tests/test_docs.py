"""The documentation runs: code in docs/*.md is executed, and docs/api.md is checked against
the code so the reference cannot rot.

* ``docs/tutorial.md`` and ``docs/optimizers.md``: every ```python block runs, in order, in one
  namespace per document (a block preceded by ``<!-- skip -->`` is not run).
* ``docs/cli.md``: its ```python blocks run (they write the example files), then each
  ``mli ...`` line of its ```bash blocks preceded by ``<!-- test -->`` runs through the CLI.
* ``docs/api.md``: only ```python blocks preceded by ``<!-- test -->`` run (one namespace).
  Every API entry is checked: a heading whose first code span is a dotted ``mli...`` name sets
  the *owner*; every bullet that starts with a code span under it names an attribute of the
  owner (``- `name(params)` ...``), which must exist, and when written with parentheses its
  parameter names, kinds and literal defaults must match ``inspect.signature``.

The doc code runs inside a fresh module registered in ``sys.modules`` and marked for
pickling by value, because Spark's Python workers cannot import it: functions and classes
it defines are shipped to the workers by cloudpickle *by value*. It uses the session's
Spark (the ``ctx`` fixture, also the default context returned by ``mli.get_context()``).
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import importlib
import inspect
import io
import re
import shlex
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark import cloudpickle

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

FENCE_RE = re.compile(r"^```(\w*)\s*$")
MARK_RE = re.compile(r"^<!--\s*(test|skip)\s*-->\s*$")


# ============================================================================ code blocks


@dataclasses.dataclass
class Block:
    path: Path
    line: int       # 1-based line of the first code line
    code: str
    mark: str | None


def code_blocks(path: Path, want: str = "python") -> list[Block]:
    """The ```python (or ``want``) blocks of a markdown file, with the marker comment
    before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i + 1
        j = start
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        if j == len(lines):
            raise AssertionError(f"{path.name}:{i + 1}: unclosed code fence")
        if lang == want:
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            mk = MARK_RE.match(lines[k].strip()) if k >= 0 else None
            out.append(Block(path, start + 1, "\n".join(lines[start:j]) + "\n",
                             mk.group(1) if mk else None))
        i = j + 1
    return out


@contextlib.contextmanager
def doc_module(name: str):
    """A fresh, importable-by-name module whose definitions cloudpickle ships by value."""
    mod = types.ModuleType(name)
    mod.__dict__["__builtins__"] = __builtins__
    sys.modules[name] = mod
    cloudpickle.register_pickle_by_value(mod)
    try:
        yield mod
    finally:
        cloudpickle.unregister_pickle_by_value(mod)
        sys.modules.pop(name, None)
        # The doc's Algorithm subclasses (one deliberately fails the conformance check) must
        # not show up in mli.core.conformance.registered_algorithms() for the rest of the session.
        from mli.core import registry

        registry.forget_module(name)


def run_blocks(blocks: list[Block], mod: types.ModuleType) -> str:
    """Execute the blocks in ``mod``'s namespace; tracebacks point at the markdown lines."""
    out = io.StringIO()
    for b in blocks:
        # pad so that line numbers in tracebacks are line numbers of the .md file
        code = compile("\n" * (b.line - 1) + b.code, str(b.path), "exec")
        with contextlib.redirect_stdout(out):
            try:
                exec(code, mod.__dict__)
            except Exception as exc:
                raise AssertionError(
                    f"the code block at {b.path.name}:{b.line} failed: "
                    f"{type(exc).__name__}: {exc}\n--- output so far ---\n{out.getvalue()}"
                ) from exc
    return out.getvalue()


def doc_blocks(filename: str, only_marked: bool = False) -> list[Block]:
    blocks = code_blocks(DOCS / filename)
    if only_marked:
        blocks = [b for b in blocks if b.mark == "test"]
    else:
        blocks = [b for b in blocks if b.mark != "skip"]
    assert blocks, f"{filename} has no runnable python blocks"
    for b in blocks:  # Spark allows one context per process: doc code uses mli.get_context()
        assert "MLContext(" not in b.code, \
            f"{filename}:{b.line}: runnable doc code must not create an MLContext"
    return blocks


# ============================================================================ the documents


def test_code_block_parser(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("text\n```python\na = 1\n```\n<!-- test -->\n\n```python\nb = 2\n```\n"
                  "<!-- skip -->\n```python\nc = 3\n```\n```bash\nls\n```\n")
    blocks = code_blocks(md)
    assert [(b.line, b.code, b.mark) for b in blocks] == [
        (3, "a = 1\n", None), (8, "b = 2\n", "test"), (12, "c = 3\n", "skip")]


def test_tutorial_runs(ctx, tmp_path):
    """docs/tutorial.md: a new Algorithm/Model defined in doc code fits, predicts, saves,
    loads and passes mli.core.conformance.check_algorithm through Spark."""
    import mli
    from mli.core.base import Algorithm, Model

    with doc_module("mli_doc_tutorial") as mod:
        output = run_blocks(doc_blocks("tutorial.md"), mod)
        assert mli.get_context() is ctx
        algos = [v for v in vars(mod).values() if isinstance(v, type)
                 and issubclass(v, Algorithm) and v.__module__ == mod.__name__]
        models = [v for v in vars(mod).values() if isinstance(v, type)
                  and issubclass(v, Model) and v.__module__ == mod.__name__]
        assert algos and models, "the tutorial must define an Algorithm and a Model subclass"
        # A Model subclass defined in doc code (module not importable on workers) is found
        # by its registry key, saves and loads; its predict runs on Spark workers.
        model_cls = models[0]
        from mli.core import registry

        key = registry.key_of(model_cls)
        assert registry.registered("model")[key] is model_cls
        fitted = [v for v in vars(mod).values() if isinstance(v, model_cls)]
        assert fitted, "the tutorial must leave a fitted model in its namespace"
        model = fitted[0]
        X = np.random.default_rng(5).standard_normal((7, model.n_features))
        model.save(str(tmp_path / "m"))
        loaded = mli.load(str(tmp_path / "m"))
        assert type(loaded) is model_cls
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
        on_spark = loaded.predict(mli.MLTable.from_numpy(X, num_partitions=2)).to_numpy()
        np.testing.assert_allclose(on_spark.ravel(), model.predict(X), rtol=1e-12)
        assert output.strip(), "the tutorial prints nothing"


def test_optimizers_doc_runs(ctx):
    """docs/optimizers.md: logistic regression on the optimizer/table API, checked against
    scikit-learn inside the document."""
    with doc_module("mli_doc_optimizers") as mod:
        output = run_blocks(doc_blocks("optimizers.md"), mod)
    assert "iter" in output, "the progress callback printed nothing"
    assert "accuracy" in output


def test_sklearn_doc_runs(ctx):
    """docs/sklearn.md: the scikit-learn estimators in a pipeline, a grid search and
    cross-validation; a reordered DataFrame refused."""
    with doc_module("mli_doc_sklearn") as mod:
        output = run_blocks(doc_blocks("sklearn.md"), mod)
    assert "['ham' 'spam']" in output
    assert "refused: The feature names should match those that were passed during fit" in output
    assert mod.search.best_estimator_[-1].model_.params["reg"] in (0.001, 0.1)


def test_search_doc_runs(ctx):
    """docs/search.md: a search, its leaderboard and best model, a custom space, a table,
    a refused space."""
    with doc_module("mli_doc_search") as mod:
        output = run_blocks(doc_blocks("search.md"), mod)
    assert output.splitlines()[0].endswith(" True")
    assert "logloss False [0.0, 0.5]" in output
    assert "('a', 'b', 'c')" in output
    assert "ALS rmse ['rank', 'reg']" in output
    assert "['DecisionTree', 'LogisticRegression', 'NaiveBayes', 'RandomForest'] True" in output
    assert "inertia (3, 2) True" in output
    assert "refused: Invalid search space for LogisticRegression: it has no hyperparameter" \
        in output
    assert mod.result.best_metric > 0.7


def test_spark_ml_doc_runs(ctx):
    """docs/spark_ml.md: an mli stage in a pyspark.ml pipeline, cross-validated, saved and
    loaded."""
    with doc_module("mli_doc_spark_ml") as mod:
        output = run_blocks(doc_blocks("spark_ml.md"), mod)
    assert "['a', 'b', 'c', 'label', 'id', 'features'" in output
    auc = [line for line in output.splitlines() if line.startswith("AUC:")][0].split()[-1]
    assert f"reloaded AUC: {auc}" in output and float(auc) > 0.9


def test_cli_doc_runs(ctx, tmp_path, monkeypatch, capsys):
    """docs/cli.md: its python block writes the example files, then every command of its
    ``<!-- test -->`` bash block runs (on the session's Spark) and succeeds."""
    from mli.apps import cli

    monkeypatch.chdir(tmp_path)
    with doc_module("mli_doc_cli") as mod:
        run_blocks(doc_blocks("cli.md"), mod)
    commands = [line for b in code_blocks(DOCS / "cli.md", "bash") if b.mark == "test"
                for line in b.code.splitlines() if line.startswith("mli ")]
    assert len(commands) >= 3
    for line in commands:
        code = cli.main([*shlex.split(line)[1:], "--master", ctx.sc.master])
        out = capsys.readouterr()
        assert code == 0, f"docs/cli.md: `{line}` failed:\n{out.err}"
        if line.startswith("mli train clicks.csv --label clicked --algorithm logistic"):
            acc = float(out.out.split("  accuracy", 1)[1].split()[0])
            assert "weights 'w'" in out.out and "iteration   1  loss" in out.out
            assert acc > 0.9, out.out
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert list(scored.columns) == ["a", "b", "c", "d", "name", "prediction", "p_0", "p_1"]
    assert len(scored) == 2000


def test_api_examples_run(ctx):
    """The ``<!-- test -->`` examples of docs/api.md."""
    with doc_module("mli_doc_api") as mod:
        run_blocks(doc_blocks("api.md", only_marked=True), mod)


# ============================================================================ api.md names

HEADING_RE = re.compile(r"^(#{1,6})\s+(.*)$")
BULLET_RE = re.compile(r"^\s*[-*]\s+`([^`]+)`")
FIRST_CODE_RE = re.compile(r"`([^`]+)`")
NAME_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(\(.*\))?"
                     r"(?:\s*->.*)?$")


@dataclasses.dataclass
class Entry:
    line: int
    owner: str | None
    text: str


def api_entries(path: Path) -> list[Entry]:
    """(owner, bullet code) for every bullet under a heading that names an ``mli`` object."""
    owner = None
    out = []
    in_fence = False
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        h = HEADING_RE.match(line)
        if h:
            m = FIRST_CODE_RE.search(h.group(2))
            owner = m.group(1) if m and m.group(1).startswith("mli") else None
            if owner is not None:
                out.append(Entry(n, None, owner))
            continue
        b = BULLET_RE.match(line)
        if b and owner is not None:
            out.append(Entry(n, owner, b.group(1)))
    return out


def resolve(dotted: str):
    """Import the longest module prefix of ``dotted`` and getattr the rest.

    Returns ``(object, parent)``; the object is ``dataclasses.MISSING`` for an instance
    attribute (a dataclass field, or assigned as ``self.<name>`` in the class's source).
    """
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        parent = None
        for j, attr in enumerate(parts[i:], start=i):
            parent, obj = obj, _attribute(obj, attr, ".".join(parts[:j]))
        return obj, parent
    raise AssertionError(f"{dotted}: no importable module prefix")


def _attribute(obj, name: str, where: str):
    try:
        return inspect.getattr_static(obj, name) if isinstance(obj, type) else getattr(obj, name)
    except AttributeError:
        pass
    if isinstance(obj, type):
        # instance attributes: dataclass fields, or assigned as self.<name> in the class body
        if name in getattr(obj, "__dataclass_fields__", {}):
            return dataclasses.MISSING
        for klass in obj.__mro__:
            try:
                src = inspect.getsource(klass)
            except (OSError, TypeError):
                continue
            if re.search(rf"self\.{re.escape(name)}\s*[:=]", src):
                return dataclasses.MISSING
    raise AssertionError(f"{where} has no attribute {name!r}")


def _split_params(text: str) -> list[str]:
    """Split a parameter list at top-level commas."""
    out, depth, cur, quote = [], 0, "", None
    for ch in text:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _doc_params(params_text: str) -> list[tuple[str, str | None]]:
    """``"a, b=1, *, c=None, **kw"`` -> [("a", None), ("b", "1"), ("*", None), ...]."""
    out = []
    for p in _split_params(params_text):
        name, _, default = p.partition("=")
        name = name.split(":")[0].strip()
        out.append((name, default.strip() if default else None))
    return out


def _real_params(obj, parent) -> list[tuple[str, object]]:
    """The parameters of a function, method (``self``/``cls`` dropped) or class (its
    ``__init__``), as (name, default) with ``*``, ``*args``, ``**kw`` spelled out."""
    if isinstance(obj, type):
        if obj.__init__ is object.__init__:
            return []
        fn, drop_first = obj.__init__, True
    elif isinstance(obj, staticmethod):
        fn, drop_first = obj.__func__, False
    elif isinstance(obj, classmethod):
        fn, drop_first = obj.__func__, True
    else:
        fn, drop_first = obj, isinstance(parent, type) and inspect.isfunction(obj)
    params = list(inspect.signature(fn).parameters.values())
    if drop_first:
        params = params[1:]
    out: list[tuple[str, object]] = []
    star_done = False
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            out.append((f"*{p.name}", inspect.Parameter.empty))
            star_done = True
        elif p.kind is p.VAR_KEYWORD:
            out.append((f"**{p.name}", inspect.Parameter.empty))
        else:
            if p.kind is p.KEYWORD_ONLY and not star_done:
                out.append(("*", inspect.Parameter.empty))
                star_done = True
            out.append((p.name, p.default))
    return out


_NO_LITERAL = object()


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return _NO_LITERAL


def check_entry(e: Entry) -> str:
    """The dotted name checked (raises AssertionError with the md line on a mismatch)."""
    m = NAME_RE.match(e.text.strip())
    where = f"docs/api.md:{e.line}: `{e.text}`"
    if not m:
        raise AssertionError(f"{where}: not a name or a call signature")
    name, call = m.group(1), m.group(2)
    dotted = name if (e.owner is None or name.startswith("mli.") or name == "mli") \
        else f"{e.owner}.{name}"
    try:
        obj, parent = resolve(dotted)
    except AssertionError as exc:
        raise AssertionError(f"{where}: {exc}") from None
    if call is None:
        return dotted
    if obj is dataclasses.MISSING or isinstance(obj, property):
        raise AssertionError(f"{where}: {dotted} is an attribute, written as a call")
    doc = _doc_params(call[1:-1])
    real = _real_params(obj, parent)
    if [n for n, _ in doc] != [n for n, _ in real]:
        raise AssertionError(f"{where}: parameters {[n for n, _ in doc]} do not match the "
                             f"code's {[n for n, _ in real]}")
    for (n, d), (_, r) in zip(doc, real):
        if (d is None) != (r is inspect.Parameter.empty):
            raise AssertionError(f"{where}: parameter {n!r} default: documented {d!r}, "
                                 f"code has {'none' if r is inspect.Parameter.empty else r!r}")
        if d is not None:
            lit = _literal(d)
            if lit is not _NO_LITERAL and not (lit == r and type(lit) is type(r)):
                raise AssertionError(f"{where}: parameter {n!r} defaults to {r!r} in the code, "
                                     f"documented as {d}")
    return dotted


def test_api_reference_names_exist():
    """Every name (and signature) listed in docs/api.md exists in the code."""
    entries = api_entries(DOCS / "api.md")
    errors, checked = [], set()
    for e in entries:
        try:
            checked.add(check_entry(e))
        except AssertionError as exc:
            errors.append(str(exc))
    assert not errors, "docs/api.md is out of date:\n" + "\n".join(errors)
    # the parser must actually have found the reference (not silently nothing)
    assert len(checked) > 200, f"only {len(checked)} API names found in docs/api.md"
    for must in ("mli.MLTable.map_batches", "mli.optimize.minimize", "mli.Model._apply",
                 "mli.core.conformance.check_algorithm", "mli.errors.TaskError",
                 "mli.engine.blocks.BlockRDD.map_reduce"):
        assert must in checked, f"docs/api.md does not document {must}"


def test_api_checker_catches_rot():
    """The checker itself rejects a missing name, a wrong parameter and a wrong default."""
    ok = Entry(1, "mli.MLTable", "from_numpy(X, y=None, *, columns=None, label=\"label\", "
                                 "num_partitions=None, dtype=None, ctx=None)")
    assert check_entry(ok) == "mli.MLTable.from_numpy"
    for bad in ("no_such_method()", "from_numpy(X, y=None)",
                "from_numpy(X, y=None, *, columns=None, label=\"lbl\", num_partitions=None, "
                "dtype=None, ctx=None)"):
        with pytest.raises(AssertionError):
            check_entry(Entry(1, "mli.MLTable", bad))
    assert check_entry(Entry(1, "mli.optimize.OptimizeResult", "n_passes")) \
        == "mli.optimize.OptimizeResult.n_passes"
    assert check_entry(Entry(1, "mli.optimize.Objective", "n_passes")) \
        == "mli.optimize.Objective.n_passes"
