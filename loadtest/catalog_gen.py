"""Cities and the synthetic travel catalog (pure, numpy-vectorised, deterministic per seed).

The catalog is held column-wise (numpy arrays) because the event simulator needs fast
lookups by destination, type and price, and because 100k items must build in well under
a second; dicts are only materialised on demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArr = npt.NDArray[np.float64]
IntArr = npt.NDArray[np.int64]

ITEM_TYPES: tuple[str, ...] = ("hotel", "flight", "tour", "car", "attraction")
HOTEL, FLIGHT, TOUR, CAR, ATTRACTION = range(5)
TYPE_PREFIX = ("h", "f", "t", "c", "a")
# Share of each type in the catalog; hotels dominate real OTA catalogs.
TYPE_SHARE = np.array([0.40, 0.20, 0.15, 0.10, 0.15])
CABINS = ("economy", "premium_economy", "business", "first")
CABIN_SHARE = np.array([0.72, 0.10, 0.14, 0.04])
CABIN_MULT = np.array([1.0, 1.7, 3.5, 6.0])
CAR_CLASSES = ("economy", "compact", "suv", "premium", "van")
CAR_DAILY = np.array([180.0, 240.0, 380.0, 650.0, 450.0])
TOUR_HOURS = np.array([2, 3, 4, 6, 8, 10, 12, 24, 48, 72])
HOTEL_NIGHTLY = np.array([0.0, 0.0, 260.0, 420.0, 780.0, 1500.0])  # indexed by stars
HOTEL_AREAS = ("Bay", "Central", "Garden", "Riverside", "Old Town", "Airport", "Harbour", "Park")
TOUR_THEMES = ("Food", "Heritage", "Night", "Nature", "Photography", "Cycling", "Culture")
ATTRACTION_KINDS = ("Museum", "Theme Park", "Aquarium", "Temple", "Cable Car", "Show", "Garden")


@dataclass(frozen=True, slots=True)
class City:
    slug: str
    name: str
    region: str
    popularity: float  # relative weight as a travel destination
    home_weight: float  # relative weight as a place users live in / fly from
    price_level: float  # multiplier on local prices (hotels, cars, tours)
    lat: float
    lon: float


# The platform is a Chinese OTA (prices in CNY): users live mostly in big Chinese cities,
# and travel domestically more often than abroad.
CITIES: tuple[City, ...] = (
    City("sanya", "Sanya", "cn-south", 9, 0.5, 1.2, 18.25, 109.50),
    City("shanghai", "Shanghai", "cn-east", 7, 10, 1.2, 31.23, 121.47),
    City("beijing", "Beijing", "cn-north", 8, 10, 1.15, 39.90, 116.40),
    City("chengdu", "Chengdu", "cn-southwest", 7, 6, 0.9, 30.66, 104.07),
    City("xian", "Xi'an", "cn-northwest", 6, 3, 0.85, 34.34, 108.94),
    City("guilin", "Guilin", "cn-south", 4, 0.3, 0.8, 25.27, 110.29),
    City("lijiang", "Lijiang", "cn-southwest", 5, 0.2, 0.9, 26.87, 100.23),
    City("hangzhou", "Hangzhou", "cn-east", 6, 5, 1.05, 30.27, 120.15),
    City("guangzhou", "Guangzhou", "cn-south", 3, 8, 1.0, 23.13, 113.26),
    City("shenzhen", "Shenzhen", "cn-south", 2, 8, 1.1, 22.54, 114.06),
    City("chongqing", "Chongqing", "cn-southwest", 5, 4, 0.85, 29.56, 106.55),
    City("xiamen", "Xiamen", "cn-east", 5, 2, 1.0, 24.48, 118.09),
    City("qingdao", "Qingdao", "cn-north", 4, 2, 0.95, 36.07, 120.38),
    City("dali", "Dali", "cn-southwest", 4, 0.2, 0.8, 25.61, 100.27),
    City("kunming", "Kunming", "cn-southwest", 3, 2, 0.85, 25.04, 102.71),
    City("zhangjiajie", "Zhangjiajie", "cn-central", 4, 0.2, 0.8, 29.12, 110.48),
    City("suzhou", "Suzhou", "cn-east", 3, 3, 1.0, 31.30, 120.62),
    City("nanjing", "Nanjing", "cn-east", 3, 4, 0.95, 32.06, 118.80),
    City("harbin", "Harbin", "cn-northeast", 3, 2, 0.85, 45.80, 126.53),
    City("lhasa", "Lhasa", "cn-southwest", 2, 0.2, 1.0, 29.65, 91.12),
    City("wuhan", "Wuhan", "cn-central", 2, 4, 0.9, 30.59, 114.30),
    City("changsha", "Changsha", "cn-central", 2, 3, 0.85, 28.23, 112.94),
    City("huangshan", "Huangshan", "cn-east", 2, 0.2, 0.9, 29.71, 118.34),
    City("hong-kong", "Hong Kong", "greater-china", 5, 2, 1.5, 22.32, 114.17),
    City("macau", "Macau", "greater-china", 3, 0.5, 1.3, 22.20, 113.54),
    City("tokyo", "Tokyo", "east-asia", 6, 0.3, 1.4, 35.68, 139.69),
    City("osaka", "Osaka", "east-asia", 4, 0.1, 1.25, 34.69, 135.50),
    City("seoul", "Seoul", "east-asia", 4, 0.2, 1.2, 37.57, 126.98),
    City("bangkok", "Bangkok", "southeast-asia", 6, 0.2, 0.8, 13.76, 100.50),
    City("phuket", "Phuket", "southeast-asia", 3, 0.05, 0.9, 7.88, 98.39),
    City("chiang-mai", "Chiang Mai", "southeast-asia", 2, 0.05, 0.6, 18.79, 98.98),
    City("bali", "Bali", "southeast-asia", 4, 0.05, 0.8, -8.34, 115.09),
    City("singapore", "Singapore", "southeast-asia", 4, 0.3, 1.5, 1.35, 103.82),
    City("kuala-lumpur", "Kuala Lumpur", "southeast-asia", 2, 0.1, 0.8, 3.14, 101.69),
    City("paris", "Paris", "europe", 3, 0.1, 1.6, 48.86, 2.35),
    City("london", "London", "europe", 2, 0.1, 1.7, 51.50, -0.13),
    City("rome", "Rome", "europe", 2, 0.05, 1.4, 41.90, 12.50),
    City("dubai", "Dubai", "middle-east", 2, 0.05, 1.4, 25.20, 55.27),
    City("sydney", "Sydney", "oceania", 2, 0.05, 1.4, -33.87, 151.21),
    City("maldives", "Maldives", "south-asia", 2, 0.01, 2.5, 3.20, 73.22),
)
DOMESTIC_REGIONS = frozenset(c.region for c in CITIES if c.region.startswith("cn-"))


def great_circle_km(a: City, b: City) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


@dataclass(frozen=True, slots=True)
class Catalog:
    """Column-wise catalog; row i is item i. Attribute columns are -1 where not applicable."""

    item_ids: list[str]
    titles: list[str]
    item_type: IntArr
    dest: IntArr
    price: FloatArr
    price_pct: FloatArr  # price percentile within the item's type (0 = cheapest): budget fit
    popularity: FloatArr  # latent item appeal, long-tailed
    stars: IntArr
    origin: IntArr
    cabin: IntArr
    car_class: IntArr
    duration_h: IntArr

    def __len__(self) -> int:
        return len(self.item_ids)

    def item_dicts(self) -> list[dict[str, Any]]:
        """Contract-shaped catalog items without `v`, `updated_at` and `vector`."""
        slugs = [c.slug for c in CITIES]
        cols = zip(
            self.item_ids,
            self.titles,
            self.item_type.tolist(),
            self.dest.tolist(),
            self.price.tolist(),
            self.stars.tolist(),
            self.origin.tolist(),
            self.cabin.tolist(),
            self.car_class.tolist(),
            self.duration_h.tolist(),
            strict=True,
        )
        out = []
        for item_id, title, t, d, price, stars, origin, cabin, car, hours in cols:
            attrs: dict[str, Any] = {}
            if t == HOTEL:
                attrs = {"stars": stars}
            elif t == FLIGHT:
                attrs = {"origin": slugs[origin], "cabin": CABINS[cabin]}
            elif t == CAR:
                attrs = {"car_class": CAR_CLASSES[car]}
            elif t == TOUR:
                attrs = {"duration_h": hours}
            out.append(
                {
                    "item_id": item_id,
                    "item_type": ITEM_TYPES[t],
                    "destination": slugs[d],
                    "price": price,
                    "currency": "CNY",
                    "title": title,
                    "attributes": attrs,
                    "active": True,
                }
            )
        return out


def _weights(values: list[float]) -> FloatArr:
    w = np.asarray(values, dtype=np.float64)
    out: FloatArr = w / w.sum()
    return out


def _rank_within(groups: IntArr, n_groups: int) -> IntArr:
    """1-based running number of each row within its group (rows keep their order)."""
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty_like(groups)
    rank[order] = np.arange(len(groups)) - np.repeat(starts, counts)
    return rank + 1


def build_catalog(seed: int, n_items: int) -> Catalog:
    rng = np.random.default_rng([seed, 1])
    n_c = len(CITIES)
    pop = _weights([c.popularity for c in CITIES])
    home = _weights([c.home_weight for c in CITIES])
    level = np.array([c.price_level for c in CITIES])
    # A uniform floor guarantees every city has inventory even at small catalog sizes.
    item_type = rng.choice(5, size=n_items, p=TYPE_SHARE).astype(np.int64)
    dest = rng.choice(n_c, size=n_items, p=0.3 / n_c + 0.7 * pop).astype(np.int64)
    lognorm = rng.lognormal(0.0, 0.25, size=n_items)
    price = np.zeros(n_items)

    is_h = item_type == HOTEL
    stars = np.where(is_h, rng.choice([2, 3, 4, 5], size=n_items, p=[0.15, 0.35, 0.32, 0.18]), -1)
    price[is_h] = HOTEL_NIGHTLY[stars[is_h]] * level[dest[is_h]] * lognorm[is_h]

    # Flights leave from where users live; distance (not local price level) sets the fare.
    is_f = item_type == FLIGHT
    origin = np.where(is_f, rng.choice(n_c, size=n_items, p=home), -1)
    beijing, shanghai = 2, 1
    same = is_f & (origin == dest)
    origin[same] = np.where(dest[same] == beijing, shanghai, beijing)
    cabin = np.where(is_f, rng.choice(4, size=n_items, p=CABIN_SHARE), -1)
    km = np.array([[great_circle_km(a, b) for b in CITIES] for a in CITIES])
    abroad = np.array([c.region not in DOMESTIC_REGIONS for c in CITIES])
    fi = np.flatnonzero(is_f)
    base = (250.0 + 0.55 * km[origin[fi], dest[fi]]) * np.where(abroad[dest[fi]], 1.3, 1.0)
    price[fi] = base * CABIN_MULT[cabin[fi]] * lognorm[fi]

    is_t = item_type == TOUR
    hours = np.where(is_t, rng.choice(TOUR_HOURS, size=n_items), -1)
    price[is_t] = (120.0 + 55.0 * hours[is_t] ** 0.85) * level[dest[is_t]] * lognorm[is_t] ** 1.2

    is_c = item_type == CAR
    car_class = np.where(is_c, rng.choice(5, size=n_items, p=[0.3, 0.25, 0.25, 0.1, 0.1]), -1)
    price[is_c] = CAR_DAILY[car_class[is_c]] * level[dest[is_c]] * lognorm[is_c]

    is_a = item_type == ATTRACTION
    att = 120.0 * level[dest] * rng.lognormal(0.0, 0.6, size=n_items)
    att[rng.random(n_items) < 0.04] = 0.0  # free parks and temples exist
    price[is_a] = att[is_a]
    price = np.round(price, 2)

    price_pct = np.zeros(n_items)
    for t in range(5):
        idx = np.flatnonzero(item_type == t)
        if len(idx) > 1:
            price_pct[idx[np.argsort(price[idx], kind="stable")]] = np.linspace(0, 1, len(idx))
    popularity = rng.lognormal(0.0, 1.0, size=n_items)

    # Running numbers per (type, origin, destination) give readable, unique ids.
    group = (item_type * (n_c + 1) + (origin + 1)) * n_c + dest
    rank = _rank_within(group, 5 * (n_c + 1) * n_c)
    area = rng.integers(0, 1 << 16, size=n_items)
    ids: list[str] = []
    titles: list[str] = []
    for i in range(n_items):
        t, d, r, k = int(item_type[i]), CITIES[int(dest[i])], int(rank[i]), int(area[i])
        if t == FLIGHT:
            o = CITIES[int(origin[i])]
            ids.append(f"f-{o.slug}-{d.slug}-{r:03d}")
            cab = CABINS[int(cabin[i])].replace("_", " ").title()
            titles.append(f"{o.name} → {d.name} {cab} {r:03d}")
            continue
        ids.append(f"{TYPE_PREFIX[t]}-{d.slug}-{r:04d}")
        if t == HOTEL:
            titles.append(f"{d.name} {HOTEL_AREAS[k % 8]} {int(stars[i])}★ Hotel {r}")
        elif t == TOUR:
            titles.append(f"{d.name} {int(hours[i])}h {TOUR_THEMES[k % 7]} Tour {r}")
        elif t == CAR:
            titles.append(f"{d.name} {CAR_CLASSES[int(car_class[i])].title()} Car Rental {r}")
        else:
            titles.append(f"{d.name} {ATTRACTION_KINDS[k % 7]} {r}")
    return Catalog(
        ids,
        titles,
        item_type,
        dest,
        price,
        price_pct,
        popularity,
        stars,
        origin,
        cabin,
        car_class,
        hours,
    )


def item_vectors(seed: int, cat: Catalog, dim: int) -> FloatArr:
    """Unit vectors = city + type + price-tier directions + noise, so that cosine similarity
    reflects "same place, same kind, similar budget" like a trained embedding would."""
    rng = np.random.default_rng([seed, 3])
    city_dir = rng.normal(size=(len(CITIES), dim))
    type_dir = rng.normal(size=(5, dim))
    price_dir = rng.normal(size=dim)
    v = (
        city_dir[cat.dest]
        + 0.8 * type_dir[cat.item_type]
        + (cat.price_pct - 0.5)[:, None] * 2.0 * price_dir
        + 0.4 * rng.normal(size=(len(cat), dim))
    )
    out: FloatArr = np.round(v / np.linalg.norm(v, axis=1, keepdims=True), 5)
    return out
