"""Key terms of a set of messages: the words they use far more than usual (nltk: tokens, stop words, lemmas).

Messages are masked first (numbers, ids, IPs... become ``<*>`` and drop out), split into word tokens with
nltk's ``WordPunctTokenizer`` (needs no downloaded data), lower-cased, stripped of stop words (nltk's
``stopwords`` corpus when installed, else a built-in copy of its English list) and lemmatised with WordNet
when that corpus is installed. Nothing is ever downloaded at run time.

A term is key when its share among the incident's words is much larger than its share in the background:
the baseline's template texts weighted by how often each occurred.
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

    def tokenize(self, text: str) -> list[str]:
        """Word and punctuation tokens (nltk ``WordPunctTokenizer``, needs no downloaded data)."""
        return self._tokenizer.tokenize(text)

    @cached_property
    def _tokenizer(self):  # noqa: ANN202 - nltk type; imported lazily because importing nltk takes ~1 s
        from nltk.tokenize import WordPunctTokenizer

        return WordPunctTokenizer()

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
        """Lower-cased alphabetic tokens of the masked text, stop words removed (lemmatised if WordNet is present)."""
        stop = self.stopwords
        words = [t.lower() for t in self.tokenize(self._preprocessor.mask(text)) if t.isalpha()]
        words = [w for w in words if w not in stop and len(w) > 1]
        lemmatize = self._lemmatizer
        return [lemmatize(w) for w in words] if lemmatize else words

    def term_weights(self, texts: Mapping[str, float]) -> Counter[str]:
        """How often each term occurs in ``texts`` (e.g. template texts) weighted by each text's count."""
        usual: Counter[str] = Counter()
        for text, weight in texts.items():
            for word in set(self.content_words(text)):
                usual[word] += weight
        return usual

    def rank(self, messages: Iterable[str], background: Mapping[str, float], *, top: int = 10,
             smoothing: float = 1.0) -> list[tuple[str, float]]:
        """The ``top`` terms of ``messages`` by how much more often they occur than in ``background``.

        ``background`` maps terms to their weight in usual traffic (see :meth:`term_weights`). The score is
        the ratio of the term's smoothed share in the messages to its smoothed share in the background.
        """
        found = Counter(word for message in messages for word in set(self.content_words(message)))
        if not found:
            return []
        messages_total = sum(found.values())
        usual_total = sum(background.values())
        vocabulary = len(found.keys() | background.keys())
        scores = {}
        for word, count in found.items():
            share = count / messages_total
            usual_share = (background.get(word, 0.0) + smoothing) / (usual_total + smoothing * vocabulary)
            scores[word] = share / usual_share
        ranked = sorted(scores.items(), key=lambda item: (-item[1], -found[item[0]], item[0]))
        return [(word, round(score, 2)) for word, score in ranked[:top]]
