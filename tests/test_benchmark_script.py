"""scripts/benchmark_tabular.py: the optimal-policy reference printed beside the tabular report."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "benchmark_tabular.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("benchmark_tabular", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the sweep itself runs only under __main__
    return module


def test_optimal_reference_scores_the_value_iteration_policy_with_the_benchmark_evaluation():
    table = _load_script().optimal_reference(seeds=(0,))
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in table.splitlines() if line.startswith("| ") and "---" not in line and "env |" not in line}
    assert set(rows) == {"FrozenLake-v1", "CliffWalking-v1", "Taxi-v4"}
    assert rows["CliffWalking-v1"][1] == "-13.000 [-13.000, -13.000]"   # the 13-step path along the cliff
    assert rows["CliffWalking-v1"][3] == "1/1"
    frozen_lake = float(rows["FrozenLake-v1"][1].split()[0])
    assert 0.6 < frozen_lake < 0.9         # the optimal 4x4 slippery policy reaches the goal ~74% of the time
    taxi = float(rows["Taxi-v4"][1].split()[0])
    assert 7.0 < taxi < 9.0                # +20 for the drop-off, -1 for each other step: about 8 on average
