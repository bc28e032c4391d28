"""The Festival system's HTS voice (Debian's festival and festvox-us-slt-hts) reading a text: the model's
trajectories for it (transforms.hts_engine) and the time span of every whitespace-separated token, as
transforms.flite gives them for its voices.

Festival has no C library to call in process here, so one festival process per Python process reads
Scheme on its standard input and answers on its standard error (unbuffered, unlike its standard output):
a voice loads once (about 0.2 s), then a sentence takes milliseconds. Festival does the text analysis up to
the HTS engine and answers with the full-context labels its HTS method computes and each token's first and last
segment; its own call into the engine (HTS_Synthesize, which ran the vocoder) is replaced by one that does
nothing, and the engine's parameter generation runs in this process instead. Nothing of what Festival prints is
logged: its error messages can quote the text it was given.

The HTS voice is given American English flapping, which its lexicon lacks: a /t/ after a vowel or /r/ and before an
unstressed vowel of the same word is spoken as a flap ("matter", "sitting", "waiting"). As Festival had them,
Whisper heard "matcher", "searching", "waging" (docs/voice-conversion.md, "Flapping"). Words its lexicon lacks are
read as the current CMU Pronouncing Dictionary has them (transforms.lexicon), else as an inflection or a compound of
words it has, where they are one, before its letter-to-sound rules are asked.
"""
from __future__ import annotations

import atexit
import os
import select
import shutil
import subprocess
import threading
from dataclasses import dataclass

from transforms import hts_engine, lexicon

# Name in the voice bank -> Festival's function that selects the voice.
VOICES = {"slt_hts": "voice_cmu_us_slt_arctic_hts"}
REPLY_TIMEOUT_S = 120.0
_END = "DEID-END"

# The utterance as the HTS engine takes it: "LAB <label>" for each segment (Festival's HTS method leaves them in
# featstring_list), then each token's spoken words as "TOK first last first last ...", the indices of their first
# and last segments. A word is spoken when its syllables have segments (Festival keeps punctuation as words
# without any). HTS_Synthesize, the HTS method's call into the engine and its vocoder, does nothing here.
_READING = """
(define (HTS_Synthesize utt) utt)
(define (deid_reading utt)
  (let ((i 0))
    (mapcar (lambda (seg) (item.set_feat seg "deid_index" i) (set! i (+ i 1))) (utt.relation.items utt 'Segment)))
  (mapcar (lambda (label) (format stderr "LAB %s\\n" label)) featstring_list)
  (let ((tok (utt.relation.first utt 'Token)))
    (while tok
      (format stderr "TOK")
      (mapcar
       (lambda (w)
         (if (and (item.relation w 'Word)
                  (not (string-equal "0" (item.feat w "R:Word.R:SylStructure.daughter1.daughter1.name"))))
             (format stderr " %s %s"
                     (item.feat w "R:Word.R:SylStructure.daughter1.daughter1.R:Segment.deid_index")
                     (item.feat w "R:Word.R:SylStructure.daughtern.daughtern.R:Segment.deid_index"))))
       (item.daughters tok))
      (format stderr "\\n")
      (set! tok (item.next tok)))))
"""


# A post-lexical rule run after the voice's own: /t/ after a vowel or /r/, before an unstressed vowel that is
# not the first of its word, becomes the flap "dx" (a phone of the voice's phone set). /d/ is left alone: flapped
# too, Whisper heard "ladder" as "lander" and "steady" as "stendy" on held-out speech (docs/voice-conversion.md).
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
# (docs/voice-conversion.md, "Words the lexicon lacks"). Before them, after the current CMU dictionary
# (transforms.lexicon, passed per reading as deid_dictionary), an inflection of a word it has (-s, -es, -ies, -ed,
# -ied, -ing, -ly; a doubled or dropped final letter of the stem allowed) is read as that word with the ending's
# regular sound, and a lower-case word of 8 letters or more that splits into two it has (each of 4 letters
# or more, the second starting with a consonant and maybe inflected) as the two; the most even split wins.
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
(define deid_dictionary nil) ; the current CMU dictionary's entries for the words being read, set around each reading
(define (deid_lts word feats)
  (let ((w (downcase word)) (syls nil))
    (set! syls (or (car (cdr (assoc_string w deid_dictionary)))
                   (deid_inflected w) (and (> (string-length w) 7) (string-equal w word) (deid_compound w))))
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
        self.model_path = None      # the selected voice's .htsvoice file
        self.lock = threading.Lock()
        self.proc.stdin.write((_READING + _FLAP + _MORPHOLOGY).encode("utf-8"))
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
            self.model_path = self._ask('(format stderr "%s\\n" (car (cdr (assoc_string "-m" hts_engine_params))))')[0]
            self.selected = name

    def labels(self, tokens: list, voice: str) -> tuple:
        """The utterance's full-context labels, one per segment, and each token's spoken words as (first,
        last) segment indices; with the voice's model file."""
        with self.lock:
            self.select_voice(voice)
            try:
                lines = self._ask(f"(set! deid_dictionary {lexicon.scheme_entries(tokens)}) "
                                  f"(deid_reading (SynthText {_quoted(' '.join(tokens))})) "
                                  "(set! deid_dictionary nil)")
            except _Failed:
                raise RuntimeError("Festival failed on an utterance") from None
            model_path = self.model_path
        labels = [line[4:].strip() for line in lines if line.startswith("LAB ")]
        segments = []
        for line in lines:
            if line.startswith("TOK"):
                indices = [int(float(i)) for i in line.split()[1:]]
                segments.append((indices[0], indices[-1]) if indices else None)
        return labels, segments, model_path

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


_models = {}                    # .htsvoice path -> hts_engine.Model, loaded once per Python process
_models_lock = threading.Lock()


def _model(path: str) -> hts_engine.Model:
    with _models_lock:
        if path not in _models:
            _models[path] = hts_engine.Model(path)
        return _models[path]


@dataclass
class Reading:
    """The voice's reading of a text: the model's trajectories, and one span per token (None for a token with no
    spoken word), in seconds. A token's span runs from the end of the segment before its first one, so that it
    holds its leading closure, as Flite's spans do."""
    trajectory: hts_engine.Trajectory
    spans: list


def read(tokens: list, voice: str) -> Reading:
    """The HTS voice's reading of the tokens joined by spaces, with one span per token when Festival split the
    text the same way; callers check the length."""
    labels, segments, model_path = _festival().labels(tokens, voice)
    trajectory = _model(model_path).generate(labels)
    if len(trajectory.phone_ends_s) != len(labels):
        raise RuntimeError("the HTS engine timed a different number of segments than Festival gave")
    ends = trajectory.phone_ends_s
    return Reading(trajectory, [None if seg is None else (float(ends[seg[0] - 1]) if seg[0] > 0 else 0.0,
                                                          float(ends[seg[1]])) for seg in segments])


def helper_cpu_seconds() -> float:
    """CPU time this Python process's festivals have used so far, read from /proc (Linux): their work is not
    in this process's own CPU time, and a conversion's cost must count it."""
    if _process is None or _process.owner != os.getpid():
        return _retired_cpu_seconds
    return _retired_cpu_seconds + _process.cpu_seconds()


def check(voices) -> None:
    """Starts Festival, loads each voice and its model now: a missing install is one clear error at start-up."""
    lexicon.pronunciations()
    process = _festival()
    for voice in voices:
        with process.lock:
            process.select_voice(voice)
            model_path = process.model_path
        _model(model_path)
