"""The compiled build of the miner (enricher/native.py) gives what its sources give, and is never used stale."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from enricher import native
from enricher.templates import miner

ROOT = Path(__file__).resolve().parents[2]

# Run in a child process, once with the compiled build and once from source: every result the miner and its masker
# give, on generated lines that exercise every masker, the skeleton shortcuts, the hex-alike keys, merging,
# evictions and the saved state, under several configurations.
_OUTPUTS = r'''
import dataclasses, json, random
from enricher import native
from enricher.preprocess import MaskingConfig, Preprocessor
from enricher.templates import MinerConfig, TemplateMiner

rng = random.Random(3)
def hexes(n, digits="0123456789abcdef"):
    return "".join(rng.choice(digits) for _ in range(n))
shapes = [
    lambda: f"[req-{hexes(8)}-{hexes(4)}-{hexes(4)}-{hexes(4)}-{hexes(12)}] GET /v2/{hexes(32)}/servers status: 200 len: {rng.randint(1, 9999)}",
    lambda: f"Failed password for invalid user {rng.choice(['root', 'bob', 'eve'])} from 10.0.{rng.randint(0, 255)}.{rng.randint(0, 255)} port {rng.randint(1000, 65000)} ssh{rng.randint(1, 3)}",
    lambda: f"{rng.choice(['alpha', 'beta', 'gamma', 'delta', 'omega', 'kappa', 'sigma', 'theta', 'zeta'])} job_{rng.randint(1, 99)} finished in {rng.randint(1, 999)} ms state={rng.choice(['ok', 'failed', 'lost'])}",
    lambda: f"iar {hexes(8)} dear {hexes(8)} at 0x{hexes(6)} on node-{rng.randint(1, 40)} Jun {rng.randint(1, 28)} 12:{rng.randint(10, 59)}:07",
    lambda: f"copy /var/lib/{hexes(6, 'abcxyz')}/{rng.randint(1, 9)}.rrd to http://{hexes(5, 'abc')}.example.com/x?id={rng.randint(1, 99)} " + " ".join(f"h{rng.randint(1, 9)}" for _ in range(rng.randint(1, 5))),
    lambda: f"{hexes(12, 'abcdefghijKLMNOP0123')} connected from {hexes(2)}:{hexes(2)}:{hexes(2)}:{hexes(2)}:{hexes(2)}:{hexes(2)} ({rng.randint(1, 9)} KB)",
]
lines = [rng.choice(shapes)() for _ in range(3000)]
configs = [MinerConfig(), MinerConfig(max_templates=12, max_aliases=10), MinerConfig(exact_cache_size=20),
           MinerConfig(similarity=0.5, min_siblings=3, min_siblings_first=4, merge_runs=False),
           MinerConfig(masking=MaskingConfig(named_placeholders=True))]
out = {"build": native.build_name(), "miners": [], "masks": []}
for config in configs:
    miner = TemplateMiner(config)
    matches = [dataclasses.astuple(miner.add(line)) for line in lines]
    out["miners"].append([matches, miner.templates(), miner.take_aliases(), miner.to_state(),
                          [dataclasses.astuple(m) if m else None for m in map(miner.match, lines[:300])],
                          [miner.canonical_id(m[0]) for m in matches]])
    restored = TemplateMiner.from_state(miner.to_state(), config)
    out["miners"].append([dataclasses.astuple(restored.add(line)) for line in lines[:300]])
for masking in (MaskingConfig(), MaskingConfig(timestamps=False, hex_ids=False)):
    pre = Preprocessor(masking)
    out["masks"].append([[pre.mask(line), pre.mask_tokens(line), pre.mask_line(line)[:2]] for line in lines[:500]])
print(json.dumps(out, default=list))
'''


def _outputs(native_setting: str) -> dict:
    env = {**os.environ, "ENRICHER_NATIVE": native_setting, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _OUTPUTS], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


@pytest.mark.skipif(not native.is_compiled(miner), reason="no compiled build here (scripts/build-native.py)")
def test_the_compiled_miner_gives_what_its_sources_give() -> None:
    compiled, source = _outputs("1"), _outputs("0")
    assert (compiled.pop("build"), source.pop("build")) == ("compiled (mypyc)", "pure Python")
    assert compiled == source


def test_a_source_edited_after_the_build_runs_from_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = tmp_path / "native.json"
    monkeypatch.setattr(native, "STAMP", stamp)
    monkeypatch.delenv("ENRICHER_NATIVE", raising=False)
    assert not native.usable()  # never built
    stamp.write_text(json.dumps(native.source_digests()))
    assert native.usable()
    monkeypatch.setenv("ENRICHER_NATIVE", "0")
    assert not native.usable()  # turned off
    monkeypatch.delenv("ENRICHER_NATIVE")
    edited = {**native.source_digests(), "enricher.templates.miner": "0" * 64}
    stamp.write_text(json.dumps(edited))
    assert not native.usable()  # one source differs from what was compiled: all run from source


def test_a_stale_build_is_named_to_the_operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = tmp_path / "native.json"
    monkeypatch.setattr(native, "STAMP", stamp)
    assert native.stale_warning() is None  # never built: nothing to say
    stamp.write_text(json.dumps(native.source_digests()))
    assert native.stale_warning() is None  # fresh
    stamp.write_text(json.dumps({**native.source_digests(), "enricher.preprocess": "0" * 64}))
    assert "scripts/setup.sh" in (native.stale_warning() or "")
