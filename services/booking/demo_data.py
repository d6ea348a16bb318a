"""Three demo halls with different tariffs, loaded idempotently (by hall name).

    python -m services.booking.demo_data
"""
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.booking.models import HallRow
from services.booking.operations import save_hall
from services.common.config import db_uri, load_config
from services.common.db import engine_for

WEEKEND = [5, 6]
WEEKDAYS = [0, 1, 2, 3, 4]

DEMO_HALLS = [
    {"name": "Белый зал", "capacity": 10, "buffer_minutes": 15,
     "description": "Циклорама 6×4 м, окна на юг, дневной свет до 17:00.",
     "tariff": {"hourly_price": 250000, "rules": [
         {"weekdays": WEEKDAYS, "start": "18:00", "end": "22:00", "hourly_price": 300000},
         {"weekdays": WEEKEND, "start": "09:00", "end": "22:00", "hourly_price": 350000}]}},
    {"name": "Лофт", "capacity": 15, "buffer_minutes": 30,
     "description": "Кирпичные стены, камин, винтажная мебель.",
     "tariff": {"hourly_price": 300000, "rules": [
         {"weekdays": WEEKEND, "start": "09:00", "end": "22:00", "hourly_price": 400000}]}},
    {"name": "Чёрная комната", "capacity": 4, "buffer_minutes": 0,
     "description": "Для предметной и портретной съёмки: чёрный фон, импульсный свет.",
     "opening_hours": {"default": ["10:00", "21:00"], "sun": None},
     "tariff": {"hourly_price": 150000, "rules": []}},
]


def load_demo_halls(session):
    existing = {row.name: row.id for row in session.scalars(select(HallRow))}
    created = 0
    for hall in DEMO_HALLS:
        if hall["name"] not in existing:
            save_hall(session, hall)
            created += 1
    return created


def main():
    engine = engine_for(db_uri(load_config(), "booking"))
    with Session(engine) as session, session.begin():
        created = load_demo_halls(session)
    print(f"demo halls: {created} created, {len(DEMO_HALLS) - created} already there")


if __name__ == "__main__":
    main()
