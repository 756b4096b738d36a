"""Demo data for `make run`: a help-centre knowledge base and a team to try Baton with.

Seeds an empty database only (no users, no knowledge-base entries), once: a user an
admin deleted or changed afterwards is never made again, and nobody gets a password
anyone else knows (each is random, printed once). Refuses to run in production.
"""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
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
    # username, first name, staff, skills
    ("admin", "Admin", True, []),
    ("alice", "Alice", False, ["billing", "technical"]),
    ("bob", "Bob", False, ["technical"]),
    ("carol", "Carol", False, ["billing", "technical", "german"]),
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
    help = "Seed an empty database with the demo team, its skills and rules, and the knowledge base."

    def _team(self) -> dict[str, str]:
        """The team with fresh random passwords, which are returned (and shown once)."""
        User = get_user_model()
        skills = {name: Skill.objects.get_or_create(name=name)[0] for *_, names in TEAM for name in names}
        passwords = {}
        for username, first_name, staff, names in TEAM:
            passwords[username] = secrets.token_urlsafe(12)
            User.objects.create_user(
                username,
                password=passwords[username],
                first_name=first_name,
                is_staff=staff,
                is_superuser=staff,
            )
            if names:
                agent_profile_for(User.objects.get(username=username)).skills.set([skills[n] for n in names])
        for name, conditions, skill in ROUTING_RULES:
            RoutingRule.objects.create(name=name, **conditions).skills.set([skills[skill]])
        PriorityRule.objects.create(name="VIP customers", position=10, priority=Conversation.Priority.P1, segment="vip")
        return passwords

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("BATON_PRODUCTION=1: demo data (with its demo admin) is never loaded in production.")
        if get_user_model().objects.exists() or Entry.objects.exists():
            self.stdout.write(
                "The database has users or knowledge already: demo data is only loaded into an empty one"
                " (its sign-ins were shown then; `manage.py changepassword USER` sets a new password)."
            )
            return
        self.stdout.write("Importing the demo knowledge base (embedding every entry once)...")
        # One transaction: a failed import leaves the database empty, to be seeded next time.
        with transaction.atomic():
            passwords = self._team()
            kb_import_jsonl(path=DEMO_KB)
        self.stdout.write(self.style.SUCCESS("Demo sign-ins (shown only now; change them in admin):"))
        for username, _, staff, names in TEAM:
            role = "admin" if staff else f"agent: {', '.join(names)}"
            self.stdout.write(f"  {username:<6} / {passwords[username]:<16} ({role})")
