from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from knowledge.services import KbFormatError, entries_upsert, entry_chunks, kb_read_jsonl


class Command(BaseCommand):
    help = "Import a knowledge base from a JSON Lines file (one {id, title, questions, body} object a line)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the .jsonl file")

    def handle(self, *args, path, **options):
        try:
            entries = kb_read_jsonl(path)
        except FileNotFoundError:
            raise CommandError(f"{path}: no such file") from None
        except KbFormatError as e:
            raise CommandError(str(e)) from None
        total = sum(len(entry_chunks(e)) for e in entries)
        with tqdm(total=total, unit="chunk", desc="Embedding", disable=options["verbosity"] == 0) as bar:
            result = entries_upsert(entries=entries, progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(entries)} entries: {result.created} created, {result.updated} updated, "
                f"{result.unchanged} unchanged; {result.chunks_embedded} chunks embedded."
            )
        )
