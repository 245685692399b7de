"""Domain parameters taken from Settings, so pure functions never see the settings object."""

from __future__ import annotations

from recommender.profile import ProfileParams
from recommender.settings import Settings


def profile_params(s: Settings) -> ProfileParams:
    """Profile model constants from settings."""
    return ProfileParams(
        dim=s.vector_dim,
        short_half_life_s=s.short_half_life_s,
        long_half_life_s=s.long_half_life_s,
        affinity_half_life_s=s.affinity_half_life_s,
        recent_max=s.recent_items_max,
        booked_max=s.booked_items_max,
        affinity_max_keys=s.affinity_max_keys,
    )
