"""De-identification pipeline for voice-assistant recordings, on Apache Beam."""

import warnings

# pyworld imports pkg_resources (setuptools<81 is pinned for it); its deprecation warning is noise.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
