"""Where the benchmark looks for ../shared, the peers and the source checkout."""

from pathlib import Path

import srgan
from conftest import REPO, SHARED
from srgan.bench import places
from srgan.bench.places import peers_dir, shared_dir, source_checkout


def test_peers_dir_flag_beats_env_beats_shared(tmp_path, monkeypatch):
    monkeypatch.delenv("SRGAN_PEERS_DIR", raising=False)
    monkeypatch.chdir(REPO)
    assert peers_dir() == SHARED / "peers"
    assert peers_dir(shared=tmp_path / "s") == tmp_path / "s" / "peers"
    monkeypatch.setenv("SRGAN_PEERS_DIR", str(tmp_path))
    assert peers_dir() == tmp_path
    assert peers_dir(shared=tmp_path / "s") == tmp_path
    assert peers_dir(tmp_path / "x") == tmp_path / "x"


def test_shared_beside_the_working_directory_comes_first(tmp_path, monkeypatch):
    (tmp_path / "project").mkdir()
    (tmp_path / "shared").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    assert shared_dir() == tmp_path / "shared"
    assert shared_dir(tmp_path / "mine") == tmp_path / "mine"


def test_shared_falls_back_to_the_checkouts_then_names_the_working_directorys(tmp_path, monkeypatch):
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    checkout = tmp_path / "elsewhere" / "repo"
    (checkout.parent / "shared").mkdir(parents=True)
    monkeypatch.setattr(places, "source_checkout", lambda: checkout)
    assert shared_dir() == checkout.parent / "shared"
    monkeypatch.setattr(places, "source_checkout", lambda: None)  # an installed package
    assert shared_dir() == tmp_path / "shared"  # absent: error messages then name the expected place


def test_source_checkout_is_the_repository_srgan_is_imported_from():
    from_checkout = Path(srgan.__file__).resolve().is_relative_to(REPO / "src")
    assert source_checkout() == (REPO if from_checkout else None)
