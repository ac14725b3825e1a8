"""Fingerprint of everything the template miner and the masker return, to prove a speed-up changed no output.

For every Loghub-2k dataset (the ``Content`` column), and generated lines full of hex values (``hex_heavy_lines``),
and several configurations, a fresh :class:`TemplateMiner` is fed
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
import random
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


def hex_heavy_lines(count: int = 2000, seed: int = 7) -> list[str]:
    """Generated lines full of UUIDs, hex ids, 0x values and hex-looking words in every context a masker looks at
    (paths, URLs, host names, month names, signs, brackets): the cases the skeleton's hex-alike form must get right."""
    rng = random.Random(seed)

    def hexes(n: int, digits: str = "0123456789abcdef") -> str:
        return "".join(rng.choice(digits) for _ in range(n))

    def uuid() -> str:
        return "-".join(hexes(n) for n in (8, 4, 4, 4, 12))

    shapes: list[Callable[[], str]] = [
        lambda: f"[req-{uuid()} {hexes(32)} - -] GET /v2/{hexes(32)}/servers status: 200 len: {rng.randint(1, 9999)}",
        lambda: f"[instance: {uuid().upper()}] image at (/var/lib/nova/_base/{hexes(40)}): checking",
        lambda: f"commit {hexes(rng.choice((6, 7, 8, 12, 40)))} on {hexes(8, '0123456789')} blk_-{hexes(19, '0123456789')}",
        lambda: f"span={hexes(16)} trace={hexes(32, '0123456789ABCDEF')} parent=0x{hexes(8)} 0X{hexes(4)} a0x{hexes(3)}",
        lambda: f"{hexes(9, 'abcdefABCDEF')} Dec{hexes(6, 'abcdef')} {hexes(9)}.de host-{hexes(8)}.example.com {hexes(8)}.ca",
        lambda: f"http://{hexes(8)}.cdn.net/{hexes(12)}?id={hexes(10)} /{hexes(8)}/{hexes(8)}/x.log Feb {hexes(8)}:{hexes(12)}",
        lambda: f"x{hexes(8)} {hexes(8)}x -{hexes(8)} +{hexes(12)} ({hexes(8)}) [{hexes(9)}] '{hexes(8)}' {hexes(8)}_{hexes(8)}",
        lambda: f"mac {':'.join(hexes(2) for _ in range(6))} {hexes(8)}-{hexes(4)} {uuid()}g {hexes(12)}.{hexes(8)} {hexes(4)}",
    ]
    return [rng.choice(shapes)() for _ in range(count)]


def path_heavy_lines(count: int = 2000, seed: int = 11) -> list[str]:
    """Generated lines with paths of made-up words in every context the path masker and its neighbours look at
    (brackets, keys, URLs, drive letters, month names, hex ids, host names, one segment, digits next to a slash):
    the cases where the skeleton's alike form writes a path's letters as "a"."""
    rng = random.Random(seed)

    def word(low: int = 2, high: int = 9) -> str:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(low, high)))

    def path(segments: int = 0) -> str:
        return "".join("/" + rng.choice([word(), word() + "." + word(1, 3), word() + str(rng.randint(0, 99)), "Jun", "Mon",
                                         "deadbeef12", "www.example.com", word() + "-" + word() + "_" + word()])
                       for _ in range(segments or rng.randint(1, 5)))

    shapes: list[Callable[[], str]] = [
        lambda: f"open {path()} for {word()} in {rng.randint(1, 999)} ms",
        lambda: f"copy [{path()}] to ({path()}), key={path()}: done",
        lambda: f"GET http://{word()}.example.com{path()}?q={word()} {rng.randint(200, 504)}",
        lambda: f"load {rng.choice('CDXa5')}:\\{word()}\\{word()}_{rng.randint(1, 9)}\\{word()}.dll failed",
        lambda: f"{word()}{path(2)} x/{word()}/{word()} {rng.randint(1, 12)}/{word()}/{word()} //{word()}/{word()}",
        lambda: f"{rng.choice(['Jun', 'Dec', 'Mon'])}{path()} {path()}:{rng.randint(1, 65535)} ~{path()} -{path()} .{path()}",
        lambda: f"file {path()}/{word()}.{word(1, 3)}, size {rng.randint(1, 9999)} KB; owner {word()}",
        lambda: f"{word()}={path()},{word()}='{path()}' \"{path()}\" <{path()}> {path()}/",
    ]
    return [rng.choice(shapes)() for _ in range(count)]


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
    digest = Digest()
    learner = _miner(config, caches)
    digest.feed([learner.learn(line) for line in lines])  # ids only (learn), then add: values read after that
    _feed_miner(digest, learner, lines)
    _final(digest, learner, lines)
    out["learn"] = digest.hex()
    return out


def masking_fingerprint(config: MaskingConfig, lines: Sequence[str]) -> str:
    # (mask_line's third item, the skeleton, is a cache key, not an output: only tokens and masks are compared)
    digest = Digest()
    pre = Preprocessor(config)
    for line in lines:
        digest.feed(pre.mask(line))
        digest.feed(pre.mask_line(line)[:2])
    for line in lines:  # again, through the caches
        digest.feed(pre.mask_line(line)[:2])
    small = Preprocessor(config, token_cache_size=20, line_cache_size=10)
    for line in lines:
        digest.feed(small.mask_line(line)[:2])
    return digest.hex()


def fingerprints(data: Path, datasets: Sequence[str] | None, progress: Callable[[str], None]) -> dict[str, str]:
    folders = sorted(p for p in data.iterdir() if (p / f"{p.name}_2k.log_structured.csv").is_file())
    if datasets:
        folders = [f for f in folders if f.name in datasets]
    out: dict[str, str] = {}
    everything: list[str] = []
    sources = [(folder.name, load_lines(folder)) for folder in folders] + [("generated-hex", hex_heavy_lines()),
                                                                            ("generated-paths", path_heavy_lines())]
    for name_of_source, lines in sources:
        everything.extend(lines)
        for name, config in MASKING_VARIANTS.items():
            out[f"{name_of_source}/mask/{name}"] = masking_fingerprint(config, lines)
        for name, (config, caches) in MINER_VARIANTS.items():
            for part, value in miner_fingerprint(config, caches, lines).items():
                out[f"{name_of_source}/miner/{name}/{part}"] = value
        progress(name_of_source)
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
