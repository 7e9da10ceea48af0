from __future__ import annotations

import pytest

from connector.errors import FastmagError
from connector.fastmag.client import FastmagClient
from sandbox.fastmag_sim import FastmagSimulator
from sandbox.seed import Seed
from tests.integration.fastmag.conftest import PASSWORD, USER, MakeClient

pytestmark = pytest.mark.integration


def two_word_colour(seed: Seed) -> tuple[str, str]:
    variant = next(v for v in seed.good_variants() if " " in v.couleur)
    return variant.barcode, variant.couleur


def test_cdn_photos_are_probed_until_the_first_miss(make_client: MakeClient, sim: FastmagSimulator, seed: Seed) -> None:
    reference, colour = two_word_colour(seed)
    client = make_client()
    photos = [client.photo(reference, colour, index) for index in range(1, 6)]
    assert [p is not None for p in photos] == [True, True, True, False, False]
    assert len({p for p in photos if p}) == 3
    assert all(p.startswith(b"\xff\xd8") for p in photos if p)
    expected = f"/photos/116/source/{reference.lower()}/{colour.lower().replace(' ', '%20')}/1/photo.jpg"
    assert sim.requests[0].path == expected


def test_replaced_photo_is_served(make_client: MakeClient, sim: FastmagSimulator, seed: Seed) -> None:
    reference, colour = two_word_colour(seed)
    client = make_client()
    before = client.photo(reference, colour, 2)
    after = sim.replace_photo(reference, colour, 2)
    assert before != after
    assert client.photo(reference, colour, 2) == after
    sim.remove_photo(reference, colour, 1)
    assert client.photo(reference, colour, 1) is None


def test_photo_endpoint_with_its_parameter_names(seed: Seed) -> None:
    variant = seed.good_variants()[0]
    with FastmagSimulator(seed) as endpoint_sim:
        settings = endpoint_sim.settings()
        settings = settings.model_copy(update={"photos": settings.photos.model_copy(update={"source": "endpoint"})})
        with FastmagClient(settings, USER, PASSWORD) as client:
            assert client.photo(variant.barcode, variant.couleur, 1)
            assert client.photo(variant.barcode, variant.couleur, 9) is None
        recorded = endpoint_sim.requests[0]
        assert recorded.path == "/photo.ips"
        assert recorded.method == "POST"
        assert recorded.params["produit"] == variant.barcode
        assert recorded.params["numero"] == "1"
        with FastmagClient(settings, USER, "wrong") as client, pytest.raises(FastmagError) as refused:
            client.photo(variant.barcode, variant.couleur, 1)
        assert refused.value.remote_message == "Identifiant ou mot de passe incorrect"


def test_a_variant_without_colour_uses_an_underscore(
    make_client: MakeClient, sim: FastmagSimulator, seed: Seed
) -> None:
    missing = seed.anomalies.missing_colour[0]
    reference = next(v.barcode for v in seed.variants if v.produit == missing)
    assert make_client().photo(reference, "", 1) is not None
    assert sim.requests[-1].path.endswith(f"/{reference.lower()}/_/1/photo.jpg")
