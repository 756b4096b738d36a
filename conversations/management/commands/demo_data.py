"""Demo data for `make run`: a help-centre knowledge base and a team to try Baton with.

Idempotent: existing users keep their passwords, and the knowledge base is only
imported when it is empty.
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

import knowledge
from knowledge.models import Entry
from knowledge.services import kb_import_jsonl

DEMO_KB = Path(knowledge.__file__).parent / "fixtures" / "demo_kb.jsonl"
TEAM = [
    # username, first name, password, staff
    ("admin", "Admin", "baton-admin", True),
    ("alice", "Alice", "baton-alice", False),
    ("bob", "Bob", "baton-bob", False),
    ("carol", "Carol", "baton-carol", False),
]


class Command(BaseCommand):
    help = "Create the demo team and knowledge base (skips what already exists)."

    def handle(self, *args, **options):
        User = get_user_model()
        for username, first_name, password, staff in TEAM:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first_name, "is_staff": staff, "is_superuser": staff}
            )
            if created:
                user.set_password(password)
                user.save()
        if not Entry.objects.exists():
            self.stdout.write("Importing the demo knowledge base (embedding every entry once)...")
            kb_import_jsonl(path=DEMO_KB)
        self.stdout.write(self.style.SUCCESS("Demo sign-ins (change them before real use):"))
        for username, _, password, staff in TEAM:
            role = "admin" if staff else "agent"
            self.stdout.write(f"  {username:<6} / {password:<12} ({role})")
