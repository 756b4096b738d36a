"""The per-process cache of business configuration (core/config.py)."""

from core import config
from routing.models import RoutingRule, Skill
from routing.selectors import routing_rules


class Reads:
    def __init__(self):
        self.count = 0

    def __call__(self):
        self.count += 1
        return self.count


def test_a_value_is_read_once_while_it_lasts(settings, monkeypatch):
    settings.BATON_CONFIG_CACHE_S = 5
    clock = [100.0]
    monkeypatch.setattr(config, "monotonic", lambda: clock[0])
    load = Reads()
    assert [config.cached("k", load), config.cached("k", load)] == [1, 1]
    clock[0] = 104.9
    assert config.cached("k", load) == 1
    clock[0] = 105.0  # five seconds old: read again
    assert config.cached("k", load) == 2


def test_zero_seconds_reads_every_time(settings):
    settings.BATON_CONFIG_CACHE_S = 0
    load = Reads()
    assert [config.cached("k", load), config.cached("k", load)] == [1, 2]


def test_a_change_saved_in_this_process_is_seen_at_once(db, settings):
    settings.BATON_CONFIG_CACHE_S = 3600
    assert routing_rules() == []
    rule = RoutingRule.objects.create(name="Billing", keywords="invoice")
    rule.skills.add(Skill.objects.create(name="billing"))  # a many-to-many change counts too
    assert [(r.name, [name for _id, name in r.required]) for r in routing_rules()] == [("Billing", ["billing"])]
    rule.delete()
    assert routing_rules() == []
