"""Strategy registry: spec parsing, canonical run names, patterns, validation, plugin discovery."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from alseg.api import needs_of
from alseg.cli import app
from alseg.errors import AlsegUsageError
from alseg.strategies.base import StrategyContractError, validate_selection
from alseg.strategies.registry import (
    DISABLE_ENV,
    RESERVED_NAMES,
    canonical_run_name,
    discover,
    parse_spec,
    render_value,
    resolve,
    run_name_of,
    split_specs,
)

BUILTINS = {"random", "entropy", "coreset", "asa", "proposed"}


@pytest.fixture(scope="module")
def registry():
    return discover(plugins=False)


def run_names(text: str, registry, exclude: str = "") -> list[str]:
    return [s.run_name for s in resolve(text, registry, exclude)]


# --- parsing and canonical names -------------------------------------------------------------------


def test_parse_spec_values():
    assert parse_spec("random") == ("random", {})
    assert parse_spec("entropy(aggregate=sum)") == ("entropy", {"aggregate": "sum"})
    assert parse_spec("entropy(aggregate='sum')") == ("entropy", {"aggregate": "sum"})
    name, params = parse_spec(" proposed( discrepancy=false, lam=0.2, uncertainty=True ) ")
    assert name == "proposed"
    assert params == {"discrepancy": False, "lam": 0.2, "uncertainty": True}
    assert type(params["discrepancy"]) is bool and type(params["lam"]) is float
    assert parse_spec("asa(passes=4)")[1]["passes"] == 4


def test_render_value():
    assert [render_value(v) for v in (True, False, None, "sum", 0.2, 3)] == ["true", "false", "none", "sum",
                                                                            "0.2", "3"]
    assert render_value("two words") == "'two words'"


@pytest.mark.parametrize(
    ("spec", "run_name"),
    [
        ("entropy(aggregate=sum)", "entropy(aggregate=sum)"),
        ("entropy(aggregate='sum')", "entropy(aggregate=sum)"),
        ("proposed(discrepancy=false)", "proposed(discrepancy=false)"),
        ("proposed(discrepancy=False)", "proposed(discrepancy=false)"),
        ("entropy(aggregate=mean)", "entropy"),
        ("proposed(discrepancy=true,lam=0.1)", "proposed"),
        ("proposed(lam=0.2, discrepancy=false)", "proposed(discrepancy=false,lam=0.2)"),
        ("proposed(weight=shift,uncertainty=false,clustering=true)", "proposed(uncertainty=false)"),
        ("asa(views=mcdropout,passes=4)", "asa(passes=4,views=mcdropout)"),
    ],
)
def test_canonical_run_names(registry, spec, run_name):
    (s,) = resolve(spec, registry)
    assert s.run_name == run_name
    # Round trip: the run name parses back to the same strategy and the same name.
    name, params = parse_spec(s.run_name)
    assert name == s.name
    assert params == s.params
    (again,) = resolve(s.run_name, registry)
    assert (again.run_name, again.params, again.cls) == (s.run_name, s.params, s.cls)


def test_defaults_are_left_out_of_params_and_instances_get_them(registry):
    (s,) = resolve("proposed(discrepancy=false,lam=0.1)", registry)
    assert s.params == {"discrepancy": False}
    inst = s.build()
    assert inst.discrepancy is False and inst.lam == 0.1 and needs_of(inst).unlabeled_loss is False
    assert s.label == "Proposed (UWC+FDL) (discrepancy=false)"


def test_the_same_strategy_twice_is_run_once(registry):
    assert run_names("entropy,entropy(aggregate=mean),entropy(aggregate=sum)", registry) == [
        "entropy", "entropy(aggregate=sum)"]


def test_numeric_default_given_as_int_is_left_out(registry):
    assert run_names("asa(candidates=2)", registry) == ["asa"]


def test_unknown_parameter_lists_valid_ones(registry):
    with pytest.raises(AlsegUsageError) as exc:
        resolve("proposed(lamda=0.2)", registry)
    msg = str(exc.value)
    assert "'lamda'" in msg and "proposed" in msg
    for valid in ("clustering", "delta", "discrepancy", "lam", "tol", "uncertainty", "weight"):
        assert valid in msg
    with pytest.raises(AlsegUsageError, match="valid: aggregate"):
        resolve("entropy(agg=sum)", registry)
    with pytest.raises(AlsegUsageError, match=r"valid: \(none\)"):
        resolve("random(k=1)", registry)


def test_rejected_parameter_value_names_the_strategy(registry):
    with pytest.raises(AlsegUsageError, match=r"strategy 'entropy' rejected its parameters.*mean, sum, max"):
        resolve("entropy(aggregate=median)", registry)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("entropy(aggregate=sum", "unbalanced|malformed"),
        ("entropy(aggregate=)", "malformed"),
        ("entropy(sum)", "key=value"),
        ("entropy(**kw)", "key=value"),
        ("entropy(aggregate=open('x'))", "not a literal"),
        ("bad name!", "malformed strategy name"),
        ("(aggregate=sum)", "malformed"),
    ],
)
def test_malformed_specs_raise_usage_errors(registry, spec, fragment):
    with pytest.raises(AlsegUsageError, match=fragment):
        resolve(spec, registry)


# --- selection by name, 'all', patterns, --exclude ---------------------------------------------------


def test_all_expands_to_every_builtin(registry):
    assert set(registry) == BUILTINS
    assert all(e.builtin and not e.broken for e in registry.values())
    assert sorted(run_names("all", registry)) == sorted(BUILTINS)
    assert BUILTINS <= set(run_names("all", discover(plugins=True)))


def test_all_with_parameters_applies_them_to_every_match(registry):
    with pytest.raises(AlsegUsageError, match="unknown parameter 'aggregate' for strategy"):
        resolve("all(aggregate=sum)", registry)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[ce]*", ["coreset", "entropy"]), ("propos*(discrepancy=false)", ["proposed(discrepancy=false)"])],
)
def test_pattern_forms_that_resolve_supports(registry, text, expected):
    assert run_names(text, registry) == expected


def test_patterns_and_exclude(registry):
    assert run_names("c*", registry) == ["coreset"]
    assert run_names("*o*", registry) == ["coreset", "entropy", "proposed", "random"]
    assert run_names("?andom", registry) == ["random"]
    assert run_names("proposed*", registry) == ["proposed"]
    assert run_names("random,proposed,proposed(discrepancy=false)", registry) == [
        "random", "proposed", "proposed(discrepancy=false)"]
    assert run_names("all", registry, exclude="asa,c*") == ["entropy", "proposed", "random"]
    # --exclude matches run names (with parameters) as well as plain strategy names.
    assert run_names("proposed,proposed(discrepancy=false)", registry, exclude="proposed(*)") == ["proposed"]
    assert run_names("proposed,proposed(discrepancy=false),random", registry, exclude="proposed") == ["random"]
    with pytest.raises(AlsegUsageError, match="no strategy left"):
        resolve("random", registry, exclude="*")
    with pytest.raises(AlsegUsageError, match="'zz\\*' matches no strategy; available: asa, coreset"):
        resolve("zz*", registry)


def test_unknown_strategy_lists_available_names(registry):
    with pytest.raises(AlsegUsageError) as exc:
        resolve("random,entropie", registry)
    msg = str(exc.value)
    assert "unknown strategy 'entropie'" in msg
    assert "available: asa, coreset, entropy, proposed, random" in msg


def test_split_specs_respects_parentheses():
    assert split_specs("random, proposed(discrepancy=false,lam=0.2),entropy(aggregate=sum) ,") == [
        "random", "proposed(discrepancy=false,lam=0.2)", "entropy(aggregate=sum)"]
    assert split_specs("a(b=(1,2)),c") == ["a(b=(1,2))", "c"]
    with pytest.raises(AlsegUsageError, match="unbalanced"):
        split_specs("a(b=1,c")


# --- the selection validator ---------------------------------------------------------------------------

POOL = np.array([2, 3, 5, 7, 11, 13], dtype=np.int64)


def test_validate_selection_accepts_a_valid_pick():
    out = validate_selection("mine", [11, 2, 5], POOL, 3)
    assert out.dtype == np.int64 and out.tolist() == [11, 2, 5]
    # A budget larger than the pool asks for everything that is left.
    assert sorted(validate_selection("mine", POOL[::-1], POOL, 10).tolist()) == POOL.tolist()


@pytest.mark.parametrize(
    ("selected", "fragment"),
    [
        ([2, 3], "2 ids for budget 3"),
        ([2, 3, 5, 7], "4 ids for budget 3"),
        ([2, 2, 3], "duplicates: 2"),
        ([2, 3, 4], "ids not in the pool: 4"),
        (np.array([2.0, 3.0, 5.0]), "dtype float64"),
        (np.array([[2, 3, 5]]), "shape"),
        (["2", "3", "5"], "1-d sequence of integers"),
    ],
)
def test_validate_selection_errors_name_the_strategy(selected, fragment):
    with pytest.raises(StrategyContractError) as exc:
        validate_selection("my-strategy(k=1)", selected, POOL, 3)
    msg = str(exc.value)
    assert "strategy 'my-strategy(k=1)'" in msg
    assert fragment in msg
    assert "must return 3 distinct ids from the pool" in msg


# --- plugins through entry points ------------------------------------------------------------------------

PLUGIN_MODULE = '''
from alseg.api import Strategy


class Good(Strategy):
    """A plugin strategy: the first ids of the pool."""

    name = "good"
    description = "first ids of the pool (test plugin)"

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset

    def select(self, ctx, budget):
        return ctx.pool[self.offset : self.offset + budget]
'''


@pytest.fixture
def fake_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A distribution 'fakeplug 0.1' on sys.path with one working and one broken strategy."""
    dist = tmp_path / "fakeplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""\
        [alseg.strategies]
        good = fakeplug_mod:Good
        broken = fakeplug_missing:Nope
        """))
    (tmp_path / "fakeplug_mod.py").write_text(PLUGIN_MODULE)
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("fakeplug_mod", None)


def test_plugin_is_discovered_with_its_provider(fake_plugin):
    reg = discover()
    good = reg["good"]
    assert good.provider == "fakeplug==0.1"
    assert not good.builtin and not good.broken
    assert good.cls is not None and good.cls.__name__ == "Good"
    (spec,) = resolve("good(offset=2)", reg)
    assert spec.run_name == "good(offset=2)" and spec.provider == "fakeplug==0.1"


def test_broken_plugin_is_reported_and_skipped(fake_plugin):
    reg = discover()
    broken = reg["broken"]
    assert broken.broken and broken.provider == "fakeplug==0.1"
    assert "fakeplug_missing" in broken.error and "\n" not in broken.error
    assert broken.error.startswith("ModuleNotFoundError")
    # The built-ins are unaffected, 'all' leaves the broken one out, naming it is a clear error.
    assert BUILTINS <= {n for n, e in reg.items() if not e.broken}
    names = run_names("all", reg)
    assert "good" in names and "broken" not in names and BUILTINS <= set(names)
    with pytest.raises(AlsegUsageError, match=r"'broken' from fakeplug==0\.1 failed to load: ModuleNotFound"):
        resolve("broken", reg)


def test_plugins_can_be_switched_off(fake_plugin, monkeypatch):
    assert {"good", "broken"} <= set(discover())
    assert set(discover(plugins=False)) == BUILTINS
    monkeypatch.setenv(DISABLE_ENV, "1")
    assert set(discover()) == BUILTINS
    with pytest.raises(AlsegUsageError, match="unknown strategy 'good'"):
        resolve("good", discover())


def table_rows(text: str) -> list[list[str]]:
    """Cells of the rows of a rich table (rows are one line each when the terminal is wide)."""
    return [[c.strip() for c in ln.split("│")[1:-1]] for ln in text.splitlines() if ln.startswith("│")]


def test_cli_strategies_shows_broken_plugin_without_traceback(fake_plugin):
    runner = CliRunner()
    result = runner.invoke(app, ["strategies"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    rows = {cells[0]: cells for cells in table_rows(result.output)}
    assert rows["broken"][1] == "fakeplug==0.1"
    assert rows["broken"][3] == "broken"
    assert rows["broken"][4].startswith("ModuleNotFoundError") and "fakeplug_missing" in rows["broken"][4]
    assert rows["good"][1] == "fakeplug==0.1" and rows["good"][3] == "ok"
    for name in BUILTINS:
        assert rows[name][1].startswith("alseg==") and rows[name][3] == "ok"
    # The needs column is the class's Needs, names sorted (the default instance's needs).
    assert rows["coreset"][2] == "embedding, labeled:embedding"
    assert rows["asa"][2] == "embedding, labeled:embedding, tta_variance"
    assert rows["random"][2] == "-"
    off = runner.invoke(app, ["strategies", "--no-plugins"], env={"COLUMNS": "250"})
    assert off.exit_code == 0
    assert "fakeplug" not in off.output and "broken" not in off.output


# --- one canonical name for run files and conformance ids --------------------------------------------------

REFERENCE_RUNS = Path(__file__).resolve().parents[1] / "results" / "cvc-clinicdb-cpu" / "runs"
COMMITTED_RUNS = ["random", "entropy", "coreset", "asa", "proposed", "proposed(clustering=false)",
                  "proposed(discrepancy=false)", "proposed(uncertainty=false)"]
# the alseg-baselines plugin's runs in the same experiment (issue 12): their names are the plugin's to keep
PLUGIN_RUNS = ["bald", "badge", "power(base=bald)", "power(base=entropy)", "typiclust"]


def test_committed_run_names_are_unchanged(registry):
    assert sorted(p.name for p in REFERENCE_RUNS.iterdir() if p.name != "full") == sorted(COMMITTED_RUNS + PLUGIN_RUNS)
    for name in COMMITTED_RUNS:
        (spec,) = resolve(name, registry)
        assert spec.run_name == name
        assert run_name_of(spec.build()) == name  # the conformance kit's id is the same string
        assert canonical_run_name(spec.cls, spec.params) == name


@pytest.mark.parametrize("text", ["asa(views=mcdropout,passes=4)", "proposed(lam=0.2, discrepancy=false)",
                                  "entropy(aggregate=sum)", "proposed(weight=clip,tol=0.001)", "asa(candidates=3)"])
def test_run_name_and_kit_id_come_from_one_function(registry, text):
    (spec,) = resolve(text, registry)
    assert run_name_of(spec.build()) == spec.run_name == canonical_run_name(spec.cls, parse_spec(text)[1])


# --- parameters out of range are refused at spec time, naming the valid range ------------------------------

@pytest.mark.parametrize(("spec", "message"), [
    ("proposed(lam=-1)", "lam must be a finite number >= 0 (λ weighs the discrepancy loss; a negative λ rewards "
                         "similar foreground and background features), got -1"),
    ("proposed(lam='x')", "lam must be a finite number >= 0"),
    ("proposed(lam=true)", "lam must be a finite number >= 0"),
    ("proposed(delta=2)", "delta must be a finite number in [-1, 1) (δ is a margin on cos(F1, F0) ∈ [-1, 1]; at "
                          "δ >= 1 the loss is always 0), got 2"),
    ("proposed(tol=0)", "tol must be a finite number in (0, 1) (the relative centroid shift at which k-means "
                        "stops), got 0"),
    ("proposed(weight=3)", "weight must be one of shift, clip"),
    ("proposed(clustering=1)", "clustering must be true or false"),
    ("asa(passes=1)", "passes must be an integer >= 2 (a variance needs two predictions), got 1"),
    ("asa(passes=2.5)", "passes must be an integer >= 2 (a variance needs two predictions), got 2.5"),
    ("asa(passes=true)", "passes must be an integer >= 2"),
    ("asa(candidates=0.5)", "candidates must be a finite number >= 1 (a multiple of the budget), got 0.5"),
    ("asa(candidates='x')", "candidates must be a finite number >= 1"),
    ("asa(views=3)", "views must be one of tta, mcdropout, ensemble"),
    ("entropy(aggregate=3)", "aggregate must be one of mean, sum, max (the reduction over pixels), got 3"),
])
def test_parameters_out_of_range_are_refused(registry, spec, message):
    name = spec.partition("(")[0]
    with pytest.raises(AlsegUsageError) as exc:
        resolve(spec, registry)
    assert str(exc.value).startswith(f"strategy '{name}' rejected its parameters ")
    assert message in str(exc.value)


def test_parameters_at_the_edge_of_their_range_are_accepted(registry):
    assert run_names("proposed(lam=0,delta=-1,tol=0.5),asa(passes=2,candidates=1)", registry) == [
        "proposed(delta=-1,lam=0,tol=0.5)", "asa(candidates=1,passes=2)"]


# --- registry hygiene: names a plugin may not take --------------------------------------------------------

HYGIENE_MODULE = '''
from alseg.api import Strategy


class _Base(Strategy):
    description = "registry hygiene test plugin"

    def select(self, ctx, budget):
        return ctx.pool[:budget]


class Shadow(_Base):
    name = "random"


class All(_Base):
    name = "all"


class Full(_Base):
    name = "full"


class Upper(_Base):
    name = "Entropy"


class Mismatch(_Base):
    name = "mismatch"


class Old(_Base):
    name = "old"
    needs_labeled = frozenset({"embedding"})


class Unknown(_Base):
    name = "unknown"
    needs = frozenset({"entropy.max"})


class Twice(_Base):
    name = "twice"
'''


def _dist(root: Path, name: str, entries: str) -> None:
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[alseg.strategies]\n" + textwrap.dedent(entries))


@pytest.fixture
def hygiene_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    _dist(tmp_path, "hyg", """\
        random = hyg_mod:Shadow
        all = hyg_mod:All
        full = hyg_mod:Full
        Entropy = hyg_mod:Upper
        other = hyg_mod:Mismatch
        old = hyg_mod:Old
        unknown = hyg_mod:Unknown
        twice = hyg_mod:Twice
        """)
    _dist(tmp_path, "hyg2", "twice = hyg_mod:Twice\n")
    (tmp_path / "hyg_mod.py").write_text(HYGIENE_MODULE)
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield discover()
    sys.modules.pop("hyg_mod", None)


@pytest.mark.parametrize(("key", "fragment"), [
    ("random@hyg", "the name 'random' is taken by alseg's built-in 'random'"),
    ("all", "the name 'all' is reserved (all, full mean something else to `--strategies` and the run store)"),
    ("full", "the name 'full' is reserved"),
    ("Entropy", "the name 'Entropy' is taken by alseg's built-in 'entropy' (names are compared without case"),
    ("other", "entry point 'other' loads hyg_mod.Mismatch, whose name is 'mismatch'; the entry-point name must "
              "equal the class's `name`"),
    ("old", "strategy 'old' sets `needs_labeled`, which alseg API 1.0 removed: declare 'labeled:<signal>'"),
    ("unknown", "declares unknown needs 'entropy.max' (did you mean 'entropy:max'?)"),
    ("twice", "the name 'twice' is registered by both hyg==0.1 and hyg2==0.1; uninstall one of them"),
    ("twice@hyg2", "registered by both hyg==0.1 and hyg2==0.1"),
])
def test_plugins_that_break_registry_rules_are_broken_entries(hygiene_plugins, key, fragment):
    entry = hygiene_plugins[key]
    assert entry.broken and fragment in entry.error and "\n" not in entry.error


def test_refused_plugins_leave_the_builtins_and_all_alone(hygiene_plugins, registry):
    assert RESERVED_NAMES == {"all", "full"}
    for name in BUILTINS:
        assert hygiene_plugins[name].builtin and not hygiene_plugins[name].broken
        assert hygiene_plugins[name].cls is registry[name].cls
    (spec,) = resolve("random", hygiene_plugins)
    assert spec.provider.startswith("alseg==")
    assert BUILTINS <= set(run_names("all", hygiene_plugins))
    assert not {"full", "all", "Entropy", "other", "twice"} & set(run_names("all", hygiene_plugins))


def test_instance_needs_are_checked_at_spec_time():
    from alseg.api import Strategy
    from alseg.strategies.registry import StrategyEntry, make_spec

    class Switch(Strategy):
        name = "switch"
        description = "needs follow a parameter (test)"

        def __init__(self, extra: str = "") -> None:
            self.extra = extra

        def declared_needs(self) -> frozenset[str]:
            return frozenset({self.extra} if self.extra else set())

    entry = StrategyEntry("switch", "m:Switch", "plug==1", False, Switch)
    assert make_spec(entry, {"extra": "entropy:max"}).run_name == "switch(extra='entropy:max')"
    with pytest.raises(AlsegUsageError, match=r"^strategy 'switch' declares unknown needs 'entropy_max' \(did you "
                                              r"mean 'entropy:max'\?\).* \(in 'switch\(extra=entropy_max\)', from "
                                              r"plug==1\)$"):
        make_spec(entry, {"extra": "entropy_max"})
