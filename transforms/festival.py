"""Speech synthesis with the Festival system's HTS voice (Debian's festival and festvox-us-slt-hts), with the
time span of every whitespace-separated token of the input, as transforms.flite gives them.

Festival has no C library to call in process here, so one festival process per Python process reads
Scheme on its standard input and answers on its standard error (unbuffered, unlike its standard output):
a voice loads once (about 0.2 s), then a sentence takes tens of milliseconds. Its wave goes through a temporary
file that has no name on disk (Festival opens it as /proc/<pid>/fd/<n>): a process that leaves without running its
exit handlers (`python -m pipeline` ends with os._exit, a forked worker likewise) or is killed mid-utterance leaves
nothing behind. Nothing of what Festival prints is logged: its error messages can quote the text it was given.

The HTS voice is given American English flapping, which its lexicon lacks: a /t/ after a vowel or /r/ and
before an unstressed vowel of the same word is spoken as a flap ("matter", "sitting", "waiting"). As Festival
had them, Whisper heard "matcher", "searching", "waging" (README, "Flapping"). Words its lexicon lacks are read
as an inflection or a compound of words it has, where they are one, before its letter-to-sound rules are asked.
"""
from __future__ import annotations

import atexit
import os
import select
import shutil
import subprocess
import tempfile
import threading

import numpy as np
import soundfile as sf

from transforms.flite import Spoken

# Name in the voice bank -> Festival's function that selects the voice.
VOICES = {"slt_hts": "voice_cmu_us_slt_arctic_hts"}
REPLY_TIMEOUT_S = 120.0
_END = "DEID-END"

# Each token's spoken words, as "TOK start end start end ...": a word is spoken when its syllables have
# segments (Festival keeps punctuation as words without any). A word starts where the segment before its first
# one ends, so that a token's span holds its leading closure, as Flite's spans do.
_SPANS = """
(define (deid_spans utt)
  (let ((tok (utt.relation.first utt 'Token)))
    (while tok
      (format stderr "TOK")
      (mapcar
       (lambda (w)
         (if (and (item.relation w 'Word)
                  (not (string-equal "0" (item.feat w "R:Word.R:SylStructure.daughter1.daughter1.name"))))
             (format stderr " %s %s"
                     (item.feat w "R:Word.R:SylStructure.daughter1.daughter1.R:Segment.p.end")
                     (item.feat w "R:Word.word_end"))))
       (item.daughters tok))
      (format stderr "\\n")
      (set! tok (item.next tok)))))
"""


# A post-lexical rule run after the voice's own: /t/ after a vowel or /r/, before an unstressed vowel that is
# not the first of its word, becomes the flap "dx" (a phone of the voice's phone set). /d/ is left alone: flapped
# too, Whisper heard "ladder" as "lander" and "steady" as "stendy" on held-out speech (README).
_FLAP = """
(define (deid_flap utt)
  (mapcar
   (lambda (seg)
     (if (and (string-equal "t" (item.name seg))
              (or (string-equal "+" (item.feat seg "p.ph_vc")) (string-equal "r" (item.feat seg "p.name")))
              (string-equal "+" (item.feat seg "n.ph_vc"))
              (string-equal "0" (item.feat seg "n.R:SylStructure.parent.stress"))
              (not (string-equal "0" (item.feat seg "n.R:SylStructure.parent.pos_in_word"))))
         (item.set_name seg "dx")))
   (utt.relation.items utt 'Segment))
  utt)
"""


# Words the lexicon lacks: Festival's letter-to-sound rules read "globes" as "globs" and "backstay" as "backst"
# (README, "Words the lexicon lacks"). Before them, an inflection of a word it has (-s, -es, -ies, -ed, -ied,
# -ing, -ly; a doubled or dropped final letter of the stem allowed) is read as that word with the ending's
# regular sound, and a lower-case word of 8 letters or more that splits into two it has (each of 4 letters or
# more, the second starting with a consonant and maybe inflected) as the two; the most even split wins.
# Capitalised words are names more often than compounds, and stay with the rules.
_MORPHOLOGY = """
(define (deid_head s n) (substring s 0 (- (string-length s) n)))
(define (deid_ends s suffix)
  (and (> (string-length s) (+ 2 (string-length suffix)))
       (string-equal suffix (substring s (- (string-length s) (string-length suffix)) (string-length suffix)))))
(define (deid_known w) (let ((e (lex.lookup_all w))) (if e (car (cdr (cdr (car e)))) nil)))
(define (deid_first_known words)
  (cond ((null words) nil)
        ((and (> (string-length (car words)) 1) (deid_known (car words))) (deid_known (car words)))
        (t (deid_first_known (cdr words)))))
(define (deid_doubled s)
  (let ((n (string-length s)))
    (and (> n 2) (string-equal (substring s (- n 1) 1) (substring s (- n 2) 1)))))
(define (deid_but_last l) (if (cdr l) (cons (car l) (deid_but_last (cdr l))) nil))
(define (deid_last_phone syls) (car (last (car (car (last syls))))))
(define (deid_add_phone syls ph)
  (let ((s (car (last syls))))
    (append (deid_but_last syls) (list (list (append (car s) (list ph)) (car (cdr s)))))))
(define (deid_add_syllable syls phones) (append syls (list (list phones 0))))
(define (deid_plural syls)
  (let ((ph (deid_last_phone syls)))
    (cond ((member_string ph '("s" "z" "sh" "zh" "ch" "jh")) (deid_add_syllable syls '(ih z)))
          ((member_string ph '("p" "t" "k" "f" "th")) (deid_add_phone syls 's))
          (t (deid_add_phone syls 'z)))))
(define (deid_past syls)
  (let ((ph (deid_last_phone syls)))
    (cond ((member_string ph '("t" "d")) (deid_add_syllable syls '(ih d)))
          ((member_string ph '("p" "k" "f" "th" "s" "sh" "ch")) (deid_add_phone syls 't))
          (t (deid_add_phone syls 'd)))))
(define (deid_inflected w)
  (let ((stem nil))
    (cond
     ((and (deid_ends w "ies") (set! stem (deid_known (string-append (deid_head w 3) "y")))) (deid_plural stem))
     ((and (deid_ends w "es") (set! stem (deid_first_known (list (deid_head w 1) (deid_head w 2)))))
      (deid_plural stem))
     ((and (deid_ends w "s") (not (deid_ends w "ss")) (set! stem (deid_known (deid_head w 1)))) (deid_plural stem))
     ((and (deid_ends w "ied") (set! stem (deid_known (string-append (deid_head w 3) "y")))) (deid_past stem))
     ((and (deid_ends w "ed")
           (set! stem (deid_first_known (list (deid_head w 1) (deid_head w 2)
                                              (if (deid_doubled (deid_head w 2)) (deid_head w 3) "")))))
      (deid_past stem))
     ((and (deid_ends w "ing")
           (set! stem (deid_first_known (list (deid_head w 3) (string-append (deid_head w 3) "e")
                                              (if (deid_doubled (deid_head w 3)) (deid_head w 4) "")))))
      (deid_add_syllable stem '(ih ng)))
     ((and (deid_ends w "ly") (set! stem (deid_known (deid_head w 2)))) (deid_add_syllable stem '(l iy)))
     (t nil))))
(define (deid_compound w)
  (let ((n (string-length w)) (i 4) (best nil) (best_score 0) (head nil) (tail nil) (score 0))
    (while (<= i (- n 4))
      (set! head (and (not (string-matches (substring w i 1) "[aeiouy]")) (deid_known (substring w 0 i))))
      (set! tail (and head (or (deid_known (substring w i (- n i))) (deid_inflected (substring w i (- n i))))))
      (set! score (+ (* 100 (if (< i (- n i)) i (- n i))) i))
      (if (and tail (> score best_score)) (begin (set! best (append head tail)) (set! best_score score)))
      (set! i (+ i 1)))
    best))
(define (deid_lts word feats)
  (let ((w (downcase word)) (syls nil))
    (set! syls (or (deid_inflected w) (and (> (string-length w) 7) (string-equal w word) (deid_compound w))))
    (if syls (list word nil syls) (cmu_lts_function word feats))))
"""


# The HTS engine times every phone itself; Festival's own duration table only needs the flap to stay quiet.
# The letter-to-sound method belongs to the lexicon the voice selects (CMU's), so it is set after selecting.
_VOICE_SETUP = ("(set! postlex_rules_hooks (append postlex_rules_hooks (list deid_flap))) "
                "(set! duration_ph_info (cons '(dx 0.03 0.01) duration_ph_info)) "
                "(lex.set.lts.method 'deid_lts)")


class FestivalUnavailable(RuntimeError):
    pass


class _Failed(Exception):
    """Festival raised an error inside one expression (and went on)."""


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Process:
    """One festival process and the voice it has selected; calls are serialised."""

    def __init__(self):
        if shutil.which("festival") is None:
            raise FestivalUnavailable("Festival is not installed (apt-get install festival festvox-us-slt-hts)")
        self.proc = subprocess.Popen(["festival", "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.owner = os.getpid()
        self.pending = b""
        self.selected = None
        self.lock = threading.Lock()
        self.proc.stdin.write((_SPANS + _FLAP + _MORPHOLOGY).encode("utf-8"))
        self._ask("t")

    def _line(self) -> str:
        # Raw reads on the descriptor: a buffered reader could hold the next lines where select cannot see them.
        fd = self.proc.stderr.fileno()
        while b"\n" not in self.pending:
            ready, _, _ = select.select([fd], [], [], REPLY_TIMEOUT_S)
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                self.close()
                raise FestivalUnavailable("festival stopped answering")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode("utf-8", "replace")

    def _ask(self, scheme: str) -> list:
        """Runs one expression; the lines Festival wrote for it, or _Failed when it raised an error."""
        if self.proc.poll() is not None:
            raise FestivalUnavailable("the festival process has ended")
        self.proc.stdin.write(("(begin (set! deid_ok nil) (unwind-protect (begin " + scheme + " (set! deid_ok t))) "
                               f'(format stderr "\\n{_END} %s\\n" (if deid_ok "ok" "failed")))\n').encode("utf-8"))
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self._line()
            if line.startswith(_END):
                if line.split()[1:] != ["ok"]:
                    raise _Failed()
                return lines
            lines.append(line)

    def select_voice(self, name: str) -> None:
        if name not in VOICES:
            raise FestivalUnavailable(f"unknown Festival voice {name!r} (one of {', '.join(VOICES)})")
        if self.selected != name:
            try:
                self._ask(f"({VOICES[name]}) {_VOICE_SETUP}")
            except _Failed:
                raise FestivalUnavailable(f"Festival voice {name} is not installed "
                                          "(apt-get install festvox-us-slt-hts)") from None
            self.selected = name

    def speak(self, tokens: list, voice: str) -> Spoken:
        with self.lock:
            self.select_voice(voice)
            with tempfile.TemporaryFile(prefix="deid-festival-") as wave_file:
                # Festival writes into this process's nameless file through /proc: no name is ever on disk
                # for the wave, so a worker killed mid-utterance leaves none behind.
                wave = f"/proc/{os.getpid()}/fd/{wave_file.fileno()}"
                try:
                    lines = self._ask(f"(set! deid_utt (SynthText {_quoted(' '.join(tokens))})) "
                                      f"(utt.save.wave deid_utt {_quoted(wave)} 'riff) (deid_spans deid_utt)")
                except _Failed:
                    raise RuntimeError("Festival failed on an utterance") from None
                wave_file.seek(0)
                audio, rate = sf.read(wave_file, dtype="float32", always_2d=True)
        spans = []
        for line in lines:
            if line.startswith("TOK"):
                times = [float(t) for t in line.split()[1:]]
                spans.append((times[0], times[-1]) if times else None)
        return Spoken(np.ascontiguousarray(audio.mean(axis=1)), int(rate), spans)

    def cpu_seconds(self) -> float:
        try:
            with open(f"/proc/{self.proc.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        global _retired_cpu_seconds
        if self.owner != os.getpid():
            return
        if self.proc.poll() is None:
            _retired_cpu_seconds += self.cpu_seconds()
            self.proc.kill()
            self.proc.wait()


_process = None
_process_lock = threading.Lock()
_retired_cpu_seconds = 0.0      # of this process's festivals that were closed


def _festival() -> _Process:
    """This process's festival; a forked child starts its own rather than share its parent's pipes."""
    global _process
    with _process_lock:
        if _process is None or _process.owner != os.getpid() or _process.proc.poll() is not None:
            _process = _Process()
            atexit.register(_process.close)
        return _process


def speak(tokens: list, voice: str) -> Spoken:
    """Festival's reading of the tokens joined by spaces, with one span per token (None for a token with no
    spoken word) when Festival split the text the same way; callers check the length."""
    return _festival().speak(tokens, voice)


def helper_cpu_seconds() -> float:
    """CPU time this Python process's festivals have used so far, read from /proc (Linux): their work is not
    in this process's own CPU time, and a conversion's cost must count it."""
    if _process is None or _process.owner != os.getpid():
        return _retired_cpu_seconds
    return _retired_cpu_seconds + _process.cpu_seconds()


def check(voices) -> None:
    """Starts Festival and loads each voice now: a missing install is one clear error at start-up."""
    process = _festival()
    with process.lock:
        for voice in voices:
            process.select_voice(voice)
