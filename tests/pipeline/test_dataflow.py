"""Dataflow readiness, offline: the real graph translated by the real DataflowRunner (dry run), the package
that setup.py stages for the workers, the Beam options file, the Flex Template, and remote model staging."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from pathlib import Path

import pytest

from pipeline import beam_options, config, models
from pipeline.config import ConfigError
from pipeline.models import ModelError, sha256_file, stage_remote_model

ROOT = Path(__file__).resolve().parents[2]
SECRET_URI = "projects/deid-test-project/secrets/run-key/versions/1"
# Offline translation: a dry run never submits, --no_auth skips credentials, the SDK comes from the container.
# Beam validates the names, so the project and bucket must look real (ids of 6+ characters, buckets of 3+).
OFFLINE = ["--dry_run=True", "--no_auth", "--project=deid-test-project", "--region=us-central1",
           "--temp_location=gs://deid-test-bucket/tmp", "--staging_location=gs://deid-test-bucket/staging",
           "--sdk_location=container"]
EXPECTED_STEPS = {"Decode", "Transcribe", "RedactTranscript", "ConvertVoice", "RedactAudio", "WriteShards",
                  "Finalize"}


def needs_dataflow_runner():
    pytest.importorskip("apache_beam.runners.dataflow.internal.apiclient",
                        reason="the Dataflow runner needs the gcp extra: pip install '.[gcp]'")


def one_record_manifest(folder: Path) -> Path:
    """A manifest naming one record: a dry run translates the graph and never reads it."""
    manifest = folder / "manifest.jsonl"
    manifest.write_text(json.dumps({"id": "u1", "audio": "u1.wav", "speaker_id": "s1"}) + "\n")
    return manifest


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    """The whole pipeline, built as `run --beam-options configs/dataflow.yaml` would, translated in a dry run."""
    needs_dataflow_runner()
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.graph import RunSpec, build
    from pipeline.secrets import secret_source

    manifest = one_record_manifest(tmp_path_factory.mktemp("dataflow-input"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # the options file names ./setup.py, as a user runs it from the repository root
        patch.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("staging")))  # where Beam stages the package
        flags = beam_options.load_file("configs/dataflow.yaml") + OFFLINE
        options = PipelineOptions(flags)
        source, _ = secret_source(None, SECRET_URI, "DataflowRunner")
        pipeline = beam.Pipeline(options=options)
        build(pipeline, RunSpec(str(manifest), "gs://deid-test-bucket/out", config.load(), source, 1, {}))
        result = pipeline.run()
    return result.job


def pardo_dofns(pipeline_proto):
    """(step name, DoFn object) for every ParDo of our code in the translated pipeline."""
    from apache_beam.internal import pickler
    from apache_beam.portability import common_urns, python_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    for transform in pipeline_proto.components.transforms.values():
        if transform.spec.urn != common_urns.primitives.PAR_DO.urn:
            continue
        payload = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload)
        if payload.do_fn.urn != python_urns.PICKLED_DOFN_INFO:
            continue
        dofn = pickler.loads(payload.do_fn.payload)[0]
        if type(dofn).__module__.startswith(("pipeline.", "transforms.")):
            yield transform.unique_name, dofn


def staged_workflow_tarball(pipeline_proto) -> Path:
    from apache_beam.portability.api import beam_runner_api_pb2

    for environment in pipeline_proto.components.environments.values():
        for dependency in environment.dependencies:
            role = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dependency.role_payload)
            if role.staged_name == "workflow.tar.gz":
                return Path(beam_runner_api_pb2.ArtifactFilePayload.FromString(dependency.type_payload).path)
    raise AssertionError("the job stages no workflow.tar.gz: --setup_file did not reach the runner")


@pytest.mark.slow
def test_job_graph_holds_every_step_in_order(translated):
    pipeline_proto = translated.proto_pipeline
    top_level = {t.unique_name for t in pipeline_proto.components.transforms.values() if "/" not in t.unique_name}
    assert EXPECTED_STEPS <= top_level, f"missing steps: {sorted(EXPECTED_STEPS - top_level)}"
    assert json.loads(translated.json())["type"] == "JOB_TYPE_BATCH"

    # The steps are wired in the design's order: each step consumes what the previous one produced.
    transforms = pipeline_proto.components.transforms
    by_name = {t.unique_name: t for t in transforms.values()}
    chain = ["Decode", "Transcribe", "RedactTranscript", "ConvertVoice", "RedactAudio"]
    for before, after in zip(chain, chain[1:]):
        assert set(by_name[before].outputs.values()) & set(by_name[after].inputs.values()), f"{before} -> {after}"


@pytest.mark.slow
def test_job_graph_carries_only_a_secret_manager_reference(translated):
    from pipeline.secrets import SecretManagerSecret
    from transforms.identity import InlineSecret

    holders = {}
    for name, dofn in pardo_dofns(translated.proto_pipeline):
        for value in vars(dofn).values():
            assert not isinstance(value, InlineSecret), f"{name} carries the secret itself"
            if isinstance(value, SecretManagerSecret):
                holders[name] = value.uri
    assert {"RedactTranscript/ParDo(RedactTranscript)", "Pseudonymise"} <= set(holders)
    assert set(holders.values()) == {SECRET_URI}


@pytest.mark.slow
def test_options_file_reaches_the_job_and_the_command_line_wins(translated):
    from apache_beam.options.pipeline_options import GoogleCloudOptions, SetupOptions, WorkerOptions

    workers = translated.options.view_as(WorkerOptions)
    assert (workers.machine_type, workers.num_workers, workers.max_num_workers) == ("n2-standard-4", 2, 10)
    assert translated.options.view_as(SetupOptions).setup_file == "./setup.py"
    assert workers.sdk_container_image == "REGION-docker.pkg.dev/PROJECT/REPO/deid-speech:0.1.0"
    cloud = translated.options.view_as(GoogleCloudOptions)
    assert cloud.project == "deid-test-project" and cloud.temp_location.startswith("gs://deid-test-bucket/tmp/")


@pytest.mark.slow
def test_staged_package_installs_everything_the_workers_import(translated, tmp_path):
    tarball = staged_workflow_tarball(translated.proto_pipeline)
    with tarfile.open(tarball) as sdist:
        names = sdist.getnames()
    assert any(n.endswith("/configs/default.yaml") for n in names)
    # What a worker does with it: pip builds and installs the package from the staged source.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(tarball)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("deid_speech-*.whl"))
    installed = set(zipfile.ZipFile(wheel).namelist())
    for package in ("pipeline", "pipeline/commands", "pipeline/evaluation", "transforms"):
        for module in (ROOT / package).glob("*.py"):
            assert f"{package}/{module.name}" in installed, f"{package}/{module.name} is not installed on workers"
    for yaml_file in (ROOT / "configs").glob("*.yaml"):
        assert f"pipeline/configs/{yaml_file.name}" in installed, f"{yaml_file.name} is not installed on workers"


@pytest.mark.slow
def test_run_command_translates_for_dataflow_without_running(tmp_path, capsys, monkeypatch):
    needs_dataflow_runner()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where Beam stages the package
    from pipeline.cli import main

    manifest = one_record_manifest(tmp_path)
    output = tmp_path / "out"
    monkeypatch.chdir(ROOT)
    code = main(["run", "--beam-options", "configs/dataflow.yaml", "--input", str(manifest),
                 "--output", str(output), "--secret-uri", SECRET_URI, *OFFLINE])
    assert code == 0, capsys.readouterr().err
    assert not output.exists() or not any(output.iterdir())  # translated only: nothing ran, nothing written


def test_remote_job_without_the_worker_image_is_refused_before_anything_is_built(tmp_path, capsys, monkeypatch):
    """Festival cannot reach a worker through pip: with the default method and no image every record would be
    quarantined, so the run stops at once with one line; the warp method needs no image."""
    needs_dataflow_runner()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    from pipeline.cli import main

    manifest = one_record_manifest(tmp_path)
    flags = [f for f in beam_options.load_file(str(ROOT / "configs/dataflow.yaml"))
             if not f.startswith("--sdk_container_image=")]
    monkeypatch.chdir(ROOT)
    command = ["run", "--input", str(manifest), "--secret-uri", SECRET_URI, *flags, *OFFLINE]
    assert main([*command, "--output", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sdk_container_image" in err[0] and "voice.method" in err[0]
    warp = tmp_path / "warp.yaml"
    warp.write_text("voice:\n  method: warp\n")
    assert main([*command, "--output", str(tmp_path / "warp"), "--config", str(warp)]) == 0, capsys.readouterr().err


def test_options_file_becomes_beam_flags_and_stays_out_of_the_pipeline_config():
    flags = beam_options.load_file(str(ROOT / "configs/dataflow.yaml"))
    for expected in ("--runner=DataflowRunner", "--region=us-central1", "--setup_file=./setup.py",
                     "--machine_type=n2-standard-4",
                     "--sdk_container_image=REGION-docker.pkg.dev/PROJECT/REPO/deid-speech:0.1.0"):
        assert expected in flags
    assert any(f.startswith("--temp_location=gs://") for f in flags)
    assert any(f.startswith("--staging_location=gs://") for f in flags)
    with pytest.raises(ConfigError, match="unknown config key 'runner'"):
        config.load(str(ROOT / "configs/dataflow.yaml"))


@pytest.mark.parametrize("content, message", [
    ("num_worker: 3\n", "'num_worker' is not a Beam pipeline option"),
    ("num_workers: many\n", "beam option 'num_workers' cannot be set to 'many'"),
    ("- runner\n", "must hold a mapping"),
    ("project: {id: 1}\n", "must be a string, number, boolean or list"),
])
def test_bad_options_file_is_one_clear_line(tmp_path, content, message):
    path = tmp_path / "options.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as error:
        beam_options.load_file(str(path))
    assert "\n" not in str(error.value)


def test_options_file_booleans_and_lists():
    flags = beam_options.flags_from_mapping({"use_public_ips": False, "save_main_session": True,
                                             "experiments": ["use_runner_v2", "no_use_multiple_sdk_containers"]},
                                            "test")
    assert flags == ["--no_use_public_ips", "--save_main_session", "--experiments=use_runner_v2",
                     "--experiments=no_use_multiple_sdk_containers"]


def load_flex_main():
    spec = importlib.util.spec_from_file_location("flex_main", ROOT / "flex-template/main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flex_template_parameters_are_run_flags():
    from pipeline.cli import parser

    metadata = json.loads((ROOT / "flex-template/metadata.json").read_text())
    names = [p["name"] for p in metadata["parameters"]]
    assert {"input", "output", "secret_uri", "opt_out"} <= set(names)
    launcher_argv = [f"--{name}=gs://deid-test-bucket/{name}" for name in names if name != "secret_uri"]
    launcher_argv += [f"--secret_uri={SECRET_URI}", "--runner=DataflowRunner", "--temp_location=gs://x/tmp"]
    argv = load_flex_main().run_argv(launcher_argv)
    args, beam_args = parser().parse_known_args(argv)
    assert args.command == "run" and args.secret_uri == SECRET_URI
    for name in names:
        if name != "secret_uri":
            assert getattr(args, name) == f"gs://deid-test-bucket/{name}"
    assert beam_args == ["--runner=DataflowRunner", "--temp_location=gs://x/tmp"]
    for parameter in metadata["parameters"]:
        assert parameter["label"] and parameter["helpText"] and "isOptional" in parameter


def test_setup_pins_the_beam_of_the_worker_image():
    pinned = re.search(r'^BEAM = "([^"]+)"', (ROOT / "setup.py").read_text(), re.M).group(1)
    assert f"ARG BEAM_VERSION={pinned}\n" in (ROOT / "Dockerfile").read_text()


def test_worker_image_matches_the_installed_beam():
    from apache_beam.version import __version__

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ARG BEAM_VERSION={__version__}" in dockerfile
    assert f"ARG PYTHON_VERSION={sys.version_info.major}.{sys.version_info.minor}" in dockerfile
    assert "FROM apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION}" in dockerfile


@pytest.fixture
def remote_model(tmp_path, monkeypatch):
    """A model folder reached through Beam's FileSystems, as gs:// would be on a worker; a fresh cache."""
    folder = tmp_path / "bucket" / "whisper"
    folder.mkdir(parents=True)
    (folder / "model.bin").write_bytes(os.urandom(1 << 16))
    (folder / "config.json").write_text("{}")
    (folder / "tokenizer.json").write_text("{}")
    monkeypatch.setenv("DEID_MODEL_CACHE", str(tmp_path / "cache"))
    return str(folder), sha256_file(folder / "model.bin")


def test_remote_model_is_copied_with_its_checksum(remote_model):
    uri, sha = remote_model
    path, found = stage_remote_model(uri, sha)
    assert found == sha and sha256_file(Path(path) / "model.bin") == sha
    assert sorted(p.name for p in Path(path).iterdir()) == ["config.json", "model.bin", "tokenizer.json"]


def test_remote_model_with_wrong_or_missing_checksum_is_never_published(remote_model, tmp_path):
    uri, _ = remote_model
    with pytest.raises(ModelError, match="fails asr.model_sha256"):
        stage_remote_model(uri, "0" * 64)
    with pytest.raises(ModelError, match="set asr.model_sha256"):
        stage_remote_model(uri, "")
    assert not [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]


def test_concurrent_workers_on_one_machine_share_one_copy(remote_model, monkeypatch):
    uri, sha = remote_model
    copies = []
    real_copy = models._copy_remote_folder

    def counted_copy(*args):
        copies.append(threading.get_ident())
        real_copy(*args)

    monkeypatch.setattr(models, "_copy_remote_folder", counted_copy)
    results = []
    workers = [threading.Thread(target=lambda: results.append(stage_remote_model(uri, sha))) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(copies) == 1
    assert len(results) == 6 and len(set(results)) == 1
