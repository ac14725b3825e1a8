import json

import pytest

from enricher.templates import MinerConfig, PartitionedMiner, TemplateMiner, template_id_of


def test_same_text_in_two_partitions_gets_two_stable_ids() -> None:
    miner = PartitionedMiner()
    ssh = miner.add("Connection closed by 10.0.0.1", "ssh")
    web = miner.add("Connection closed by 10.0.0.2", "web")
    assert ssh.template == web.template == "Connection closed by <*>"
    assert ssh.template_id != web.template_id
    assert ssh.template_id == template_id_of(ssh.template, "ssh")
    assert web.template_id == template_id_of(web.template, "web")
    assert ssh.is_new and web.is_new
    assert len(miner) == 2 and miner.partitions() == ["ssh", "web"]
    assert miner.partition_of(ssh.template_id) == "ssh" and miner.partition_of("0" * 16) is None


def test_empty_partition_gives_the_ids_of_a_lone_miner() -> None:
    lines = ["Invalid user alice from 10.0.0.1", "Accepted password for bob from 10.0.0.2 port 22 ssh2"]
    lone = TemplateMiner()
    partitioned = PartitionedMiner()
    assert [lone.add(line).template_id for line in lines] == [partitioned.add(line).template_id for line in lines]


def test_partitions_do_not_mix_templates() -> None:
    miner = PartitionedMiner(MinerConfig(min_siblings=3))
    kept = miner.add("Starting job report", "batch")
    # In one miner these would make the last word a variable and fold "Starting job report" into it.
    for word in ["backup", "cleanup", "export", "import"]:
        miner.add(f"Starting job {word}", "cron")
    assert miner.canonical_id(kept.template_id) == kept.template_id
    assert miner.template_of(kept.template_id) == "Starting job report"
    assert [t for _, t, _ in miner.templates("cron")] == ["Starting job <*>"]
    assert miner.match("Starting job backup", "batch") is None
    assert miner.match("Starting job backup", "cron") is not None


def test_aliases_resolve_through_the_issuing_partition_also_after_restart(tmp_path) -> None:
    miner = PartitionedMiner()
    first = miner.add('Session opened for peer "web-a"', "api")
    second = miner.add('Session opened for peer "db-b"', "api")
    assert second.template == 'Session opened for peer "<*>"' and first.template_id != second.template_id
    assert miner.canonical_id(first.template_id) == second.template_id
    miner.save(tmp_path / "state.json")
    restored = PartitionedMiner.load(tmp_path / "state.json")
    assert restored.canonical_id(first.template_id) == second.template_id
    assert restored.template_of(first.template_id) == 'Session opened for peer "<*>"'
    assert restored.canonical_id("unknown") == "unknown" and restored.template_of("unknown") is None


def test_state_survives_restart_and_mining_continues_identically() -> None:
    lines = [(f"User u{i % 7}x logged in from 10.0.{i}.1", "auth") for i in range(30)]
    lines += [(f"GET /api/v1/items/{i} returned {200 + i % 3}", "web") for i in range(30)]
    lines += [(f"Disk sd{'abc'[i % 3]} at {i}% capacity", "host-1") for i in range(30)]
    straight = PartitionedMiner()
    ids_straight = [straight.add(m, p).template_id for m, p in lines]
    first = PartitionedMiner()
    ids_first = [first.add(m, p).template_id for m, p in lines[:45]]
    state = json.loads(json.dumps(first.to_state()))  # through JSON, as it is stored
    resumed = PartitionedMiner.from_state(state)
    ids_resumed = ids_first + [resumed.add(m, p).template_id for m, p in lines[45:]]
    assert ids_resumed == ids_straight
    assert resumed.templates() == straight.templates()
    assert resumed.to_state() == straight.to_state()


def test_shared_cap_evicts_rare_old_templates_of_any_partition() -> None:
    miner = PartitionedMiner(MinerConfig(max_templates=10, min_siblings_first=1_000))
    for _ in range(20):
        miner.add("Heartbeat ok from 10.0.0.1", "a")
        miner.add("Queue drained in 5 ms", "b")
    words = [x + y for x in "abcdefgh" for y in "abcde"]  # 40 distinct rare templates in partition c
    for word in words:
        miner.add(f"{word} happened", "c")
    assert len(miner) <= 10
    assert len(miner.templates()) == len(miner)
    assert miner.match("Heartbeat ok from 10.9.9.9", "a") is not None
    assert miner.match("Queue drained in 7 ms", "b") is not None
    assert miner.match(f"{words[0]} happened", "c") is None  # the oldest rare ones are gone
    assert miner.match(f"{words[-1]} happened", "c") is not None


def test_cap_counts_all_partitions_together() -> None:
    miner = PartitionedMiner(MinerConfig(max_templates=6, min_siblings_first=1_000))
    for i in range(12):
        miner.add(f"{'abcdefghijkl'[i]}x event", f"source-{i % 4}")
        assert len(miner) <= 6
    assert sum(len(miner.templates(p)) for p in miner.partitions()) == len(miner)


def test_lone_miner_state_loads_as_the_empty_partition() -> None:
    lone = TemplateMiner()
    issued = [lone.add(line).template_id for line in ["Invalid user alice from 10.0.0.1", "Invalid user bob from 10.0.0.2"]]
    migrated = PartitionedMiner.from_state(lone.to_state())
    assert migrated.partitions() == [""]
    assert [migrated.canonical_id(i) for i in issued] == [lone.canonical_id(i) for i in issued]
    again = migrated.add("Invalid user alice from 10.0.0.9")
    assert again.template_id == lone.add("Invalid user alice from 10.0.0.9").template_id


def test_lowered_cap_applies_on_load_and_bad_state_is_refused() -> None:
    miner = PartitionedMiner(MinerConfig(min_siblings_first=1_000))
    for i in range(8):
        miner.add(f"{'abcdefgh'[i]}y ready", "p")
    smaller = PartitionedMiner.from_state(miner.to_state(), MinerConfig(max_templates=4, min_siblings_first=1_000))
    assert len(smaller) <= 4
    with pytest.raises(ValueError):
        PartitionedMiner.from_state({"format": "something else"})


def test_random_traffic_keeps_counts_consistent_and_state_round_trips() -> None:
    import random

    rng = random.Random(9)
    shapes = ["peers {h} joined", "user {u} logged in from 10.0.{a}.{b}", "{w} happened at {a}", "disk sd{c} at {a}% full",
              "job {j} moved from {s} to {t}"]
    miner = PartitionedMiner(MinerConfig(max_templates=25))
    issued = []
    for _ in range(1500):
        line = rng.choice(shapes).format(
            h=" ".join(f"n{rng.randint(1, 9)}" for _ in range(rng.randint(1, 4))), u=rng.choice("abcdefgh") * 3,
            a=rng.randint(0, 99), b=rng.randint(0, 99), w=rng.choice(["boot", "halt", "sync", "scan"]),
            c=rng.choice("abc"), j=rng.randint(1, 9), s=rng.choice(["NEW", "RUN", "WAIT", "DONE", "FAIL"]),
            t=rng.choice(["NEW", "RUN", "WAIT", "DONE", "FAIL"]))
        issued.append(miner.add(line, rng.choice(["p1", "p2", "p3"])).template_id)
        assert len(miner) <= 25
    assert len(miner) == sum(len(miner.templates(p)) for p in miner.partitions()) == len(miner.templates())
    live = {tid for tid, _, _ in miner.templates()}
    resolved = [tid for tid in issued if miner.template_of(tid) is not None]
    assert len(resolved) > len(issued) // 2  # the frequent templates survive the cap
    for tid in resolved:  # and their ids lead to a live template of the partition that issued them
        current = miner.canonical_id(tid)
        assert current in live and miner.partition_of(current) == miner.partition_of(tid)
    copy = PartitionedMiner.from_state(json.loads(json.dumps(miner.to_state())))
    assert copy.templates() == miner.templates()
    assert [copy.canonical_id(t) for t in issued] == [miner.canonical_id(t) for t in issued]


def test_the_template_just_returned_is_never_evicted() -> None:
    miner = PartitionedMiner(MinerConfig(max_templates=3, min_siblings_first=1_000))
    for _ in range(5):
        miner.add("Heartbeat ok from 10.0.0.1", "a")
        miner.add("Queue drained in 5 ms", "b")
        miner.add("Cache warmed in 7 ms", "b")
    for word in ["alpha", "bravo", "charlie", "delta"]:
        fresh = miner.add(f"{word} happened", "c")  # the rarest template at once: eviction must spare it
        assert miner.template_of(fresh.template_id) == f"{word} happened"
        assert len(miner) <= 3


def test_learn_gives_the_ids_add_gives_under_the_shared_cap() -> None:
    lines = [(f"{word} job {n} done in {n * 7} ms", partition)
             for n in range(60) for word, partition in (("alpha", "a"), ("beta", "b"), (f"w{n % 9}x", "a"))]
    config = MinerConfig(max_templates=5)
    adding, learning = PartitionedMiner(config), PartitionedMiner(config)
    added = [adding.add(line, partition).template_id for line, partition in lines]
    assert [learning.learn(line, partition) for line, partition in lines] == added
    assert learning.templates() == adding.templates()
    assert len(learning) <= 5
