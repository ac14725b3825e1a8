"""Key terms of a set of messages: the words they use far more than usual (nltk: tokens, stop words, lemmas).

Messages are masked first (numbers, ids, IPs... become ``<*>`` and drop out). nltk's corpora (stop words,
WordNet) are used when installed, else a built-in stop word list and no lemmas: nothing is downloaded at run time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property

from enricher.preprocess import Preprocessor

# Used when nltk's stopwords corpus is not installed (nltk's English list, which is public domain).
FALLBACK_STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
    herself it its itself they them their theirs themselves what which who whom this that these those am is are
    was were be been being have has had having do does did doing a an the and but if or because as until while
    of at by for with about against between into through during before after above below to from up down in out
    on off over under again further then once here there when where why how all any both each few more most
    other some such no nor not only own same so than too very s t can will just don should now d ll m o re ve y
    ain aren couldn didn doesn hadn hasn haven isn ma mightn mustn needn shan shouldn wasn weren won wouldn""".split()
)


class KeyTerms:
    """Tokenises, filters and lemmatises messages, and ranks the terms that set a group of them apart."""

    def __init__(self) -> None:
        self._preprocessor = Preprocessor()

    @cached_property
    def tokenize(self) -> Callable[[str], list[str]]:
        """Word and punctuation tokens (needs no downloaded data; nltk is imported lazily: that takes ~1 s)."""
        from nltk.tokenize import WordPunctTokenizer

        return WordPunctTokenizer().tokenize

    @cached_property
    def stopwords(self) -> frozenset[str]:
        try:
            from nltk.corpus import stopwords

            return frozenset(stopwords.words("english"))
        except LookupError:  # corpus not downloaded: fall back, never download at run time
            return FALLBACK_STOPWORDS

    @cached_property
    def _lemmatizer(self) -> Callable[[str], str] | None:
        try:
            import nltk
            from nltk.stem import WordNetLemmatizer

            nltk.data.find("corpora/wordnet")
        except LookupError:
            return None
        return WordNetLemmatizer().lemmatize

    def content_words(self, text: str) -> list[str]:
        words = [t.lower() for t in self.tokenize(self._preprocessor.mask(text)) if t.isalpha()]
        words = [w for w in words if w not in self.stopwords and len(w) > 1]
        return [self._lemmatizer(w) for w in words] if self._lemmatizer else words

    def term_weights(self, texts: Mapping[str, float]) -> Counter[str]:
        """How often each term occurs in ``texts`` (e.g. template texts) weighted by each text's count."""
        usual: Counter[str] = Counter()
        for text, weight in texts.items():
            for word in set(self.content_words(text)):
                usual[word] += weight
        return usual

    def rank(self, messages: Iterable[str], background: Mapping[str, float], *, top: int = 10,
             smoothing: float = 1.0) -> list[tuple[str, float]]:
        """The ``top`` terms of ``messages`` by the ratio of their smoothed share in the messages to their smoothed
        share in ``background`` (term weights in usual traffic, see :meth:`term_weights`)."""
        found = Counter(word for message in messages for word in set(self.content_words(message)))
        if not found:
            return []
        messages_total = sum(found.values())
        usual_total = sum(background.values()) + smoothing * len(found.keys() | background.keys())
        scores = {word: count / messages_total / ((background.get(word, 0.0) + smoothing) / usual_total)
                  for word, count in found.items()}
        ranked = sorted(scores.items(), key=lambda item: (-item[1], -found[item[0]], item[0]))
        return [(word, round(score, 2)) for word, score in ranked[:top]]
