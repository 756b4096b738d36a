"""Demo data for `make run`: a help-centre knowledge base and a team to try Baton with.

Idempotent: existing users keep their passwords, the knowledge base is only
imported when it is empty, agents who have skills keep them, and routing and
priority rules are only added when there are none.
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

import knowledge
from conversations.models import Conversation
from knowledge.models import Entry
from knowledge.services import kb_import_jsonl
from routing.models import RoutingRule, Skill
from routing.services import agent_profile_for
from sla.models import PriorityRule

DEMO_KB = Path(knowledge.__file__).parent / "fixtures" / "demo_kb.jsonl"
TEAM = [
    # username, first name, password, staff, skills
    ("admin", "Admin", "baton-admin", True, []),
    ("alice", "Alice", "baton-alice", False, ["billing", "technical"]),
    ("bob", "Bob", "baton-bob", False, ["technical"]),
    ("carol", "Carol", "baton-carol", False, ["billing", "technical", "german"]),
]
# What routing asks skills for; one agent signed in on their own still gets
# almost everything (Alice has both common skills), so the demo never stalls.
ROUTING_RULES = [
    # name, conditions, skill
    ("Billing questions", {"category": "billing"}, "billing"),
    ("Something is broken", {"keywords": "error, crash, bug, not working"}, "technical"),
    ("German-speaking customers", {"language": "de"}, "german"),
]


class Command(BaseCommand):
    help = "Create the demo team, its skills and rules, and the knowledge base (skips what already exists)."

    @transaction.atomic
    def _team(self) -> None:
        User = get_user_model()
        skills = {name: Skill.objects.get_or_create(name=name)[0] for *_, names in TEAM for name in names}
        for username, first_name, password, staff, names in TEAM:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first_name, "is_staff": staff, "is_superuser": staff}
            )
            if created:
                user.set_password(password)
                user.save()
            if names and not (profile := agent_profile_for(user)).skills.exists():
                profile.skills.set([skills[name] for name in names])
        if not RoutingRule.objects.exists():
            for name, conditions, skill in ROUTING_RULES:
                RoutingRule.objects.create(name=name, **conditions).skills.set([skills[skill]])
        if not PriorityRule.objects.exists():
            PriorityRule.objects.create(
                name="VIP customers", position=10, priority=Conversation.Priority.P1, segment="vip"
            )

    def handle(self, *args, **options):
        self._team()
        if not Entry.objects.exists():
            self.stdout.write("Importing the demo knowledge base (embedding every entry once)...")
            kb_import_jsonl(path=DEMO_KB)
        self.stdout.write(self.style.SUCCESS("Demo sign-ins (change them before real use):"))
        for username, _, password, staff, _names in TEAM:
            skills = Skill.objects.filter(agents__user__username=username).values_list("name", flat=True)
            role = "admin" if staff else f"agent: {', '.join(skills) or 'no skills'}"
            self.stdout.write(f"  {username:<6} / {password:<12} ({role})")
