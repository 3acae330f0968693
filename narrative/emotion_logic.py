"""Deterministic rules that move characters' emotions and relationships.

Every rule is a pure function of its inputs, so a playthrough replays identically and each rule is
testable with numbers worked out by hand. Emotions stay in [0, 1] per Ekman axis, relationships in
[-1, 1] per axis. A trait a character does not declare counts as `TRAIT_DEFAULT`.

(a) Effects. `shift_emotion` adds `amount` to one axis; `shift_relationship` adds `amount` to one
    axis of a directed relationship. Both clamp to their range. Designers' numbers apply as written.

(b) Decay, once per choice taken (time passing in the story), pulls each axis back toward the
    character's baseline::

        rate = clamp01(DECAY_BASE + DECAY_STUBBORNNESS_WEIGHT * (TRAIT_DEFAULT - stubbornness))
        e'   = baseline + (e - baseline) * (1 - rate)

    Stubborn characters hold a mood longer; with the defaults, stubbornness 0 -> rate 0.3,
    0.5 -> 0.2, 1 -> 0.1.

(c) Blending an observed emotion `o` (e.g. the classified emotion of a line someone said to the
    listener) into the listener's emotion `e`::

        w  = clamp(BLEND_BASE
                   + BLEND_EMPATHY_WEIGHT * (empathy - TRAIT_DEFAULT)
                   - BLEND_STUBBORNNESS_WEIGHT * (stubbornness - TRAIT_DEFAULT)
                   + BLEND_RELATIONSHIP_WEIGHT * (trust + affection) / 2,
                   BLEND_MIN, BLEND_MAX)
        e' = e + w * (o - e)

    where trust and affection are the listener's toward the speaker: people catch the moods of
    those they trust and like.

(d) Relationship response to an utterance: the listener's relationship toward the speaker moves
    with the observed emotion's hostility `h = clamp01(o.anger + o.disgust)` and warmth
    `w = o.joy`, scaled by the listener's temper `t`::

        trust     += -TRUST_LOSS_PER_HOSTILITY * h * (1 + t) + TRUST_GAIN_PER_WARMTH * w
        affection += -AFFECTION_LOSS_PER_HOSTILITY * h * (1 + t) + AFFECTION_GAIN_PER_WARMTH * w
        fear      += FEAR_GAIN_PER_HOSTILITY * h * (1 - t)

    Hot-tempered listeners take hostility worse; mild ones are frightened by it instead.

(e) Expression: a character who delivers a line in emotion `o` moves toward it, as people who
    voice anger grow angrier and those who voice comfort calm down::

        w  = clamp(EXPRESS_BASE + EXPRESS_STUBBORNNESS_WEIGHT * (stubbornness - TRAIT_DEFAULT),
                   BLEND_MIN, BLEND_MAX)
        e' = e + w * (o - e)

    Stubborn characters dwell on what they say; the weight stays below a listener's (c), since
    hearing a mood is stronger than hearing oneself.
"""

from __future__ import annotations

from collections.abc import Mapping

from narrative.emotions import EKMAN_AXES, EkmanLabel, EmotionVector
from narrative.vocabulary import RelationshipAxis

TRAIT_DEFAULT = 0.5

DECAY_BASE = 0.2
DECAY_STUBBORNNESS_WEIGHT = 0.2

BLEND_BASE = 0.3
BLEND_EMPATHY_WEIGHT = 0.4
BLEND_STUBBORNNESS_WEIGHT = 0.4
BLEND_RELATIONSHIP_WEIGHT = 0.2
BLEND_MIN = 0.0
BLEND_MAX = 0.9

EXPRESS_BASE = 0.2
EXPRESS_STUBBORNNESS_WEIGHT = 0.2

TRUST_LOSS_PER_HOSTILITY = 0.10
AFFECTION_LOSS_PER_HOSTILITY = 0.08
TRUST_GAIN_PER_WARMTH = 0.04
AFFECTION_GAIN_PER_WARMTH = 0.06
FEAR_GAIN_PER_HOSTILITY = 0.05


def clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def trait(traits: Mapping[str, float], name: str) -> float:
    return traits.get(name, TRAIT_DEFAULT)


def shift_emotion(emotion: EmotionVector, axis: EkmanLabel, amount: float) -> EmotionVector:
    """Rule (a) for emotions."""
    values = emotion.as_dict()
    values[axis] += amount
    return EmotionVector.of(values)


def shift_relationship(value: float, amount: float) -> float:
    """Rule (a) for one relationship axis."""
    return clamp(value + amount, -1.0, 1.0)


def decay_rate(traits: Mapping[str, float]) -> float:
    """Rule (b): the share of the distance to baseline that one choice removes."""
    stubbornness = trait(traits, "stubbornness")
    return clamp(DECAY_BASE + DECAY_STUBBORNNESS_WEIGHT * (TRAIT_DEFAULT - stubbornness), 0.0, 1.0)


def decay(emotion: EmotionVector, baseline: EmotionVector, rate: float) -> EmotionVector:
    """Rule (b): one step of drift toward `baseline`."""
    now, base = emotion.as_dict(), baseline.as_dict()
    return EmotionVector.of(
        {axis: base[axis] + (now[axis] - base[axis]) * (1.0 - rate) for axis in EKMAN_AXES}
    )


def blend_weight(traits: Mapping[str, float], trust: float, affection: float) -> float:
    """Rule (c): how much of an observed emotion the listener takes on."""
    weight = (
        BLEND_BASE
        + BLEND_EMPATHY_WEIGHT * (trait(traits, "empathy") - TRAIT_DEFAULT)
        - BLEND_STUBBORNNESS_WEIGHT * (trait(traits, "stubbornness") - TRAIT_DEFAULT)
        + BLEND_RELATIONSHIP_WEIGHT * (trust + affection) / 2.0
    )
    return clamp(weight, BLEND_MIN, BLEND_MAX)


def expression_weight(traits: Mapping[str, float]) -> float:
    """Rule (e): how much a speaker takes on the emotion of their own line."""
    weight = EXPRESS_BASE + EXPRESS_STUBBORNNESS_WEIGHT * (trait(traits, "stubbornness") - TRAIT_DEFAULT)
    return clamp(weight, BLEND_MIN, BLEND_MAX)


def blend(emotion: EmotionVector, observed: EmotionVector, weight: float) -> EmotionVector:
    """Rule (c): move `emotion` a `weight` share of the way toward `observed`."""
    now, seen = emotion.as_dict(), observed.as_dict()
    return EmotionVector.of({axis: now[axis] + weight * (seen[axis] - now[axis]) for axis in EKMAN_AXES})


def relationship_response(
    observed: EmotionVector, traits: Mapping[str, float]
) -> dict[RelationshipAxis, float]:
    """Rule (d): change of the listener's relationship toward the speaker (unclamped deltas)."""
    hostility = clamp(observed.anger + observed.disgust, 0.0, 1.0)
    warmth = observed.joy
    temper = trait(traits, "temper")
    return {
        "trust": -TRUST_LOSS_PER_HOSTILITY * hostility * (1 + temper) + TRUST_GAIN_PER_WARMTH * warmth,
        "affection": -AFFECTION_LOSS_PER_HOSTILITY * hostility * (1 + temper)
        + AFFECTION_GAIN_PER_WARMTH * warmth,
        "fear": FEAR_GAIN_PER_HOSTILITY * hostility * (1 - temper),
    }
