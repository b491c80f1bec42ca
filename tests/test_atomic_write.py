"""atomic_write: results get ordinary permissions, and no temporary file is left behind."""
import os
import stat

from algorithms.runs.checkpoint import atomic_write


def test_atomic_write_gives_the_permissions_of_a_plain_open(tmp_path):
    old_umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "report.md", lambda f: f.write("# report\n"), mode="w")
        with open(tmp_path / "plain.md", "w") as f:
            f.write("# report\n")
    finally:
        os.umask(old_umask)
    mode = stat.S_IMODE(os.stat(tmp_path / "report.md").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "plain.md").st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["plain.md", "report.md"]
    assert (tmp_path / "report.md").read_text() == "# report\n"
