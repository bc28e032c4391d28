"""Runs the graph: Beam options, the output-folder guard, the summary line."""
from __future__ import annotations

import json
import logging
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import (DirectOptions, GoogleCloudOptions, PipelineOptions,
                                                  PortableOptions, StandardOptions, TestOptions,
                                                  WorkerOptions)

from pipeline import config as config_module
from pipeline.graph import RunSpec, build, is_manifest
from pipeline.models import PACKAGED_WHISPER
from pipeline.report import AccountingError, dump_json, package_versions, write_output_file
from pipeline.secrets import SecretError, is_remote_runner
from transforms.asr import remove_shared_model_folder
from transforms.identity import InlineSecret
from transforms.stage import LOOP_WORDS, METRICS_NAMESPACE, UNSURE_TAIL_WORDS, WORK_CLOCK
from transforms.voice import speaks_transcript

log = logging.getLogger("deid")
RUN_OUTPUTS = ["manifest.json", "run_report.json", "quarantine.jsonl", "README.md", "erasure_log.jsonl", "shards",
               "data"]


class PipelineFailed(RuntimeError):
    pass


def beam_options(beam_args: list[str]) -> tuple[PipelineOptions, int]:
    """Beam options with a local default that never tries to download the Prism runner."""
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    direct = options.view_as(DirectOptions)
    if not standard.runner:
        standard.runner = "FnApiRunner"
    local = standard.runner in ("FnApiRunner", "DirectRunner")
    workers = direct.direct_num_workers if local and direct.direct_num_workers else 1
    if local and workers > 1 and direct.direct_running_mode == "in_memory":
        direct.direct_running_mode = "multi_processing"
    return options, workers


def guard_output(output: str, overwrite: bool) -> None:
    """Never mix two runs: refuse a folder that holds one, or clear it when asked to."""
    present = [name for name in RUN_OUTPUTS if FileSystems.exists(f"{output.rstrip('/')}/{name}")]
    if present and not overwrite:
        raise FileExistsError(f"output {output} already holds a run ({', '.join(present)}); "
                              "choose another folder or pass --overwrite")
    if present:
        FileSystems.delete([f"{output.rstrip('/')}/{name}" for name in present])


def check_remote_voices(voice_cfg: dict, options: PipelineOptions) -> None:
    """The default conversion speaks with Festival or Flite, Debian packages that pip cannot put on a remote
    worker: without the worker image every record would reach the quarantine, so such a job is refused here."""
    workers = options.view_as(WorkerOptions)
    image = (workers.sdk_container_image or workers.worker_harness_container_image
             or options.view_as(PortableOptions).environment_config)
    if speaks_transcript(voice_cfg) and not image:
        raise config_module.ConfigError(
            "voice.method resynthesize needs Festival or Flite (Debian packages) on the workers: run them on the "
            "worker image (--sdk_container_image, built from the Dockerfile) or set voice.method: warp")


def check_input(path: str) -> None:
    if is_manifest(path):
        if not FileSystems.exists(path):
            raise FileNotFoundError(f"input manifest {path} does not exist")
    elif not FileSystems.match([path.rstrip("/") + "/*"])[0].metadata_list and not FileSystems.exists(path):
        raise FileNotFoundError(f"input {path} is neither a .jsonl manifest nor a folder")


def run_info(cfg: dict, secret_source: str, runner: str) -> dict:
    model = cfg["asr"]["model"]
    sha = PACKAGED_WHISPER[model]["sha256"] if model in PACKAGED_WHISPER else cfg["asr"]["model_sha256"]
    return {
        "config_sha256": config_module.digest(cfg),
        "config": cfg,
        "versions": package_versions(),
        "models": {"asr": model, "asr_sha256": sha, "asr_compute_type": cfg["asr"]["compute_type"],
                   "spacy": cfg["pii"]["spacy_model"]},
        "voice_mode": cfg["voice"]["mode"],
        "pii_operator": cfg["pii"]["operator"],
        "secret_source": secret_source,
        "runner": runner,
    }


def _metrics(result, kind: str) -> list:
    try:
        return result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))[kind]
    except (NotImplementedError, KeyError, AttributeError):
        return []


def _distributions(result) -> list:
    return _metrics(result, "distributions")


def counter_total(result, name: str) -> int:
    """The committed total of one `deid` Beam counter over all workers (0 where the runner keeps none)."""
    return sum(item.committed or 0 for item in _metrics(result, "counters") if item.key.metric.name == name)


def stage_seconds(result) -> dict:
    """Total time spent in each stage, summed over workers, from the `<stage>_ms` Beam distributions."""
    totals: dict = {}
    for item in _distributions(result):
        name = item.key.metric.name
        if name.endswith("_ms") and item.committed is not None:
            totals[name[:-3]] = totals.get(name[:-3], 0.0) + item.committed.sum / 1000.0
    return {k: round(v, 3) for k, v in sorted(totals.items())}


def work_window(result) -> list | None:
    """[first, last] wall-clock second (epoch) in which any stage worked on any worker, or None."""
    clocks = [item.committed for item in _distributions(result)
              if item.key.metric.name == WORK_CLOCK and item.committed is not None and item.committed.count]
    if not clocks:
        return None
    return [round(min(c.min for c in clocks) / 1000.0, 3), round(max(c.max for c in clocks) / 1000.0, 3)]


def run_job(input_path: str, output: str, cfg: dict, secret, secret_source: str, beam_args: list[str],
            overwrite: bool = False) -> dict | None:
    """Run the pipeline. `secret` is a secret source (.get() -> bytes, see pipeline.secrets);
    `secret_source` is a label for the report ("file", "env", "secret-manager", "demo").
    Returns the run report, or None when the job was only translated or handed to a template launcher."""
    check_input(input_path)
    if cfg["consent"]["opt_out"] and not FileSystems.exists(cfg["consent"]["opt_out"]):
        raise FileNotFoundError(f"opt-out list {cfg['consent']['opt_out']} does not exist")
    options, workers = beam_options(beam_args)
    guard_output(output, overwrite)
    runner = options.view_as(StandardOptions).runner
    remote = is_remote_runner(runner)
    if remote:
        if isinstance(secret, InlineSecret):
            raise SecretError(f"runner {runner} would carry the secret inside its job graph; use --secret-uri")
        check_remote_voices(cfg["voice"], options)
    elif speaks_transcript(cfg["voice"]):
        from transforms.synth_voices import check

        check(cfg["voice"]["tts_voices"])
    spec = RunSpec(input_path, output, cfg, secret, workers, run_info(cfg, secret_source, runner))
    log.info("run: input %s -> output %s, runner %s, %d local worker(s)", input_path, output, runner, workers)
    started = time.perf_counter()
    pipeline = beam.Pipeline(options=options)
    build(pipeline, spec)
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as error:  # noqa: BLE001 - Beam wraps worker errors; only safe text goes out
        text = str(error)
        if AccountingError.__name__ in text or "accounting failed" in text:
            raise PipelineFailed(text[text.find("accounting failed"):].splitlines()[0]) from None
        raise PipelineFailed(f"the pipeline failed ({type(error).__name__}); rerun with --debug for details") \
            from error
    finally:
        remove_shared_model_folder(spec.machine_tag)   # local runs only: a remote worker's disk goes with it
    if options.view_as(TestOptions).dry_run or options.view_as(GoogleCloudOptions).template_location:
        log.info("job translated but not run here (dry run or template launch); no report yet")
        return None
    with FileSystems.open(f"{output.rstrip('/')}/run_report.json") as f:
        report = json.loads(f.read())
    report["timing"] = {"wall_seconds": round(time.perf_counter() - started, 3),
                        "stage_seconds": stage_seconds(result),
                        "work_window_epoch_s": work_window(result)}
    report["unsure_tail_words_dropped"] = counter_total(result, UNSURE_TAIL_WORDS)
    report["loop_words_dropped"] = counter_total(result, LOOP_WORDS)
    write_output_file(output, "run_report.json", dump_json(report))
    log.info("done in %.1f s: %d inputs, %d shipped, %d quarantined, %d opted out; %.1f s of audio shipped",
             time.perf_counter() - started, report["inputs"], report["shipped"], report["quarantined"],
             report["opted_out"], report["seconds_out"])
    return report
