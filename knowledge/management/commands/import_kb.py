from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from knowledge.documents import entries_from_path
from knowledge.services import KbFormatError, entries_upsert, entry_chunks, kb_read_jsonl


class Command(BaseCommand):
    help = (
        "Import knowledge-base entries: a JSON Lines file (one {id, title, questions, body} object a line), "
        "a Markdown, HTML or text article, or a folder of them. Existing entries are updated by id."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="a .jsonl file, an .md/.html/.txt file, or a folder")

    def handle(self, *args, path, **options):
        source = Path(path)
        if not source.exists():
            raise CommandError(f"{path}: no such file or folder")
        try:
            entries = kb_read_jsonl(source) if source.suffix.lower() == ".jsonl" else entries_from_path(source)
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
