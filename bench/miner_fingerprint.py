"""Fingerprint of everything the template miner and the masker return, to prove a speed-up changed no output.

For every Loghub-2k dataset (the ``Content`` column) and several configurations, a fresh :class:`TemplateMiner` is fed
the lines (twice: the second pass takes the shortcuts of lines seen before), and a hash is taken of every returned
``TemplateMatch`` (id, template, parameters, is_new), of ``take_aliases()``, ``templates()``, ``match()`` on every
line and the saved state (``to_state``). A miner restored from the state of the first half of the lines and fed the
second half is hashed too. The :class:`Preprocessor` is fingerprinted on its own (``mask``, ``mask_line``) for
several masking configurations. Also all datasets fed in turn to one miner (cross-source interplay, evictions).

Run ``python bench/miner_fingerprint.py --save before.json`` on the unchanged code, then
``python bench/miner_fingerprint.py --compare before.json`` after a change: it lists every hash that differs and
exits 1 if any does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from enricher.preprocess import MaskingConfig, NamedRegex, Preprocessor  # noqa: E402
from enricher.templates import MinerConfig, TemplateMiner  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "loghub"
MINER_MASKING = MinerConfig().masking  # the miner's default masking (timestamps off)

_EXTRA = [NamedRegex(name="blk", pattern=r"blk_-?\d+")]

# name -> (miner config, cache sizes of its preprocessor or None for the default preprocessor)
MINER_VARIANTS: dict[str, tuple[MinerConfig, tuple[int, int] | None]] = {
    "default": (MinerConfig(), None),
    "loose": (MinerConfig(similarity=0.5, min_siblings=3, min_siblings_first=4, min_siblings_pair=0,
                          merge_runs=False), None),
    "strict": (MinerConfig(similarity=0.7, min_siblings=6, min_siblings_first=8, min_siblings_pair=4), None),
    "sib3_first4_pair4": (MinerConfig(min_siblings=3, min_siblings_first=4), None),
    "evicting": (MinerConfig(max_templates=25, max_aliases=40), None),
    "no_exact_cache": (MinerConfig(exact_cache_size=0), None),
    "tiny_caches": (MinerConfig(exact_cache_size=30), (40, 15)),
    "masking_timestamps": (MinerConfig(masking=MaskingConfig()), None),
    "masking_named": (MinerConfig(masking=MINER_MASKING.model_copy(update={"named_placeholders": True})), None),
    "masking_extra": (MinerConfig(masking=MINER_MASKING.model_copy(update={"extra": _EXTRA})), None),
    "masking_no_numbers": (MinerConfig(masking=MINER_MASKING.model_copy(update={"numbers": False})), None),
    "masking_no_hex_ip": (MinerConfig(masking=MINER_MASKING.model_copy(update={"hex_ids": False, "ips": False})),
                          None),
}

MASKING_VARIANTS: dict[str, MaskingConfig] = {
    "default": MaskingConfig(),
    "miner_default": MINER_MASKING,
    "named": MaskingConfig(named_placeholders=True),
    "extra": MaskingConfig(extra=_EXTRA),
    "no_numbers": MaskingConfig(numbers=False),
    "placeholder": MaskingConfig(placeholder="{var}"),
}


def load_lines(folder: Path) -> list[str]:
    import csv

    path = folder / f"{folder.name}_2k.log_structured.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return [row["Content"] for row in csv.DictReader(fh)]


class Digest:
    """A running sha256 of the reprs of what is fed."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def feed(self, value: object) -> None:
        self._hash.update(repr(value).encode("utf-8", "surrogatepass"))
        self._hash.update(b"\n")

    def hex(self) -> str:
        return self._hash.hexdigest()[:16]


def _feed_miner(digest: Digest, miner: TemplateMiner, lines: Sequence[str]) -> None:
    for line in lines:
        m = miner.add(line)
        digest.feed((m.template_id, m.template, m.params, m.is_new))
    digest.feed(sorted(miner.take_aliases().items()))


def _miner(config: MinerConfig, caches: tuple[int, int] | None) -> TemplateMiner:
    if caches is None:
        return TemplateMiner(config)
    token_cache, line_cache = caches
    return TemplateMiner(config, preprocessor=Preprocessor(config.masking, token_cache_size=token_cache,
                                                           line_cache_size=line_cache))


def _final(digest: Digest, miner: TemplateMiner, lines: Sequence[str]) -> None:
    digest.feed(miner.templates())
    digest.feed(json.dumps(miner.to_state(), sort_keys=True))
    for line in lines:
        m = miner.match(line)
        digest.feed(None if m is None else (m.template_id, m.template, m.params))


def miner_fingerprint(config: MinerConfig, caches: tuple[int, int] | None, lines: Sequence[str]) -> dict[str, str]:
    """Hashes of two passes over ``lines``, and of a miner restored halfway."""
    out = {}
    digest = Digest()
    miner = _miner(config, caches)
    _feed_miner(digest, miner, lines)
    out["pass1"] = digest.hex()
    _feed_miner(digest, miner, lines)
    _final(digest, miner, lines)
    out["pass2"] = digest.hex()
    half = len(lines) // 2
    digest = Digest()
    first = _miner(config, caches)
    _feed_miner(digest, first, lines[:half])
    restored = TemplateMiner.from_state(json.loads(json.dumps(first.to_state())), config)
    _feed_miner(digest, restored, lines[half:])
    _final(digest, restored, lines)
    out["restored"] = digest.hex()
    return out


def masking_fingerprint(config: MaskingConfig, lines: Sequence[str]) -> str:
    digest = Digest()
    pre = Preprocessor(config)
    for line in lines:
        digest.feed(pre.mask(line))
        digest.feed(pre.mask_line(line))
    for line in lines:  # again, through the caches
        digest.feed(pre.mask_line(line))
    small = Preprocessor(config, token_cache_size=20, line_cache_size=10)
    for line in lines:
        digest.feed(small.mask_line(line))
    return digest.hex()


def fingerprints(data: Path, datasets: Sequence[str] | None, progress: Callable[[str], None]) -> dict[str, str]:
    folders = sorted(p for p in data.iterdir() if (p / f"{p.name}_2k.log_structured.csv").is_file())
    if datasets:
        folders = [f for f in folders if f.name in datasets]
    out: dict[str, str] = {}
    everything: list[str] = []
    for folder in folders:
        lines = load_lines(folder)
        everything.extend(lines)
        for name, config in MASKING_VARIANTS.items():
            out[f"{folder.name}/mask/{name}"] = masking_fingerprint(config, lines)
        for name, (config, caches) in MINER_VARIANTS.items():
            for part, value in miner_fingerprint(config, caches, lines).items():
                out[f"{folder.name}/miner/{name}/{part}"] = value
        progress(folder.name)
    for name in ("default", "evicting", "strict"):
        config, caches = MINER_VARIANTS[name]
        digest = Digest()
        miner = _miner(config, caches)
        _feed_miner(digest, miner, everything)
        _final(digest, miner, everything[::7])
        out[f"ALL/miner/{name}"] = digest.hex()
    progress("ALL")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--save", type=Path, help="write the hashes to this JSON file")
    parser.add_argument("--compare", type=Path, help="compare with hashes saved by --save")
    args = parser.parse_args(argv)
    found = fingerprints(args.data, args.datasets, lambda name: print(name, end=" ", flush=True, file=sys.stderr))
    print(file=sys.stderr)
    if args.save:
        args.save.write_text(json.dumps(found, indent=1, sort_keys=True))
    if args.compare:
        expected = json.loads(args.compare.read_text())
        differ = sorted(k for k in found if expected.get(k) != found[k])
        missing = sorted(k for k in expected if k not in found)
        for key in differ:
            print(f"DIFFERS {key}: {expected.get(key)} -> {found[key]}")
        print(f"{len(found)} hashes, {len(differ)} differ, {len(missing)} of the saved ones not computed")
        return 1 if differ else 0
    print(f"{len(found)} hashes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
