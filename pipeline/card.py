"""The dataset card: README.md in the output, telling a consumer what was done and how to load it."""
from __future__ import annotations

import json

from pipeline.privacy_eval.metrics import interval_text
from pipeline.report import machine_summary
from transforms.synth_voices import describe
from transforms.voice import speaks_transcript


def load_figures(path: str) -> dict | None:
    """Figures of an `evaluate privacy --json` or `evaluate wer --json` run, when the configuration names one."""
    if not path:
        return None
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path) as f:
        return json.loads(f.read())


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


PRIVACY_FIGURES = (("eer_ignorant", "EER ignorant", "percent"),
                   ("eer_ignorant_within_folder", "EER ignorant, impostors of the same trials folder", "percent"),
                   ("eer_lazy_informed", "EER lazy-informed", "percent"),
                   ("eer_semi_informed_lite", "EER semi-informed-lite", "percent"),
                   ("wer_vs_original_transcript", "WER vs the original's transcript", "percent"),
                   ("wer_vs_original_transcript_normalised", "the same WER, spelling normalised", "percent"),
                   ("wer_vs_spoken_transcript", "WER vs the words the conversion spoke (the transcript's)", "percent"),
                   ("wer_vs_spoken_transcript_normalised", "WER vs the words spoken, spelling normalised", "percent"),
                   ("pitch_correlation", "pitch correlation", "ratio"),
                   ("conversion_times_faster_than_real_time", "conversion speed, one core", "speed"))


def _figure(value, kind: str) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    return {"percent": f"{100 * value:.1f} %", "ratio": f"{value:.3f}", "speed": f"{value:.0f}x real time"}[kind]


def _privacy_section(privacy: dict | None) -> str:
    if not privacy:
        return "No privacy evaluation was attached to this run (`dataset.privacy_report`)."
    modes = privacy.get("modes", {})
    rows = [[label] + [_figure(modes[m].get(key), kind) + interval_text(modes[m], key) for m in modes]
            for key, label, kind in PRIVACY_FIGURES]
    original = _figure(privacy.get("original", {}).get("eer"), "percent")
    setup = [[k, v] for k, v in sorted(privacy.items()) if isinstance(v, (int, float, str))]
    if "machine" in privacy:    # a WER figure holds for the CPU it was measured on
        setup.append(["machine", machine_summary(privacy["machine"])])
    return (f"From `python -m pipeline evaluate privacy` (EER: 50 % is chance; {original} on the original "
            f"speech; in parentheses, where the evaluation gave one, the 95 % interval over resampled pairs of "
            f"secrets and trial clips):\n\n{_table(['figure'] + [f'mode {m}' for m in modes], rows)}\n\n"
            f"Measured on:\n\n{_table(['setting', 'value'], setup)}")


WORD_FIGURES = tuple(figure for figure in PRIVACY_FIGURES
                     if figure[0].startswith("wer_") or figure[0] == "conversion_times_faster_than_real_time")


def _words_section(words: dict | None) -> str:
    """The conversion's word error rate on a sample of speech (`evaluate wer`), when the run names one: what a
    consumer training on this audio and its text should expect, measured on speech like theirs."""
    if not words:
        return ("No word error rate on held-out speech was attached to this run (`dataset.wer_report`); the "
                "privacy evaluation's, where there is one, is on its trial sets.")
    modes = words.get("modes", {})
    rows = [[label] + [_figure(modes[m].get(key), kind) + interval_text(modes[m], key) for m in modes]
            for key, label, kind in WORD_FIGURES]
    setup = [[k, v] for k, v in sorted(words.items()) if isinstance(v, (int, float, str))]
    if "machine" in words:
        setup.append(["machine", machine_summary(words["machine"])])
    return (f"From `python -m pipeline evaluate wer` (Whisper's reading of the converted speech against its "
            f"reading of the original; in parentheses the 95 % interval over resampled secrets and clips):\n\n"
            f"{_table(['figure'] + [f'mode {m}' for m in modes], rows)}\n\n"
            f"Measured on:\n\n{_table(['setting', 'value'], setup)}")


def _noise_floor(voice: dict) -> str:
    level = voice["noise_floor_dbfs"]
    return f" over a white-noise floor at {level:g} dBFS" if level else " with pauses in digital silence"


def _voice_line(voice: dict) -> str:
    mode = (f"mode `{voice['mode']}` (`speaker`: one pseudo-voice per speaker; `utterance`: a new one per "
            f"utterance)")
    pitch = f"a keyed pseudo-speaker's pitch (median drawn from {voice['f0_min_hz']}-{voice['f0_max_hz']} Hz)"
    if speaks_transcript(voice):
        return (f"no recording keeps its speaker's voice: the transcript's words were spoken again by a synthetic "
                f"voice ({describe(voice['tts_voices'])}) in the recording's phrase timing, at {pitch}, "
                f"through the WORLD vocoder{_noise_floor(voice)}, {mode}. PII words were not spoken. The audio says "
                f"what the transcript says; it carries no speaker's timbre, intonation or recording conditions.")
    return (f"the speaker's own voice converted with the WORLD vocoder to {pitch}, spectral envelope warped, "
            f"{mode}.")


def _dropped_words_line(asr: dict) -> str:
    tail = ("" if asr["unsure_tail_s"] <= 0 else
            f"Words the ASR may have added over the silence after the speech were dropped: from the first word "
            f"of probability under {asr['unsure_tail_probability']} in a record's last {asr['unsure_tail_s']} s, "
            f"over audio at least {asr['unsure_tail_quiet_db']} dB below the record's speech level, to its end, "
            f"unless that tail held PII (then redacted).")
    loop = ("" if asr["loop_min_repeats"] == 0 else
            f"A unit of one to three words the ASR wrote {asr['loop_min_repeats']} times or more in a row (a "
            f"repetition loop) was kept once, unless the loop held PII (then redacted).")
    return " ".join(part for part in (tail, loop) if part) or "Every word the ASR wrote was kept."


def render_card(manifest: dict, report: dict, cfg: dict, privacy: dict | None = None,
                words: dict | None = None) -> str:
    dataset, voice, pii = cfg["dataset"], cfg["voice"], cfg["pii"]
    operators = {entity: pii["operators"].get(entity, pii["operator"]) for entity in pii["entities"]}
    split_rows = [[name, s["records"], s["speakers"], f"{s['hours']:.3f}"] for name, s in manifest["splits"].items()]
    pii_rows = [[entity, count] for entity, count in report["pii_entities"].items()] or [["(none found)", 0]]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(report.get("versions", {}).items()))
    models = report.get("models", {})
    split = "train" if "train" in manifest["splits"] else next(iter(manifest["splits"]), "train")
    loading = []
    if "webdataset" in manifest["formats"]:
        loading.append(f"""WebDataset (`pip install webdataset soundfile`):

```python
import glob, io, json, soundfile as sf, webdataset as wds
urls = sorted(glob.glob("shards/{split}/shard-*.tar"))
for sample in wds.WebDataset(urls, shardshuffle=False):
    meta = json.loads(sample["json"])
    audio, rate = sf.read(io.BytesIO(sample["flac"]))
```""")
    if "parquet" in manifest["formats"]:
        loading.append("""Hugging Face `datasets` (Parquet; the `audio` column decodes to 16 kHz arrays):

```python
from datasets import load_dataset
ds = load_dataset("parquet", data_dir="data")   # splits from the file names; "dev" loads as "validation"
print(ds["train"][0]["audio"]["array"].shape, ds["train"][0]["text"])
```""")
    return f"""# {dataset['name']}

{dataset['description']}

- **Licence**: {dataset['license']}
- **Provenance**: {dataset['provenance']}
- **Records**: {manifest['records']} ({manifest['seconds'] / 3600.0:.3f} hours), formats: {', '.join(manifest['formats'])}

## Splits

Assigned by a keyed hash of the pseudonymous speaker: no speaker is in two splits, and the assignment is
stable across runs and erasures.

{_table(["split", "records", "speakers", "hours"], split_rows)}

## What was done to the data

- **Consent**: recordings of opted-out accounts and speakers were dropped before their audio was read
  ({report['opted_out']} this run).
- **Voice**: {_voice_line(voice)}
- **Transcripts**: from ASR `{models.get('asr', '?')}` ({models.get('asr_compute_type', '?')}); PII found with
  presidio (spaCy `{models.get('spacy', '?')}`) and spoken-form recognizers, score threshold
  {pii['score_threshold']}; each PII span replaced by its operator: {json.dumps(operators, sort_keys=True)}.
  {_dropped_words_line(cfg['asr'])}
- **Audio**: the time span of every redacted word is replaced by {cfg['redaction']['audio']}, padded by
  {cfg['redaction']['pad_ms']} ms on both sides; records whose PII could not be placed in time were
  quarantined, not shipped.
- **Identity**: record keys, speakers and accounts are keyed pseudonyms (HMAC-SHA256 with a secret that is
  not shipped); metadata reduced to {json.dumps(cfg['identity']['metadata_allowlist'])}.
- **Software**: {versions}.

## PII removed, by type

{_table(["entity", "spans"], pii_rows)}

## Privacy evaluation

{_privacy_section(privacy)}

## Word error rate of the conversion

{_words_section(words)}

## How to load it

{chr(10).join(loading)}

Every file is listed in `manifest.json` with its records, audio seconds, bytes and sha256;
`python -m pipeline verify --output .` checks them all.
"""
