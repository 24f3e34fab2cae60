"""The action units of the synthetic corpus and the expressions that combine them.

The 12 AUs of the BP4D protocol plus AU25 (lips part) and AU26 (jaw drop), in FACS numbering.
Expression prototypes give realistic co-occurrence (6+12 smile, 1+2 surprise, 4+7 anger, ...);
their rates make the base rates imbalanced, as in real corpora (AU12 and AU25 common, AU23/24 rare).
"""

AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24, 25, 26)
AU_NAMES = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    6: "cheek raiser",
    7: "lid tightener",
    10: "upper lip raiser",
    12: "lip corner puller",
    14: "dimpler",
    15: "lip corner depressor",
    17: "chin raiser",
    23: "lip tightener",
    24: "lip pressor",
    25: "lips part",
    26: "jaw drop",
}
AU_INDEX = {au: i for i, au in enumerate(AUS)}
NUM_AUS = len(AUS)

# Intensity at or above which an AU counts as present (the DISFA/BP4D convention: A-level
# traces are ignored, B and above count).
OCCURRENCE_THRESHOLD = 2.0

# name -> (relative rate, {au: (probability the AU takes part, apex weight)}).
# Rates are per-event choice probabilities; components are drawn independently so that the
# co-occurrence is strong but not deterministic.
EXPRESSIONS = {
    "smile": (0.22, {6: (0.8, 0.9), 12: (1.0, 1.0), 25: (0.4, 0.6), 14: (0.1, 0.5)}),
    "laugh": (0.06, {6: (1.0, 1.0), 12: (1.0, 1.0), 25: (1.0, 1.0), 26: (0.8, 0.8), 7: (0.4, 0.6)}),
    "surprise": (0.07, {1: (1.0, 1.0), 2: (0.9, 1.0), 25: (0.6, 0.8), 26: (0.5, 0.8)}),
    "anger": (0.06, {4: (1.0, 1.0), 7: (0.9, 0.9), 23: (0.6, 0.8), 24: (0.4, 0.8), 17: (0.3, 0.6)}),
    "sadness": (0.06, {1: (0.8, 0.8), 4: (0.7, 0.7), 15: (1.0, 1.0), 17: (0.7, 0.8)}),
    "disgust": (0.05, {10: (1.0, 1.0), 4: (0.5, 0.6), 17: (0.4, 0.6), 25: (0.3, 0.5), 7: (0.3, 0.5)}),
    "contempt": (0.05, {14: (1.0, 1.0), 12: (0.3, 0.4)}),
    "concentration": (0.07, {4: (0.9, 0.8), 7: (0.8, 0.8), 17: (0.3, 0.5), 24: (0.2, 0.6)}),
    "pressed_lips": (0.05, {24: (1.0, 1.0), 17: (0.6, 0.7), 23: (0.5, 0.7)}),
    "talk": (0.12, {25: (1.0, 1.0), 26: (0.6, 0.7), 10: (0.2, 0.5)}),
    # single AUs, as coders see them outside prototypical expressions
    "brow_flash": (0.04, {1: (1.0, 0.9), 2: (1.0, 0.9)}),
    "squint": (0.05, {7: (1.0, 1.0), 6: (0.3, 0.5)}),
    "lip_tighten": (0.03, {23: (1.0, 1.0)}),
    "upper_lip": (0.03, {10: (1.0, 0.9)}),
    "chin": (0.04, {17: (1.0, 1.0)}),
}
