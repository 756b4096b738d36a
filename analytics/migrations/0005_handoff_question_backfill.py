"""Record the handoff questions of the conversations handed off before 0004."""

from django.db import migrations
from django.db.models import OuterRef, Subquery

from analytics.services import question_normalise


def backfill(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    HandoffQuestion = apps.get_model("analytics", "HandoffQuestion")
    last_question = (
        Message.objects.filter(
            conversation=OuterRef("pk"), sender="customer", created_at__lte=OuterRef("handed_off_at")
        )
        .order_by("-seq")
        .values("body")[:1]
    )
    rows = (
        Conversation.objects.filter(handoff_reason="low_confidence", handed_off_at__isnull=False)
        .annotate(question=Subquery(last_question))
        .filter(question__isnull=False)
        .values_list("pk", "question", "handed_off_at")
    )
    batch = []
    for pk, body, handed_off_at in rows.iterator(chunk_size=2000):
        batch.append(HandoffQuestion(conversation_id=pk, text=question_normalise(body), handed_off_at=handed_off_at))
        if len(batch) >= 2000:
            HandoffQuestion.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    HandoffQuestion.objects.bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0004_handoff_question")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
