"""`manage.py customer_export ID_OR_EXTERNAL_ID [-o FILE]`: one customer's data as JSON."""

import json

from django.core.management.base import BaseCommand, CommandError

from privacy import selectors


class Command(BaseCommand):
    help = "Write everything Baton holds about one customer (by id or external id) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("customer", help="the customer's id, or the embedding site's external id")
        parser.add_argument("-o", "--output", help="file to write (default: standard output)")

    def handle(self, *args, customer, output, **options):
        found = selectors.customer_find(key=customer)
        if found is None:
            raise CommandError(f"No customer {customer!r}.")
        text = json.dumps(selectors.customer_export(customer=found), indent=2, ensure_ascii=False)
        if output:
            with open(output, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            self.stderr.write(f"Wrote customer {found.pk} to {output}.")
        else:
            self.stdout.write(text)
