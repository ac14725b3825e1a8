"""The miner on log shapes it was not tuned on: variable first tokens, generated ids, value lists, wrapped values.

Each test builds a small synthetic source whose true events are known and checks the grouping, so a rule that
only holds on the Loghub samples fails here.
"""

import random
from collections import Counter

from enricher.templates import MinerConfig, TemplateMiner
from enricher.templates.miner import _may_be_wording, _random_case


def groups_of(miner: TemplateMiner, lines: list[str]) -> list[str]:
    ids = [miner.add(line).template_id for line in lines]
    return [miner.canonical_id(i) for i in ids]


def same_partition(truth: list[str], predicted: list[str]) -> bool:
    """Whether the predicted groups are exactly the true groups (grouping accuracy 1.0)."""
    pairs = set(zip(truth, predicted))
    return len(pairs) == len(set(truth)) == len(set(predicted))


def assert_one_event(lines: list[str], template: str) -> TemplateMiner:
    """Mine ``lines`` with a fresh miner, check that they got one id and ``template``; the miner."""
    miner = TemplateMiner()
    assert len(set(groups_of(miner, lines))) == 1
    assert [t for _, t, _ in miner.templates()] == [template]
    return miner


def test_identifier_with_digits_glued_to_letters_is_one_variable() -> None:
    miner = TemplateMiner()
    miner.add("Scheduling task on worker name_A12 now")
    match = miner.add("Scheduling task on worker name_B7 now")
    assert match.template == "Scheduling task on worker <*> now"
    assert match.params == ["name_B7"]
    miner.add("node-C3 went offline")
    assert miner.add("node-D14 went offline").template == "<*> went offline"


def test_generated_ids_are_masked_at_first_sight() -> None:
    miner = TemplateMiner()
    first = miner.add("session qZ7K2WbR004311 created")
    assert first.template == "session <*> created" and first.params == ["qZ7K2WbR004311"]
    assert miner.add("session 1LZEZGEIWB created").template_id == first.template_id
    # Both cases and few letter/digit switches: generated when the letters alone read as random.
    assert TemplateMiner().add("session cWWuMOUcya90vLfD created").template == "session <*> created"
    # Only the generated run is masked: the key beside it is a word (8 letters in one case, but no digit).
    assert TemplateMiner().add("login username=x9y8z7w6 accepted").template == "login username=<*> accepted"
    assert TemplateMiner().add("caught Win32Exception in WifiStateMachine2").template == (
        "caught Win32Exception in WifiStateMachine2"
    )
    # Words with a version or unit number are wording, not ids.
    assert miner.add("negotiated ssh2 with SOCKS5 proxy").template == "negotiated ssh2 with SOCKS5 proxy"


def test_variable_first_token_does_not_split_events() -> None:
    rng = random.Random(1)
    tables = ["users", "orders", "payments", "sessions", "invoices", "products", "carts", "stock", "audit", "events"]
    lines, truth = [], []
    for _ in range(400):
        kind = rng.randrange(3)
        table = rng.choice(tables)
        lines.append([f"{table}: inserted {rng.randint(1, 500)} rows in {rng.randint(1, 90)} ms",
                      f"{table}: lock wait timeout exceeded",
                      f"{rng.choice(['web-a1', 'db-b2', 'cache-c3', 'web-a4'])} heartbeat received"][kind])
        truth.append(str(kind))
    assert same_partition(truth, groups_of(TemplateMiner(), lines))


def test_first_word_that_names_the_event_is_kept() -> None:
    miner = TemplateMiner()
    for verb in ["boot", "halt", "wait"]:
        for n in range(5):
            miner.add(f"{verb} (command {n})")
    assert sorted(t for _, t, _ in miner.templates()) == ["boot (command <*>)", "halt (command <*>)",
                                                         "wait (command <*>)"]


def test_queue_id_first_token_without_digits_is_folded_into_the_general_template() -> None:
    rng = random.Random(2)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    lines = [f"{''.join(rng.choice(letters) for _ in range(10))}: removed" for _ in range(200)]
    lines.insert(0, "KOMXGJTEKD: removed")  # no digit: looks like a word until more messages arrive
    assert_one_event(lines, "<*>: removed")


def test_value_lists_of_any_length_are_one_event() -> None:
    rng = random.Random(3)
    miner = TemplateMiner()
    lines = [f"replicating shard {rng.randint(0, 40)} to "
             + " ".join(f"{rng.choice('abxyz')}{rng.randint(1, 40)}" for _ in range(rng.randint(1, 6)))
             for _ in range(200)]
    lines += [f"Fan speeds ( {' '.join(str(rng.randint(1000, 5000)) for _ in range(rng.randint(2, 6)))} )"
              for _ in range(100)]
    predicted = groups_of(miner, lines)
    assert len(set(predicted[:200])) == 1 and len(set(predicted[200:])) == 1
    assert set(predicted[:200]).isdisjoint(predicted[200:])
    assert sorted(t for _, t, _ in miner.templates()) == ["Fan speeds ( <*> )", "replicating shard <*> to <*>"]
    match = miner.add("replicating shard 7 to a1 b2 x3")
    assert match.params == ["7", "a1 b2 x3"]
    assert miner.extract_params(match.template, "replicating shard 9 to z9") == ["9", "z9"]


def test_templates_made_before_a_list_template_formed_are_folded_into_it() -> None:
    # The second message's template (its first word kept, two values) comes before the event's template learns
    # to take lists of any length; it must not keep its own id while the event's later messages share another.
    lines = ["lOAk1xFWUfXE connected peers: 145.220.169.44:23083 124.26.99.121 162.150.72.205:21583 7.65.205.232",
             "UzzAtWcJOfHY6 connected peers: 61.198.56.80 70.118.51.240:54463",
             "ai1iltuKnl6 connected peers: 75.4.169.185:6351",
             "bq2iltuKnl6 connected peers: 75.4.169.15:6351",
             "cr3iltuKnl6 connected peers: 75.4.169.15 1.2.3.4 5.6.7.8"]
    assert_one_event(lines, "<*> connected peers: <*>")


def test_a_first_word_that_leaves_a_list_event_when_blanked_is_a_value() -> None:
    # Queue ids without a digit look like words; blanked, these lines are the list event learnt from the others.
    lines = ["q7Zk2 node-V7 evicted 0x1f files=/a/b /c/d",
             "x9Rt5 node-B12 evicted 0x2e files=/e/f",
             "p3Lm8 node-C3 evicted 0x3d files=/g/h /i/j /k/l",
             "NFQUAOvkZGtr node-V722 evicted 0x0948 files=/vofu/vepe /katu/soji /x/y /z/w",
             "WbTrsQ node-A1 evicted 0x48 files=/vofu/vepe"]
    miner = assert_one_event(lines, "<*> evicted <*>")
    # Not when the word names another event: the list must be there with the same wording around it.
    assert miner.add("Restarting node-A1 evicted").template == "Restarting node-A1 evicted"


def test_a_word_before_a_list_further_in_is_not_taken_for_a_value() -> None:
    # "mover7" (a constant with a digit) starts the list in one event; "gehitued" names the other event.
    rng = random.Random(4)
    truth = ["a"] * 50 + [rng.choice("ab") for _ in range(250)]  # (the list event's template forms first)
    lines = [f"hohejona {'mover7' if kind == 'a' else 'gehitued'} "
             + " ".join(f"seva_{rng.choice('ABCDE')}{rng.randint(1, 999)}" for _ in range(rng.randint(1, 5)))
             + " wadutegu" for kind in truth]
    assert same_partition(truth, groups_of(TemplateMiner(), lines))


def _value(rng: random.Random) -> str:
    return rng.choice([str(rng.randint(0, 99999)), f"{rng.uniform(0, 999):.2f}", f"{rng.getrandbits(64):016x}",
                       f"10.0.{rng.randint(0, 255)}.{rng.randint(0, 255)}"])


def test_events_named_by_one_word_among_values_stay_apart() -> None:
    # Blanking the one word would leave a template of values alone, which takes every message of its length.
    rng = random.Random(5)
    words = ["opened", "closed", "flushed", "evicted", "pinned", "moved"]
    truth = [rng.choice(words) for _ in range(300)]
    lines = [" ".join([_value(rng) for _ in range(3)] + [word] + [_value(rng) for _ in range(4)]) for word in truth]
    miner = TemplateMiner()
    assert same_partition(truth, groups_of(miner, lines))
    assert sorted(t for _, t, _ in miner.templates()) == sorted(f"<*> <*> <*> {w} <*> <*> <*> <*>" for w in words)


def test_a_message_sharing_no_wording_with_a_template_is_not_joined_to_it() -> None:
    # Of the same length and mostly values, but every word of one stands where the other has a value.
    rng = random.Random(7)
    truth = [rng.choice("ab") for _ in range(200)]
    lines = [" ".join([_value(rng) for _ in range(2)] + ["mounted"] + [_value(rng) for _ in range(7)] + ["on", "disk"])
             if kind == "a" else
             " ".join([_value(rng) for _ in range(5)] + ["unmounted"] + [_value(rng) for _ in range(6)])
             for kind in truth]
    miner = TemplateMiner()
    assert same_partition(truth, groups_of(miner, lines))


def test_value_lists_stay_apart_when_the_wording_differs() -> None:
    miner = TemplateMiner()
    miner.add("quorum reached with peers a1 a2 a3")
    miner.add("quorum reached with peers b4 b5")
    lost = miner.add("quorum lost with peers a1 a2")
    assert lost.template == "quorum lost with peers a1 a2" and lost.is_new
    assert miner.match("quorum reached with peers c9 c8 c7 c6") is not None


def test_list_lengths_can_be_switched_off() -> None:
    miner = TemplateMiner(MinerConfig(merge_runs=False))
    a = miner.add("quorum reached with peers a1 a2 a3")
    b = miner.add("quorum reached with peers b4 b5")
    assert a.template_id != b.template_id


def test_wrapped_values_are_masked_whole() -> None:
    miner = TemplateMiner()
    miner.add("rrdtool update failed (/var/lib/collectd/rrd/web-a1/cpu-0/cpu-idle.rrd) permission denied")
    match = miner.add("rrdtool update failed (/var/lib/collectd/rrd/db-b2/cpu-3/cpu-user.rrd) permission denied")
    assert match.template == "rrdtool update failed (<*>) permission denied"
    assert miner.add("worker exited [pid 4321] status 0").template == "worker exited [pid <*>] status <*>"


def test_variable_length_templates_survive_a_restart() -> None:
    miner = TemplateMiner()
    for hosts in ["a1", "a1 a2", "b1 b2 b3"]:
        last = miner.add(f"peers {hosts} joined")
    restored = TemplateMiner.from_state(miner.to_state())
    again = restored.add("peers c1 c2 c3 c4 c5 joined")
    assert again.template_id == last.template_id and not again.is_new
    assert again.params == ["c1 c2 c3 c4 c5"]


def test_two_words_that_each_take_many_values_become_variables() -> None:
    states = ["NEW", "UNASSIGNED", "ASSIGNED", "RUNNING", "COMMIT_PENDING", "SUCCEEDED", "KILLED", "FAILED"]
    rng = random.Random(4)
    miner = TemplateMiner()
    lines = []
    for _ in range(300):
        a = rng.randrange(len(states) - 1)
        lines.append(f"attempt_{rng.randint(1, 99)}_m_{rng.randint(1, 9999)} TaskAttempt Transitioned from "
                     f"{states[a]} to {states[a + 1]}")
    assert len(set(groups_of(miner, lines))) == 1
    assert [t for _, t, _ in miner.templates()] == ["attempt_<*>_m_<*> TaskAttempt Transitioned from <*> to <*>"]


def test_two_words_with_few_values_stay_part_of_the_event() -> None:
    miner = TemplateMiner()
    states = ["LOOKING", "LEADING", "FOLLOWING"]
    for mine in states:
        for theirs in states:
            for n in range(3):
                miner.add(f"Notification: {n} (n.leader), {theirs} (n.state), {n} (n.sid), {mine} (my state)")
    assert len(miner) == 9  # three states each: the pairs name nine events


def test_paths_with_spaces_are_one_value() -> None:
    miner = TemplateMiner()
    plain = miner.add("Opening file /data/reports/q1.txt for read")
    spaced = miner.add("Opening file /data/My Documents/report 2.txt for read")
    assert miner.canonical_id(plain.template_id) == spaced.template_id
    assert spaced.template == "Opening file <*> for read"
    assert spaced.params == ["/data/My Documents/report 2.txt"]


def test_a_unit_after_a_value_belongs_to_the_value() -> None:
    miner = TemplateMiner()
    small = miner.add("Block rdd_1 stored in memory (estimated size 93.0 B, free 317.1 KB)")
    large = miner.add("Block rdd_2 stored in memory (estimated size 5.2 KB, free 310.4 MB)")
    assert miner.canonical_id(small.template_id) == large.template_id
    assert large.template == "Block rdd_<*> stored in memory (estimated size <*> <*>, free <*> <*>)"


def test_first_words_that_start_several_events_are_values_even_when_few() -> None:
    rng = random.Random(1)
    tables = ["users", "orders", "payments", "carts", "stock"]  # fewer than min_siblings_first
    miner = TemplateMiner()
    lines, truth = [], []
    for _ in range(300):
        kind = rng.randrange(3)
        table = rng.choice(tables)
        lines.append([f"{table}: inserted {rng.randint(1, 500)} rows in {rng.randint(1, 90)} ms",
                      f"{table}: lock wait timeout exceeded",
                      f"{table}: vacuum finished, {rng.randint(0, 99)} dead tuples removed"][kind])
        truth.append(str(kind))
    assert same_partition(truth, groups_of(miner, lines))
    restored = TemplateMiner.from_state(miner.to_state())
    assert restored.add("audit: lock wait timeout exceeded").template == "<*>: lock wait timeout exceeded"


def test_variable_length_templates_are_counted_through_evictions_and_restarts() -> None:
    # The count lets template creation skip the search for a variable-length template when there is none; the
    # wording index (constant tokens -> templates holding them) is kept the same way.
    rng = random.Random(11)
    events = [f"stage{chr(97 + k)}" for k in range(26)]  # (words apart: no sibling merging with these settings)
    lines = [f"task {rng.choice(events)} finished on "
             + " ".join(f"x{rng.randint(1, 99)}" for _ in range(rng.randint(1, 5))) for _ in range(1_000)]
    miner = TemplateMiner(MinerConfig(max_templates=12, min_siblings=1_000, min_siblings_first=1_000,
                                      min_siblings_pair=0))
    evicted = 0
    for line in lines:
        before = set(miner._clusters)
        miner.learn(line)
        evicted += len(before - set(miner._clusters))
        assert miner._variable_length == sum(c.vlen for c in miner._clusters.values())
        assert miner._wording == wording_of(miner)
    assert miner._variable_length > 0 and evicted > 10
    restored = TemplateMiner.from_state(miner.to_state())
    assert restored._variable_length == miner._variable_length
    assert restored._wording == miner._wording


def wording_of(miner: TemplateMiner) -> dict[str, int]:
    """The tokens of the miner's live templates that may be taken for values, with how many templates hold each."""
    return dict(Counter(t for c in miner._clusters.values() for t in c.tokens if _may_be_wording(t)))


def test_a_template_that_gains_a_run_joins_the_same_event_with_another_list_length() -> None:
    # The first lists hold a word (alpha, beta, ...) that is a value only once enough of them are seen: until then each
    # list length is a template of its own, which fits its own lines. Once the word is a variable, the run is whole.
    lines = [f"fetched {' '.join(f'n{k}' for k in range(i, i + length))} from cache"
             for i, length in enumerate([1, 3, 4, 2, 5, 1, 4])]
    lines += [f"fetched n1 {word} n2 from cache" for word in ["alpha", "beta", "gamma", "delta"]]
    lines += ["fetched n3 n4 n5 n6 n7 n8 from cache", "fetched n1 n2 n3 from cache"]
    assert_one_event(lines, "fetched <*> from cache")


def test_keys_in_a_run_are_wording() -> None:
    # uid=<*> euid=<*> is a run of values with their keys: rhost=<*> and rhost=<*> user=<*> stay two events when the
    # user= template gains its run.
    without = [f"auth failure; uid={i} euid={i} tty=ssh rhost=10.0.0.{i}" for i in range(6)]
    with_user = [f"auth failure; uid={i} euid={i} tty=ssh rhost=10.0.0.{i} user={u}"
                 for i, u in enumerate(["root", "git", "admin", "mysql", "test", "guest", "oracle"])]
    miner = TemplateMiner()
    groups = groups_of(miner, without + with_user)
    assert len(set(groups[:6])) == 1 and len(set(groups[6:])) == 1 and groups[0] != groups[6]
    assert sorted(t for _, t, _ in miner.templates()) == [
        "auth failure; uid=<*> euid=<*> tty=ssh rhost=<*>", "auth failure; uid=<*> euid=<*> tty=ssh rhost=<*> user=<*>"
    ]


def test_a_random_case_word_in_a_value_list_is_a_value() -> None:
    # A generated id may hold no digit (JStWBdQs): in a list of a variable-length template it is a value, whether the
    # line comes before the template learnt to take lists or after.
    rng = random.Random(3)
    ids = ["e9fCR9Owjnsgpy", "sIoOxiS0uNie", "cRdqL39rX", "11OiBv110", "lRocuwsL5", "XrTGtHmfp7"]
    lines = ["upload of JStWBdQs q7Xk2Lm9Zp 4YbOcENiXR RrlRJojJzz e8M8dGF9pZ 0jF4kHQmbomR9G finished"]
    lines += [f"upload of {' '.join(rng.sample(ids, rng.randint(1, 4)))} finished" for _ in range(30)]
    lines += ["upload of zA47GITwEQSGy RrlRJojJzz finished", "upload of lsbrOTcbQ8 SKjvrAca PLD3NRiQ7AF finished"]
    assert_one_event(lines, "upload of <*> finished")


def test_camel_case_names_do_not_read_as_random_letters() -> None:
    # The hint that lets a word without digits join a value list (see test above) must leave names alone.
    names = ["PowerManagerService", "NullPointerException", "setSystemUiVisibility", "HDFSClient", "WifiStateMachine",
             "isDeviceProvisioned", "getBlockLocations", "ReplicaManager", "onExtendEnded", "SOCKSProxy"]
    assert not any(map(_random_case, names))
    assert all(map(_random_case, ["JStWBdQs", "RrlRJojJzz", "SKjvrAca", "IMCHWxLnZFom", "hZmDJBflK"]))


def test_an_unknown_mixed_case_word_in_a_value_list_is_a_value() -> None:
    # ftwqEkitd does not read as random letters, but no template holds it and it is in mixed case: in a list that a
    # variable-length template covers, it is a value (also when its line came first and made a template of its own).
    rng = random.Random(4)
    ids = ["e9fCR9Owjnsgpy", "sIoOxiS0uNie", "cRdqL39rX", "11OiBv110", "lRocuwsL5", "XrTGtHmfp7"]
    lines = ["moved algLYKQFznmo q7Xk2Lm9Zp 4YbOcENiXR e8M8dGF9pZ 0jF4kHQmbomR9G 9zQ8e7R6t5 to the archive"]
    lines += [f"moved {' '.join(rng.sample(ids, rng.randint(1, 4)))} to the archive" for _ in range(30)]
    lines += ["moved e9fCR9Owjnsgpy ftwqEkitd to the archive", "moved TVACiukasX lRocuwsL5 cRdqL39rX to the archive",
              "moved sIoOxiS0uNie (tYiddkrnovDtZ) 11OiBv110 to the archive"]  # (wrapped too)
    assert_one_event(lines, "moved <*> to the archive")


def test_an_unknown_lower_case_word_before_a_list_names_another_event() -> None:
    # mevo6 is wording with a digit, so it sits in the run of "hohejona <*> wadutegu"; gehitued, never seen before,
    # is the word of a new event (a sibling), not a value.
    rng = random.Random(5)
    ids = lambda: " ".join(f"seva_{rng.choice('ABCDEFGH')}{rng.randint(1, 999)}" for _ in range(rng.randint(1, 5)))
    lines = [f"hohejona mevo6 {ids()} wadutegu" for _ in range(20)]
    lines += [f"hohejona gehitued {ids()} wadutegu" for _ in range(10)]
    miner = TemplateMiner()
    groups = groups_of(miner, lines)
    assert len(set(groups[:20])) == 1 and len(set(groups[20:])) == 1 and groups[0] != groups[20]


def test_two_token_messages_one_value_apart_are_one_event() -> None:
    miner = TemplateMiner()
    first = miner.add("Stopping web_A12")
    assert miner.add("Stopping web_B7").template == "Stopping <*>"
    assert miner.canonical_id(first.template_id) == miner.add("Stopping db_C3").template_id
    # Values under different keys are different events.
    miner.add("getRecentTasks: topActivity=ComponentInfo{com.tencent.mm/com.tencent.mm.ui.LauncherUI}")
    assert miner.add("getRecentTasks: num=20,flags=62,totalTasks=46").template == (
        "getRecentTasks: num=<*>,flags=<*>,totalTasks=<*>"
    )


def test_lines_with_generated_ids_are_not_remembered_by_skeleton() -> None:
    # A skeleton keeps the letters of a generated id (its own token), so its entry would never be met again: not
    # stored. A word that keeps its digits (ssh2) repeats, and its lines are.
    rng = random.Random(6)
    miner = TemplateMiner()
    ids = ["".join(rng.choice("abcdefghijkLMNOPQ0123456789") for _ in range(14)) for _ in range(50)]
    matches = [miner.add(f"session {i} created") for i in ids]
    assert {m.template for m in matches[1:]} == {"session <*> created"} and miner._seen_size == 0
    for port in range(20):
        miner.add(f"accepted ssh2 connection on port {port}")
    assert miner._seen_size > 0
