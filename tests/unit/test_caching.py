from enricher.caching import BoundedDict, LRUDict


def test_bounded_dict_drops_the_oldest_insert_and_reads_like_a_dict():
    cache = BoundedDict(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # reading does not refresh: first in, first out
    cache.put("c", 3)
    assert dict(cache) == {"b": 2, "c": 3}
    cache.put("b", 20)  # replacing a key does not evict
    assert dict(cache) == {"b": 20, "c": 3}
    zero = BoundedDict(0)
    assert zero.put("x", 1) == 1 and len(zero) == 0


def test_lru_dict_keeps_what_is_read():
    cache = LRUDict(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3
    assert cache.get("missing", 0) == 0 and len(cache) == 2


def test_lru_dict_put_counts_as_a_use_and_items_are_oldest_first():
    cache = LRUDict(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)  # a replaced: now the most recent
    cache.put("c", 3)
    assert list(cache.items()) == [("a", 10), ("c", 3)]
    assert LRUDict(0).put("x", 1) == 1 and len(LRUDict(0)) == 0
