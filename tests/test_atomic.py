"""The one atomic write of pimc (`pimc.locks.atomic_path` / `atomic_write`): a failure mid-write leaves the old file
and no temporary; overwrite=False never replaces; a folder is swapped whole (issue 19, item 3)."""
import os, signal, subprocess, sys
import pytest
from pimc.locks import atomic_path, atomic_write, sweep_temps, temp_path


def test_a_failure_mid_write_leaves_the_old_file_and_no_temporary(tmp_path):
    p = atomic_write(tmp_path / "x.json", '{"v": 1}')
    def half(f):
        f.write(b'{"v": 2, "tru'); raise OSError("disk full")
    with pytest.raises(OSError, match="disk full"): atomic_write(p, half)
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(p) as t:
            t.write_text("half"); raise KeyboardInterrupt
    assert p.read_text() == '{"v": 1}'
    assert [q.name for q in tmp_path.iterdir()] == ["x.json"]           # no temporary left behind


def test_a_new_file_appears_only_complete(tmp_path):
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "sub" / "new.txt") as t:
            t.write_text("part"); assert not (tmp_path / "sub" / "new.txt").exists(); raise ValueError
    assert list((tmp_path / "sub").iterdir()) == []
    atomic_write(tmp_path / "sub" / "new.txt", b"all")
    assert (tmp_path / "sub" / "new.txt").read_bytes() == b"all"


def test_no_replace_keeps_what_appeared(tmp_path):
    p = tmp_path / "m.tif"
    with pytest.raises(FileExistsError, match="appeared while the map was computed.*overwrite=True"):
        with atomic_path(p, overwrite=False, what="the map", where="write_map") as t:
            t.write_text("mine"); p.write_text("theirs")                 # another writer finished first
    assert p.read_text() == "theirs" and [q.name for q in tmp_path.iterdir()] == ["m.tif"]


def test_a_folder_is_swapped_whole_and_an_equal_copy_kept(tmp_path):
    root = tmp_path / "set"
    for name in ("a", "b"):
        with atomic_path(root, folder=True) as t: (t / name).write_text(name)
    assert [q.name for q in root.iterdir()] == ["b"]
    with atomic_path(root, folder=True, keep=lambda: (root / "b").exists()) as t: (t / "c").write_text("c")
    assert [q.name for q in root.iterdir()] == ["b"] and [q.name for q in tmp_path.iterdir()] == ["set"]


def test_a_killed_writers_temporaries_are_swept(tmp_path):
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    stale = tmp_path / temp_path(tmp_path / "x.npy").name.replace(f"-{os.getpid()}-", f"-{dead}-")
    stale.write_text("left"); live = temp_path(tmp_path / "x.npy"); live.write_text("mine")
    assert sweep_temps(tmp_path / "x.npy") == [stale] and live.exists()
    assert sweep_temps(tmp_path / "x.npy", every=True) == [live]
