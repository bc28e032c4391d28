"""`evaluate pii`: how much PII a run leaves readable on a labeled spoken-PII set, and what it costs.

ASR on the audio as a run does it, in packs of utterances sharing Whisper windows (timed); then for each
utterance PII detection and text redaction (timed), voice conversion and audio redaction as a run does
them, and a second ASR pass on the shipped audio alone (as a listener would get it).
Reported per entity type: recall and precision of detection, the share of values still readable
in the shipped transcript and in the re-transcribed shipped audio; overall: the share of non-PII
words kept, and PII time as a share of ASR time. Only aggregate figures are printed.
"""
from __future__ import annotations

import json
import os
import re
import time
from collections import Counter, defaultdict

import soundfile as sf

from pipeline import config
from pipeline.pii_set import readable, value_tokens
from pipeline.report import machine_description, machine_line
from transforms.asr import (WHISPER_RATE, load_whisper, pack_boundaries, pack_index, plain_whisper, transcribe,
                            transcribe_pack, without_invented_words)
from transforms.identity import Keyring
from transforms.pii import PiiDetector, TextOperator, mark_words, redact_words
from transforms.records import Rejected
from transforms.redact_audio import apply_windows, redaction_windows
from transforms.spoken import normalize_text
from transforms.voice import anonymize

HELP = "measure spoken-PII redaction on a labeled set (recall, precision, readable leaks, words kept, cost)"
EVALUATION_SECRET = b"evaluate-pii-fixed-secret"   # the set is synthetic: a fixed key keeps runs comparable


def add_arguments(parser) -> None:
    parser.add_argument("--set", required=True, help="folder written by `evaluate make-pii-set`")
    parser.add_argument("--json", help="write the figures to this file as JSON")
    parser.add_argument("--config", help="configuration file (defaults: configs/default.yaml)")
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N utterances")
    parser.add_argument("--language", default="en", help="ASR language ('' = detect)")


def _runs(words) -> list[tuple[str, str]]:
    """(entity, original text) of each run of words marked with one entity."""
    runs, i = [], 0
    while i < len(words):
        if words[i].pii is None:
            i += 1
            continue
        j = i
        while j + 1 < len(words) and words[j + 1].pii == words[i].pii:
            j += 1
        runs.append((words[i].pii, " ".join(w.text for w in words[i:j + 1])))
        i = j + 1
    return runs


def _is_true_positive(run_text: str, values: list[dict]) -> bool:
    tokens = set(re.findall(r"[a-z0-9]+", normalize_text(run_text).lower()))
    for v in values:
        own = value_tokens(v["entity"], v["canonical"])
        digits = re.sub(r"\D", "", v["canonical"])
        if tokens & own or any(t.isdigit() and len(t) >= 2 and t in digits for t in tokens) \
                or readable(v["entity"], v["canonical"], run_text, v["spoken"]):
            return True
    return False


def _word_counts(text: str) -> Counter:
    return Counter(re.findall(r"[a-z']+", text.lower()))


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def transcribe_in_packs(model, audios: dict, asr_cfg: dict, language: str) -> dict:
    """Words per key, with the packs and windows a run would make of these keys."""
    boundaries = pack_boundaries(list(audios), asr_cfg["pack_records"])
    packs = defaultdict(list)
    for key in sorted(audios):
        packs[pack_index(key, boundaries)].append(key)
    words = {}
    for members in packs.values():
        transcripts = transcribe_pack(model, [audios[key] for key in members], [language] * len(members), asr_cfg)
        words.update((key, t.words) for key, t in zip(members, transcripts))
    return words


def shipped_audio(audio, rate: int, voice_seed: bytes, shipped_words: list, cfg: dict):
    """The audio a run ships for these words: the configured conversion (the resynthesis speaks the shipped
    words, PII words not at all), then the redaction windows over the PII words' spans."""
    converted = anonymize(audio, rate, voice_seed, cfg["voice"], shipped_words)
    windows = redaction_windows(shipped_words, cfg["redaction"]["pad_ms"] / 1000.0, len(audio) / rate)
    return apply_windows(converted, rate, windows, cfg["redaction"]["audio"], cfg["redaction"]["tone_hz"])


def evaluate(labels: list[dict], folder: str, cfg: dict, language: str) -> dict:
    model = load_whisper(cfg["asr"], cpu_threads=max(1, os.cpu_count() or 1))
    detector = PiiDetector(cfg["pii"])
    keyring = Keyring(EVALUATION_SECRET)
    operator = TextOperator(cfg["pii"], keyring)
    listener = plain_whisper(cfg["asr"])   # the shipped audio is heard by plain Whisper, whatever the run used
    per = defaultdict(Counter)          # entity -> counts
    predicted = defaultdict(Counter)    # predicted entity -> tp / all
    kept = Counter()
    pii_s = 0.0
    quarantined = 0
    keys = [keyring.record_key(label["id"]) for label in labels]
    audios, rates = {}, set()
    for key, label in zip(keys, labels):
        audios[key], rate = sf.read(os.path.join(folder, label["audio"]), dtype="float32")
        rates.add(rate)
    if rates != {WHISPER_RATE}:
        raise ValueError(f"the set must be {WHISPER_RATE} Hz audio, the rate a run resamples to for Whisper")
    started = time.perf_counter()
    heard_first = transcribe_in_packs(model, audios, cfg["asr"], language)
    asr_s = time.perf_counter() - started
    for key, label in zip(keys, labels):
        audio, words = audios[key], heard_first[key]
        started = time.perf_counter()
        marked = mark_words(words, detector.find_in_words([w.text for w in words]))
        sure = without_invented_words(marked, audio, rate, cfg["asr"])
        shipped_words = redact_words(sure, operator)
        shipped_text = " ".join(w.text for w in shipped_words)
        pii_s += time.perf_counter() - started
        asr_text = " ".join(w.text for w in words)

        try:
            shipped = shipped_audio(audio, rate, keyring.voice_seed(label["voice"]), shipped_words, cfg)
            heard = " ".join(w.text for w in transcribe(model, shipped, listener, language).words)
        except Rejected:
            quarantined += 1
            heard = None    # quarantined: nothing ships, nothing can be heard

        for v in label["values"]:
            c = per[v["entity"]]
            c["values"] += 1
            in_asr = readable(v["entity"], v["canonical"], asr_text, v["spoken"])
            in_text = readable(v["entity"], v["canonical"], shipped_text, v["spoken"])
            c["in_asr"] += in_asr
            c["found"] += in_asr and not in_text
            c["readable_text"] += in_text
            c["readable_audio"] += heard is not None and readable(v["entity"], v["canonical"], heard, v["spoken"])
        for entity, text in _runs(marked):
            predicted[entity]["spans"] += 1
            predicted[entity]["true"] += _is_true_positive(text, label["values"])
        reference, transcribed = _word_counts(" ".join(label["other_words"])), _word_counts(asr_text)
        survived = _word_counts(" ".join(w.text for w in shipped_words if w.pii is None))
        for word, n in reference.items():
            kept["heard"] += min(n, transcribed[word])
            kept["kept"] += min(n, transcribed[word], survived[word])

    entities = {}
    for entity in sorted(set(per) | set(predicted)):
        c, p = per[entity], predicted[entity]
        entities[entity] = {
            "values": c["values"], "recall": _share(c["found"], c["in_asr"]),
            "precision": _share(p["true"], p["spans"]), "spans": p["spans"],
            "readable_in_shipped_text": _share(c["readable_text"], c["values"]),
            "readable_in_shipped_audio": _share(c["readable_audio"], c["values"]),
            "missed_by_asr": c["values"] - c["in_asr"],
        }
    totals = Counter()
    for c in per.values():
        totals.update(c)
    return {
        "utterances": len(labels), "values": totals["values"],
        "recall": _share(totals["found"], totals["in_asr"]),
        "readable_in_shipped_text": _share(totals["readable_text"], totals["values"]),
        "readable_in_shipped_audio": _share(totals["readable_audio"], totals["values"]),
        "non_pii_words_kept": _share(kept["kept"], kept["heard"]),
        "quarantined": quarantined,
        "asr_seconds": round(asr_s, 2), "pii_seconds": round(pii_s, 2),
        "pii_time_over_asr_time": _share(pii_s, asr_s),
        "entities": entities,
    }


def _fmt(x) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def main(args, extra) -> int:
    path = os.path.join(args.set, "labels.jsonl")
    if not os.path.exists(path):
        print(f"error: {path} not found (write a set with `evaluate make-pii-set --out {args.set}`)")
        return 2
    with open(path, encoding="utf-8") as f:
        labels = [json.loads(line) for line in f if line.strip()]
    if args.limit:
        labels = labels[:args.limit]
    try:
        cfg = config.load(args.config)
    except config.ConfigError as e:
        print(f"error: {e}")
        return 2
    figures = evaluate(labels, args.set, cfg, args.language)
    figures["machine"] = machine_description()
    print(machine_line(figures["machine"]))
    print(f"{'entity':16} {'values':>6} {'recall':>7} {'precis.':>7} {'text':>7} {'audio':>7} {'asr-miss':>8}")
    for entity, e in figures["entities"].items():
        print(f"{entity:16} {e['values']:6d} {_fmt(e['recall']):>7} {_fmt(e['precision']):>7} "
              f"{_fmt(e['readable_in_shipped_text']):>7} {_fmt(e['readable_in_shipped_audio']):>7} "
              f"{e['missed_by_asr']:8d}")
    print(f"utterances {figures['utterances']}, PII values {figures['values']}, recall {_fmt(figures['recall'])}")
    print(f"readable in shipped text {_fmt(figures['readable_in_shipped_text'])}, "
          f"in re-transcribed shipped audio {_fmt(figures['readable_in_shipped_audio'])}")
    print(f"non-PII words kept {_fmt(figures['non_pii_words_kept'])}, quarantined {figures['quarantined']}")
    print(f"ASR {figures['asr_seconds']} s, PII {figures['pii_seconds']} s: "
          f"PII adds {_fmt(figures['pii_time_over_asr_time'])} to ASR time")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)
    return 0
