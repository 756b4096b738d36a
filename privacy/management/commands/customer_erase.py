"""`manage.py customer_erase ID_OR_EXTERNAL_ID --yes`: erase one customer's personal data."""

from django.core.management.base import BaseCommand, CommandError

from privacy import selectors, services


class Command(BaseCommand):
    help = "Erase one customer's personal data (by id or external id); the reports' figures stay."

    def add_arguments(self, parser):
        parser.add_argument("customer", help="the customer's id, or the embedding site's external id")
        parser.add_argument("--yes", action="store_true", help="really erase (there is no undo)")

    def handle(self, *args, customer, yes, **options):
        found = selectors.customer_find(key=customer)
        if found is None:
            raise CommandError(f"No customer {customer!r}.")
        if not yes:
            raise CommandError(f"This erases customer {found.pk} ({found}) for good; add --yes to do it.")
        conversations = found.conversations.count()
        stand_in = services.customer_erase(customer=found)
        self.stdout.write(
            f"Erased customer {found.pk}: {conversations} conversation(s) kept for the reports "
            f"under anonymous customer {stand_in.pk}."
        )
