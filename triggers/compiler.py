"""Compile a rule set once into one Aho-Corasick automaton over normalised tokens.

Every distinct token of every phrase gets a code of ``width`` characters (digit ``k`` of the
token's number, in base ``base``, drawn from its own character range); a phrase becomes the
concatenation of its tokens' codes and a transcript stream becomes one string (tokens no rule
mentions become separators that no phrase contains). One pass of the automaton over each
speaker's stream finds every occurrence of every phrase of every rule, overlapping ones
included. Matches can only start on a token boundary, because the first digit's characters
occur nowhere else, so word boundaries hold by construction. Only the rules an occurrence
touches (plus absence-only rules) are evaluated afterwards, so the cost per transcript grows
with what was said, not with the number of rules.

Why several characters per token: pyahocorasick scans a node's children linearly, so one
character per token puts every first word of every rule under the root (20,000 children at
10,000 rules: ~2 ms per minute of speech). Digits keep every node's fan-out under 64.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import ahocorasick

from catalog.models import Speaker, Transcript
from triggers.models import Match, Rule, RuleSet, SpeakerScope
from triggers.normalize import normalize_text
from triggers.transcript import PreparedTranscript, Stream, prepare

_SEP = "\x01"
_FIRST_CODE = 0x100
MAX_MATCHES_PER_RULE = 50  # a rule said 400 times in a call needs no 400 stored rows

# clause kinds in the usage table
ANY, ALL, NONE, NEAR_A, NEAR_B = range(5)


# One occurrence of a phrase: (stream index, first token, last token), inclusive. A plain
# tuple: the matcher makes one per occurrence, and tuples are several times cheaper to build.
Hit = tuple[int, int, int]


@dataclass
class _CompiledRule:
    rule: Rule
    any_ids: list[int] = field(default_factory=list)
    all_ids: list[int] = field(default_factory=list)
    none_ids: list[int] = field(default_factory=list)
    near: list[tuple[list[int], list[int], int]] = field(default_factory=list)
    text: dict[int, str] = field(default_factory=dict)  # phrase id -> phrase as written


def _code(i: int, width: int, base: int) -> str:
    """Token number ``i`` as ``width`` digits; digit k uses characters of range k only."""
    out = []
    for k in range(width):
        i, d = divmod(i, base)
        out.append(chr(_FIRST_CODE + k * base + d))
    return "".join(out)


class CompiledRules:
    """The matcher for one version of the rules. Immutable after construction; safe to share
    between concurrent flow runs."""

    max_fanout = 64  # children per automaton node; see the module docstring

    def __init__(self, ruleset: RuleSet) -> None:
        self.version = ruleset.version
        self.rules: list[_CompiledRule] = []
        self._vocab: dict[str, str] = {}
        self._token_ids: dict[str, int] = {}
        self._phrase_ids: dict[tuple[str, ...], int] = {}
        self._phrase_len: list[int] = []
        self._usages: list[list[tuple[int, int, int]]] = []
        self._absence_only: list[int] = []
        self._automaton = ahocorasick.Automaton()

        for rule in ruleset.rules:
            if not rule.enabled:
                continue
            ri = len(self.rules)
            cr = _CompiledRule(rule)
            cr.any_ids = self._ids(cr, ri, ANY, 0, rule.any_)
            cr.all_ids = self._ids(cr, ri, ALL, 0, rule.all_)
            cr.none_ids = self._ids(cr, ri, NONE, 0, rule.none)
            for k, clause in enumerate(rule.near):
                a = self._ids(cr, ri, NEAR_A, k, clause.phrases)
                b = self._ids(cr, ri, NEAR_B, k, clause.near)
                cr.near.append((a, b, clause.within_words))
            self.rules.append(cr)
            if not rule.positive:
                self._absence_only.append(ri)
        n = max(1, len(self._token_ids))
        self._width = 1
        while self.max_fanout**self._width < n:
            self._width += 1
        base = 2
        while base**self._width < n:
            base += 1
        self._vocab = {t: _code(i, self._width, base) for t, i in self._token_ids.items()}
        self._unknown = _SEP * self._width
        for tokens, pid in self._phrase_ids.items():
            self._automaton.add_word("".join(self._vocab[t] for t in tokens), pid)
        if self._phrase_ids:
            self._automaton.make_automaton()
        # rules a phrase can make fire (an occurrence of a `none` phrase never can)
        self._positive_users: list[tuple[int, ...]] = [
            tuple(sorted({ri for ri, kind, _k in uses if kind != NONE})) for uses in self._usages
        ]

    def _ids(self, cr: _CompiledRule, ri: int, kind: int, k: int, phrases: list[str]) -> list[int]:
        out: list[int] = []
        for text in phrases:
            tokens = tuple(normalize_text(text))
            pid = self._phrase_ids.get(tokens)
            if pid is None:
                pid = self._phrase_ids[tokens] = len(self._phrase_len)
                self._phrase_len.append(len(tokens))
                self._usages.append([])
                for t in tokens:
                    if t not in self._token_ids:
                        self._token_ids[t] = len(self._token_ids)
            cr.text.setdefault(pid, text)
            if pid not in out:  # "refund" and "refunds" are one requirement, not two
                out.append(pid)
                self._usages[pid].append((ri, kind, k))
        return out

    @property
    def phrase_count(self) -> int:
        return len(self._phrase_len)

    # ---------------------------------------------------------------- matching

    def find(self, prepared: PreparedTranscript) -> dict[int, list[Hit]]:
        """Every occurrence of every phrase, by phrase id."""
        hits: dict[int, list[Hit]] = defaultdict(list)
        if not self._phrase_ids:
            return hits
        vocab_get = self._vocab.get
        unknown = self._unknown
        width = self._width
        plen = self._phrase_len
        for si, stream in enumerate(prepared.streams):
            encoded = "".join([vocab_get(t, unknown) for t in stream.tokens])
            for end, pid in self._automaton.iter(encoded):
                last = end // width
                hits[pid].append((si, last - plen[pid] + 1, last))
        return hits

    def evaluate(self, transcript: Transcript, duration: float | None = None) -> list[Match]:
        return self.evaluate_prepared(prepare(transcript, duration))

    def evaluate_prepared(self, prepared: PreparedTranscript) -> list[Match]:
        hits = self.find(prepared)
        candidates: set[int] = set(self._absence_only)
        users = self._positive_users
        for pid in hits:
            candidates.update(users[pid])
        # which streams each speaker scope admits, once per transcript rather than per rule
        admitted = {
            scope: [scope.admits(st.speaker) for st in prepared.streams] for scope in SpeakerScope
        }
        matches: list[Match] = []
        for ri in sorted(candidates):
            cr = self.rules[ri]
            matches.extend(_evaluate_rule(cr, hits, prepared, admitted[cr.rule.speaker]))
        matches.sort(key=lambda m: (m.start, m.rule, m.phrase))
        return matches


def _evaluate_rule(
    cr: _CompiledRule,
    hits: dict[int, list[Hit]],
    prepared: PreparedTranscript,
    admitted: list[bool],
) -> list[Match]:
    rule = cr.rule
    streams = prepared.streams
    windowed = rule.window is not None
    lo, hi = rule.window.bounds(prepared.duration) if rule.window else (0.0, float("inf"))

    floor = rule.min_confidence

    def in_scope(pid: int) -> list[Hit]:
        got = hits.get(pid)
        if not got:
            return []
        if floor > 0:
            got = [h for h in got if streams[h[0]].confidence(h[1], h[2]) >= floor]
        if not windowed:
            return [h for h in got if admitted[h[0]]]
        return [h for h in got if admitted[h[0]] and lo <= streams[h[0]].starts[h[1]] < hi]

    found: dict[tuple[int, Hit], None] = {}  # ordered set: a phrase in any and all counts once
    if cr.any_ids:
        any_hits = [(pid, h) for pid in cr.any_ids for h in in_scope(pid)]
        if not any_hits:
            return []
        found.update(dict.fromkeys(any_hits))
    for pid in cr.all_ids:
        got = in_scope(pid)
        if not got:
            return []
        found.update(dict.fromkeys((pid, h) for h in got))
    for pid in cr.none_ids:
        if in_scope(pid):
            return []
    pairs: list[tuple[int, Hit, int, Hit]] = []
    for a_ids, b_ids, within in cr.near:
        clause_pairs = [
            (pa, ha, pb, hb)
            for pa in a_ids
            for ha in in_scope(pa)
            for pb in b_ids
            for hb in in_scope(pb)
            if _near(ha, hb, within, streams)
        ]
        if not clause_pairs:
            return []
        pairs.extend(clause_pairs)

    out: list[Match] = []
    for pid, (si, first, last) in found:
        st = streams[si]
        out.append(
            _match(
                rule=rule.name,
                phrase=cr.text[pid],
                kind="phrase",
                speaker=st.speaker,
                start=st.starts[first],
                end=st.ends[last],
                snippet=st.snippet(first, last),
                confidence=round(st.confidence(first, last), 4),
            )
        )
    for pa, ha, pb, hb in pairs:
        st = streams[ha[0]]
        first, last = min(ha[1], hb[1]), max(ha[2], hb[2])
        out.append(
            _match(
                rule=rule.name,
                phrase=f"{cr.text[pa]} ~ {cr.text[pb]}",
                kind="near",
                speaker=st.speaker,
                start=st.starts[first],
                end=st.ends[last],
                snippet=st.snippet(first, last),
                confidence=round(min(st.confidence(*ha[1:]), st.confidence(*hb[1:])), 4),
            )
        )
    if cr.none_ids and not rule.positive:
        speaker = None if rule.speaker is SpeakerScope.either else Speaker(rule.speaker.value)
        end = min(hi, prepared.duration)
        for pid in cr.none_ids:
            out.append(
                Match(
                    rule=rule.name,
                    phrase=cr.text[pid],
                    kind="absent",
                    speaker=speaker,
                    start=min(lo, end),
                    end=end,
                    snippet="",
                )
            )
    out.sort(key=lambda m: (m.start, m.phrase))
    return out[:MAX_MATCHES_PER_RULE]


def _match(**values: Any) -> Match:
    # built from validated rules and transcript floats: validating again would only cost time
    # (a rule set of 10,000 rules finds dozens of matches per call)
    return Match.model_construct(None, **values)


def _near(a: Hit, b: Hit, within: int, streams: list[Stream]) -> bool:
    """Same stream, same speaker turn, at most ``within`` tokens between the two spans."""
    if a[0] != b[0]:
        return False
    turns = streams[a[0]].turns
    if turns[a[1]] != turns[b[1]]:
        return False
    gap = b[1] - a[2] - 1 if b[1] > a[2] else a[1] - b[2] - 1
    return gap <= within


def compile_rules(ruleset: RuleSet | list[Rule]) -> CompiledRules:
    if isinstance(ruleset, list):
        ruleset = RuleSet(rules=ruleset)
    return CompiledRules(ruleset)
