"""Beam pipeline options from a YAML file (`run --beam-options configs/dataflow.yaml`).

The file maps Beam option names (as Beam's own flags spell them, e.g.
`temp_location`) to values. It is kept apart from the pipeline configuration
(configs/default.yaml), whose keys are validated strictly, because these are
settings of the runner, not of the de-identification. Flags on the command
line come after the file's and so win over them.
"""
from __future__ import annotations

import contextlib
import io

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.config import ConfigError, read_yaml_mapping


def _flags_for(name: str, value, origin: str) -> list[str]:
    if isinstance(value, bool):
        return [f"--{name}"] if value else [f"--no_{name}"]
    if isinstance(value, list):
        return [f"--{name}={item}" for item in value]
    if isinstance(value, (str, int, float)):
        return [f"--{name}={value}"]
    raise ConfigError(f"{origin}: beam option '{name}' must be a string, number, boolean or list, got {value!r}")


def _reads_back(parsed, value) -> bool:
    if isinstance(value, bool):
        return parsed is value
    if isinstance(value, list):
        return parsed == [str(item) for item in value]
    return str(parsed) == str(value)


def flags_from_mapping(values: dict, origin: str) -> list[str]:
    """Command-line flags for the options in `values`; unknown names and values Beam reads differently stop here."""
    known = PipelineOptions([]).get_all_options(retain_unknown_options=False)
    flags: list[str] = []
    for name, value in values.items():
        if name not in known:
            raise ConfigError(f"{origin}: '{name}' is not a Beam pipeline option")
        option_flags = _flags_for(name, value, origin)
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # argparse prints its whole usage on a bad value
                parsed = PipelineOptions(option_flags).get_all_options(retain_unknown_options=False)[name]
        except SystemExit:
            raise ConfigError(f"{origin}: beam option '{name}' cannot be set to {value!r}") from None
        if not _reads_back(parsed, value):
            raise ConfigError(f"{origin}: beam option '{name}' cannot be set to {value!r}")
        flags.extend(option_flags)
    return flags


def load_file(path: str) -> list[str]:
    """Flags for the Beam options in the YAML file at `path` (local or gs://)."""
    return flags_from_mapping(read_yaml_mapping(path, "beam options file"), path)
