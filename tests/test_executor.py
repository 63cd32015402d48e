"""executor=ray: the same files and numbers as a local run, on one machine or a simulated
cluster, through a killed worker and a Ctrl-C; the driver writes every file."""

import os
import signal
import threading
import time

import pandas as pd
import pytest
from conftest import without_timing

from charlm.errors import ParameterError
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.experiment.steps import train_model, tune_models

pytestmark = pytest.mark.slow  # trains, or runs Ray or subprocesses: the slow tier

ray = pytest.importorskip("ray", reason="the Ray tests need the extra: pip install -e '.[ray]'")

TINY = {"max_chars": 20_000, "hidden_size": 32, "max_steps": 8, "epochs": 3,
        "eval_windows": 200, "seeds": [0, 1], "models": ["lstm", "gru"], "pairs": [],
        "tune_space": {"lr": [1e-2, 3e-2]}, "tune_seeds": [100]}
# Equal numbers: every run measured so far matched bit for bit; float summation on a CPU is not
# promised to repeat exactly across processes (MKL may pick kernels by memory alignment), so the
# tests allow a relative 1e-6 where a run crosses processes.
SAME = {"check_exact": False, "rtol": 1e-6, "atol": 1e-12}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, corpus_text):
    """The reference: the search and one model trained in this process."""
    run = Run(tmp_path_factory.mktemp("local"))
    spec = resolve("smoke", TINY)
    return (tune_models(run, spec, progress=False), train_model(run, spec, "lstm", progress=False),
            run.read_choice(), run)


@pytest.fixture
def local_ray():
    """A local Ray instance with two logical CPUs (as the runs ask for this machine's threads)."""
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_equals_local(local_run, local_ray, tmp_path):
    run, spec = Run(tmp_path), resolve("smoke", {**TINY, "executor": "ray"})
    trials, history = tune_models(run, spec, progress=False), train_model(run, spec, "lstm",
                                                                           progress=False)
    pd.testing.assert_frame_equal(without_timing(trials), without_timing(local_run[0]),
                                  **SAME)
    pd.testing.assert_frame_equal(without_timing(history), without_timing(local_run[1]),
                                  **SAME)
    choice, local = run.read_choice(), local_run[2]
    assert {k: v for k, v in choice.items() if k != "scores"} == {
        k: v for k, v in local.items() if k != "scores"}
    for model, scores in local["scores"].items():  # to 1e-6, as every number here (SAME)
        assert choice["scores"][model] == pytest.approx(scores, rel=1e-6)
    folder = run.model("lstm", 0)  # the driver wrote every file a local run writes
    files = {p.name for p in folder.path.iterdir()}
    assert files == {p.name for p in local_run[3].model("lstm", 0).path.iterdir()} == {
        "checkpoint.pt", "best.pt", "history.csv", "step_losses.csv", "vocab.json",
        "test_windows.pt"}
    # each epoch's step losses come back from its task; the driver puts them after the others
    pd.testing.assert_frame_equal(folder.read_step_losses(),
                                  local_run[3].model("lstm", 0).read_step_losses(), **SAME)
    assert not any(p.name == "test_windows.pt" for p in run.tuning_dir.rglob("*"))


def _kill_a_worker_once_running(root, killed: list) -> None:
    """SIGKILL one Ray worker process while it trains, once some epoch has finished."""
    import psutil

    deadline = time.time() + 120
    while time.time() < deadline and not list(root.rglob("checkpoint.pt")):
        time.sleep(0.05)
    while time.time() < deadline and not killed:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if "ray::" in cmd and "epoch" in cmd:  # a worker running one of our tasks
                os.kill(proc.info["pid"], signal.SIGKILL)
                killed.append(cmd)
                return
        time.sleep(0.05)


def test_two_node_cluster_survives_a_killed_worker(local_run, tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    cluster.add_node(num_cpus=2)
    try:
        cluster.wait_for_nodes()
        run = Run(tmp_path)
        spec = resolve("smoke", {**TINY, "executor": "ray", "ray_address": cluster.address})
        killed = []
        killer = threading.Thread(target=_kill_a_worker_once_running,
                                  args=(tmp_path, killed), daemon=True)
        killer.start()
        trials = tune_models(run, spec, progress=False)
        killer.join()
        assert killed, "no worker was killed: the test did not test anything"
        assert len(ray.nodes()) == 2
    finally:
        ray.shutdown()
        cluster.shutdown()
    # every trial finished, with the numbers of a run nobody interrupted
    pd.testing.assert_frame_equal(without_timing(trials), without_timing(local_run[0]),
                                  **SAME)


def test_ctrl_c_cancels_the_runs_and_a_rerun_resumes(local_run, local_ray, tmp_path, capfd,
                                                     monkeypatch):
    from charlm.scale import ray_executor as executor

    run, spec = Run(tmp_path), resolve("smoke", {**TINY, "executor": "ray"})
    written, real = [], executor._write_files

    def ctrl_c_after_two_epochs(folder, files):  # Ctrl-C lands while tasks are in flight
        real(folder, files)
        written.append(folder)
        if len(written) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(executor, "_write_files", ctrl_c_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        tune_models(run, spec, progress=False)
    monkeypatch.setattr(executor, "_write_files", real)
    err = capfd.readouterr().err
    assert "cancelled" in err and "Run the same command again to resume" in err
    assert run.read_choice() is None  # the search did not pretend to finish
    trials = tune_models(run, spec, progress=False)  # resumes after the finished epochs
    assert "resuming" in capfd.readouterr().err
    pd.testing.assert_frame_equal(without_timing(trials), without_timing(local_run[0]),
                                  **SAME)


def test_a_diverged_trial_on_ray_is_recorded_and_kept(local_ray, tmp_path, capfd):
    spec = resolve("smoke", {**TINY, "executor": "ray", "tune_space": {"lr": [1e-2, 50.0]},
                             "grad_clip": None, "models": ["rnn", "gru"], "epochs": 2})
    trials = tune_models(Run(tmp_path), spec, progress=False)
    assert "diverged; recorded, the search goes on" in capfd.readouterr().err
    assert trials[trials.lr == 50.0]["diverged"].all()
    assert trials[trials.lr == 0.01]["val_loss"].notna().all()
    again = tune_models(Run(tmp_path), spec, progress=False)  # nothing left to train
    pd.testing.assert_frame_equal(trials, again)


def test_ray_parameters_are_checked():
    with pytest.raises(ParameterError, match="ray_address"):
        resolve("smoke", {"executor": "ray", "ray_address": "not an address"})
    with pytest.raises(ParameterError, match="executor='spark'"):
        resolve("smoke", {"executor": "spark"})
    for address in ("", "auto", "ray://head:10001", "10.0.0.1:6379"):
        resolve("smoke", {"executor": "ray", "ray_address": address})


def test_a_run_on_a_gpu_share_asks_for_one_cpu():
    """cpus_per_run unset: a run with a share of a GPU asks for one CPU, so that four runs share
    a GPU (asking for a CPU run's threads, one run would fill a node); on CPUs, the threads."""
    from charlm.scale.config import ScaleConfig
    from charlm.scale.ray_executor import GPU_SHARE, _resources

    class FakeRay:
        def __init__(self, gpus):
            self.gpus = gpus

        def cluster_resources(self):
            return {"CPU": 16, "GPU": self.gpus}

        def nodes(self):
            return [{"Alive": True, "Resources": {"CPU": 16, "GPU": self.gpus}}]

    on_gpus = _resources(FakeRay(1), ScaleConfig(executor="ray"), "auto")
    assert on_gpus == {"num_cpus": 1, "num_gpus": GPU_SHARE}
    on_cpus = _resources(FakeRay(0), ScaleConfig(executor="ray"), "auto")
    assert on_cpus["num_gpus"] == 0 and on_cpus["num_cpus"] >= 1
    chosen = _resources(FakeRay(1), ScaleConfig(executor="ray", cpus_per_run=4), "auto")
    assert chosen == {"num_cpus": 4, "num_gpus": GPU_SHARE}
