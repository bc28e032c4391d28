#!/usr/bin/env bash
# Debian packages the pipeline and its tests use: Flite and Festival with its HTS voice and the HTS engine's
# library (they speak the resynthesis; Flite's program and espeak-ng also make sample and test speech), sox,
# libsndfile.
set -euo pipefail
needed=()
command -v espeak-ng >/dev/null || needed+=(espeak-ng)
command -v flite >/dev/null || needed+=(flite)
command -v festival >/dev/null || needed+=(festival)
[ -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts ] || needed+=(festvox-us-slt-hts)
ldconfig -p 2>/dev/null | grep -q libHTSEngine.so.1 || needed+=(libhtsengine1)
command -v sox >/dev/null || needed+=(sox)
ldconfig -p 2>/dev/null | grep -q libsndfile || needed+=(libsndfile1)
if [ ${#needed[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "installing Debian packages: ${needed[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${needed[@]}" >/dev/null
