from __future__ import annotations

from datetime import UTC, datetime

from camfleet.access.city_time import CityCalendar
from camfleet.access.tier_status import tier_status
from camfleet.api.access_tier import AccessTier

FLOOD = AccessTier.model_validate(
    {
        "metadata": {"name": "flood", "generation": 1},
        "spec": {
            "level": 2,
            "subjects": [
                {"department": "water", "windows": [{"recurring": {"start": "06-01", "end": "09-30"}}]},
                {"department": "police"},
            ],
        },
    }
)


def test_active_departments_follow_the_season() -> None:
    calendar = CityCalendar()
    summer = tier_status(None, FLOOD, 1, datetime(2030, 7, 1, 4, tzinfo=UTC), calendar).to_api()
    winter = tier_status(None, FLOOD, 1, datetime(2030, 1, 1, 4, tzinfo=UTC), calendar).to_api()
    assert summer["activeDepartments"] == ["police", "water"]
    assert winter["activeDepartments"] == ["police"]
    assert winter["nextTransitionTime"].startswith("2030-05-31T16:00:00")  # 1 June, 00:00 in Shanghai
    assert summer["conditions"][0]["status"] == "True"
