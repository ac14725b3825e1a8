"""The mapping files ship inside the package; the checkout's mappings/ is the same folder."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from enricher.cluster.mappings import ENRICHMENT_MAPPING_FILE, STATE_MAPPING_FILE, enrichment_mapping

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_mapping_files_are_package_data():
    folder = resources.files("enricher").joinpath("resources", "mappings")
    assert {ENRICHMENT_MAPPING_FILE, STATE_MAPPING_FILE} <= {entry.name for entry in folder.iterdir()}
    assert "enricher/resources/mappings/*.json" in (REPO_ROOT / "pyproject.toml").read_text().replace(
        '"resources/mappings/*.json"', '"enricher/resources/mappings/*.json"')


def test_the_documented_mappings_folder_is_a_link_to_the_package_data():
    link = REPO_ROOT / "mappings"
    assert link.is_symlink() and not Path(link.readlink()).is_absolute(), "a relative link, as git stores it"
    assert link.resolve() == (REPO_ROOT / "enricher" / "resources" / "mappings").resolve()


def test_the_mapping_goes_under_the_namespace_only():
    mapping = enrichment_mapping("enrich2")
    assert list(mapping["properties"]) == ["enrich2"]
    assert mapping["properties"]["enrich2"]["properties"]["template"]["properties"]["id"]["type"] == "keyword"
