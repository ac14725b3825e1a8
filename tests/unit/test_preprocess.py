import random
import re

from enricher.preprocess import (
    BUILTIN_ORDER,
    BUILTIN_PATTERNS,
    MaskingConfig,
    NamedRegex,
    Preprocessor,
)


def test_masks_common_variable_shapes_and_keeps_context() -> None:
    pre = Preprocessor(MaskingConfig(timestamps=False))
    assert pre.mask("10.251.194.213:50010 Served block blk_-7724713468912166542 to /10.251.203.80") == (
        "<*>:<*> Served block blk_<*> to /<*>"
    )
    assert pre.mask("Connecting to spark://Scheduler@10.10.34.11:48069") == "Connecting to spark://<*>"
    assert pre.mask("session 0x14ed93111f20005 token a64f992 ok") == "session <*> token <*> ok"
    assert pre.mask("file /mnt/hadoop/dfs/data done") == "file <*> done"
    assert pre.mask("id 123e4567-e89b-12d3-a456-426614174000 ssh2") == "id <*> ssh2"  # words with digits stay


def test_maskers_can_be_switched_off_and_extended() -> None:
    pre = Preprocessor(MaskingConfig(numbers=False, extra=[NamedRegex(name="user", pattern=r"(?<=user )\w+")]))
    assert pre.mask("user alice retried 3 times") == "user <*> retried 3 times"


def test_named_placeholders_and_whole_timestamps() -> None:
    pre = Preprocessor(MaskingConfig(named_placeholders=True))
    assert pre.mask("2015-07-29 17:41:44,747 from 10.0.0.1 n=5") == "<TS> from <IP> n=<NUM>"


def test_mask_tokens_matches_mask_token_by_token() -> None:
    pre = Preprocessor(MaskingConfig(timestamps=False))
    text = "Received block blk_123 of size 67108864 from /10.251.42.84"
    tokens, masked = pre.mask_tokens(text)
    assert tokens == text.split()
    assert " ".join(masked) == pre.mask(text)
    assert pre.mask_tokens(text)[1] == masked  # second call served from the token cache


def test_host_names_are_masked_but_not_java_names_or_keys() -> None:
    pre = Preprocessor(MaskingConfig(timestamps=False))
    assert pre.mask("proxy.cse.cuhk.edu.hk:5070 via www.google.com") == "<*>:<*> via <*>"
    assert pre.mask("org.apache.hadoop.util.Shell mapred.task.id a@build.redhat.com") == (
        "org.apache.hadoop.util.Shell mapred.task.id a@build.redhat.com"
    )


def test_token_masking_gives_the_same_result_as_whole_text_masking() -> None:
    tokens = ["blk_-42", "/10.0.0.1:50010", "R30-M0-N9-C:J16-U01", "core.2275", "Jun", "xJunx", "deadbeefcafe",
              "aa:bb-cc:dd:ee:ff", "123e4567-e89b-12d3-a456-426614174000", "http://a.b/c", "C:\\x\\y", "2015-07-29",
              "17:41:44,747", "www.example.com:80", "plain", "0x1F", "ffffffff", "+5", "3.14"]
    for config in (MaskingConfig(timestamps=False), MaskingConfig()):
        pre = Preprocessor(config)
        assert list(pre.mask_tokens(" ".join(tokens))[1]) == [pre.mask(t) for t in tokens]


def test_skeleton_caches_mask_like_token_by_token_masking() -> None:
    # Texts that share a skeleton (same text up to which digits) must still be masked from their own digits where
    # the masked form keeps them (ssh2 / ssh3, KB2552343), and hex prefixes (0x) must survive the digit folding.
    texts = [
        "Failed password for root from 10.0.0.1 port 22 ssh2",
        "Failed password for root from 90.9.9.9 port 99 ssh3",
        "Package_for_KB2552343~31bf3856ad364e35~amd64~~6.1.1.0, v6.1.7601.23505",
        "Package_for_KB3121255~31bf3856ad364e35~amd64~~6.1.1.1, v7.2.8888.11111",
        "reg 0x1F 0X2a 10x 00x0 x0 0xx 1x1f 000 007",
        "reg 1x1F 1X2a 00x 10x0 x1 1xx 0x1f 101 107",
        "ctrl \x02 0x10 \x1c sep",  # the hex mark character itself, and a separator str.split() cuts at
        "Jun 3 12:00:01 www.example.com:8080 /a/b/c 123e4567-e89b-12d3-a456-426614174000 aa:bb:cc:dd:ee:ff",
        "Jan 7 02:09:41 www.exampla.com:8081 /x/y/z 923e4567-e89b-12d3-a456-426614174009 ab:bb:cc:dd:ee:f1",
        "caf\u00e9 \u00b2 12 d\u00e9j\u00e0 0x3",  # not ASCII: no skeleton
    ]
    for config in (MaskingConfig(timestamps=False), MaskingConfig()):
        pre = Preprocessor(config)
        for text in texts * 2:  # the second round is served from the caches
            tokens, masked, skeleton = pre.mask_line(text)
            assert tokens == text.split()
            assert list(masked) == [pre.mask(t) for t in tokens], text
            assert (skeleton is None) == (not text.isascii() or "\x02" in text)


def test_guarded_alternation_masks_like_the_plain_alternation() -> None:
    # The maskers run as one alternation behind a look-behind that skips positions right after a letter or digit
    # (a speed-up, valid because no built-in pattern starts a match there). It must change no match: compare with
    # the plain alternation of the same patterns on tricky texts and on random ones made of the characters the
    # patterns care about.
    plain = re.compile("|".join(f"(?:{BUILTIN_PATTERNS[name]})" for name in BUILTIN_ORDER))
    texts = [
        "a1.2.3.4 1.2.3.4 x0x1f 0x1f blk_-12 node-246 +5 a+5 http://h/x?y=1 ftp://1.2.3.4/a C:\\x\\y",
        "user@host.com www.example.de org.apache.X Dec3 3Dec (Dec) Jun 14 15:16:01 2015-07-29 17:41:44,747",
        "deadbeef cafe 9f4ef63 de9231d 123e4567-e89b-12d3-a456-426614174000 aa:bb:cc:dd:ee:ff /a/b /a",
        "abcdefab-cdef-abcd-efab-cdefabcdefab ab:cd:ef:ab:cd:ef ab-cd-ef-ab-cd-ef a://b x/y/z C:\\dir www.x.cn y.",
        "Tue Jun 14 15:16:01 2015 x (Sat, Dec 3 10:11:12) Wed Nov 7 01:02:03 Thu Fri Oct Mon Aug Apr May Sep Feb",
    ]
    rng = random.Random(7)
    alphabet = "0123456789abcdefxXDecJun.:-/\\_@+ ,=()"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    # The alternation is grouped by the character a match starts with: every character class, quotes and brackets,
    # the ASCII separators that are whitespace, and non-ASCII ones (a digit of another script, which \d takes).
    pieces = list("0123456789abcdefxyzAFJMNOSTWQ.:-/\\_@+ ,=()[]<>{}'\"~%!\t\x1c\x00é٣\u2003") + [
        "Jan", "Sat", "Tue", "Oct", "0x1f", "://", "C:\\", ".com", "10.0.0.1", "12:30:01", "2015-07-29", "deadbeef"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 16))) for _ in range(3000)]
    pre = Preprocessor(MaskingConfig())
    for text in texts:
        assert pre.mask(text) == plain.sub("<*>", text), text
        # Token by token (through the skeleton caches and the str tests that skip the regex) as well.
        tokens = text.split()
        assert list(pre.mask_tokens(text)[1]) == [plain.sub("<*>", token) for token in tokens], text
    # With some maskers off, the groups hold the others, in their order.
    for off in (("timestamps", "hosts"), ("numbers", "hex_ids", "urls"), ("paths", "ips", "date_words", "uuids")):
        config = MaskingConfig(**{flag: False for flag in off})
        subset = re.compile("|".join(f"(?:{BUILTIN_PATTERNS[name]})" for name in config.enabled_builtins()))
        pre = Preprocessor(config)
        for text in texts[-1500:]:
            assert pre.mask(text) == subset.sub("<*>", text), (off, text)


def test_hex_values_that_differ_in_their_letters_share_a_skeleton_and_mask_alike() -> None:
    # Request ids, trace ids and hashes differ in their letters on every line; written alike in the skeleton, such
    # lines are one cache entry, and every line is still masked exactly as token-by-token masking masks it.
    pre = Preprocessor(MaskingConfig(timestamps=False))
    rng = random.Random(5)

    def hexes(n: int, digits: str = "0123456789abcdef") -> str:
        return "".join(rng.choice(digits) for _ in range(n))

    def request() -> str:
        uuid = "-".join(hexes(n) for n in (8, 4, 4, 4, 12))
        return f"[req-{uuid} {hexes(32)}] GET /v2/{hexes(32)}/servers span={hexes(16)} at 0x{hexes(8)}"

    lines = [request() for _ in range(50)]
    assert len({pre.mask_line(line)[2] for line in lines}) == 1
    # Values the maskers do not take whole keep their own skeleton: a run glued to a letter, a short run, and a
    # run of digits only (its sign would belong to the number).
    kept = [f"x{hexes(12)}f g{hexes(12)} {hexes(6)} blk_-{hexes(12, '0123456789')} {hexes(12)}" for _ in range(30)]
    assert len({pre.mask_line(line)[2] for line in kept}) > 1
    # Same shape (hex digits at the same places) but a run that is digits only in one of them: the number masker
    # takes that one with its sign, so the two must not share a key.
    twins = ["id=-1234abcd5678 x=9f8e7d6c5b4a", "id=-123456789012 x=9f8e7d6c5b4a", "id=-1234abcd5678 x=111122223333",
             "id=-ffffeeeedddd x=9f8e7d6c5b4a"]
    assert len({pre.mask_line(line)[2] for line in twins}) == 3
    for text in (lines + kept + twins) * 2:
        tokens, masked, _ = pre.mask_line(text)
        assert list(masked) == [pre.mask(token) for token in tokens], text
    # Without the hex masker a hex value is not a variable, so its letters must stay in the skeleton.
    no_hex = Preprocessor(MaskingConfig(timestamps=False, hex_ids=False))
    assert len({no_hex.mask_line(line)[2] for line in lines}) == len(lines)


def test_hex_values_found_in_the_shape_are_those_a_regex_of_hex_classes_finds() -> None:
    # Hex values are looked for in the skeleton's shape (every hex digit as "a"). Random skeletons of hex digits,
    # other letters, dashes, marks of "0x" and separators must give the values, and the kind of each, that this
    # regex of hex classes over the skeleton gives (the definition), with and without the UUID masker, less the
    # values that start with a digit that a masker before them looks at.
    uuid = rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|"
    hexes = rb"\x02[xX][0-9a-fA-F]+|(?P<run>(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,})"
    rng = random.Random(11)
    pieces = ["1", "11111111", "a", "F", "z", "-", " ", ":", "=", "deadbeef", "11111111-1111-1111-1111-111111111111",
              "aaaa", "1a1a-", "q", "\x02x", "\x02X1f", "x", ".", ",", "+"]
    def looked_at(skeleton: bytes, start: int, plain_run: bool) -> bool:
        # A digit after an IP's last digit and "."; for a UUID of 8 digits first, also after a time's last digit
        # and "," or ".", or after a sign that is not glued to a letter or digit.
        head = skeleton[:start]
        if re.search(rb"1\.\Z", head) and skeleton[start:start + 1] == b"1":
            return True
        if plain_run or re.match(rb"1{8}-", skeleton[start:]) is None:
            return False
        return re.search(rb"(?:1[.,]|(?:\A|[^A-Za-z0-9])[-+])\Z", head) is not None

    for config, uuids in ((MaskingConfig(timestamps=False), uuid), (MaskingConfig(timestamps=False, uuids=False), b"")):
        definition = re.compile(rb"(?<![A-Za-z0-9])(?:" + uuids + hexes + rb")(?![A-Za-z0-9])")
        pre = Preprocessor(config)
        found = marked = 0
        for _ in range(8_000):
            skeleton = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 14))).encode()
            shape = skeleton.translate(bytes.maketrans(b"0123456789abcdefABCDEF", b"a" * 22))
            expected = [(f.start(), f.end(), f.lastgroup == "run") for f in definition.finditer(skeleton)
                        if not looked_at(skeleton, f.start(), f.lastgroup == "run")]
            assert [value[:3] for value in pre._hex_values(skeleton, shape)] == expected, skeleton
            found += len(expected)
            marked += any(skeleton[start] == 2 for start, _, _ in expected)
        assert found > 1_000 and marked > 100


def test_tokens_of_letters_and_digits_mask_as_the_maskers_say() -> None:
    # A token of letters and digits both is masked from the skeleton cache without the maskers' regex (no built-in
    # masker matches inside one unless it is a number or a hex value as a whole): random ids, hex-like ones,
    # month names and 0x prefixes glued to digits must still come out as the maskers make them.
    rng = random.Random(3)
    alphabet = "0123456789abcdefABCDEFxXJunDecMonqzZ"
    for config in (MaskingConfig(timestamps=False), MaskingConfig(), MaskingConfig(hex_ids=False)):
        pre = Preprocessor(config)
        for _ in range(3_000):
            tokens = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(4)]
            text = " ".join(tokens)
            assert list(pre.mask_line(text)[1]) == [pre.mask(token) for token in tokens], text


def test_a_key_and_its_value_mask_as_the_maskers_say() -> None:
    # key=value tokens are masked as the key and the value on its own (the key's letters untouched): keys that are
    # hex words or month names, values that are numbers, paths, URLs, IPs, times, hex, other key=value pairs or
    # nothing must come out as the maskers make the whole token.
    rng = random.Random(9)
    keys = ["user", "rhost", "deadbeefcafe", "Mon", "Decline", "x", "abcdefab", "C", "uid"]
    pieces = ["1", "42", "0x1f", "/a/b", "://h/x", "10.0.0.1", ":", "12:30:01", "-", "=", "ab", "deadbeef", "C:\\x",
              "www.example.com", "Jun", ".", "-7", "z"]
    for config in (MaskingConfig(timestamps=False), MaskingConfig(), MaskingConfig(hex_ids=False, paths=False)):
        pre = Preprocessor(config)
        for _ in range(3_000):
            tokens = [rng.choice(keys) + "=" + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
                      for _ in range(3)]
            text = " ".join(tokens)
            for _ in range(2):  # the second time from the caches
                assert list(pre.mask_line(text)[1]) == [pre.mask(token) for token in tokens], text


def test_hex_values_a_masker_looks_into_are_not_written_alike() -> None:
    # An IP's look-ahead, a time's fraction and a number's sign look at the first digit of what follows them: a
    # value starting with a digit there must keep its digits in the skeleton, even after a line of the same shape
    # whose value started with a letter was learnt.
    uuid = "12345678-1234-1234-1234-123456789abc"
    cases = [
        ("ip 10.0.0.1.adeadbeef0 x", "ip 10.0.0.1.5deadbeef0 x"),
        (f"at 12:30:01.a2345678-1234-1234-1234-123456789abc x", f"at 12:30:01.{uuid} x"),
        (f"v -a2345678-1234-1234-1234-123456789abc x", f"v -{uuid} x"),
        (f"v +a2345678-1234-1234-1234-123456789abc x", f"v +{uuid} x"),
    ]
    for config in (MaskingConfig(), MaskingConfig(timestamps=False)):
        pre = Preprocessor(config)
        for learnt, text in cases:
            for line in (learnt, text, text):
                tokens, masked, _ = pre.mask_line(line)
                assert list(masked) == [pre.mask(token) for token in tokens], line
