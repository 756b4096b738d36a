from django.db import migrations


def schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="routing-tick",
        defaults={"func": "routing.tasks.tick", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="routing-tick").delete()


class Migration(migrations.Migration):
    """The minute-by-minute backstop of routing's timers (see docs/concurrency.md)."""

    dependencies = [
        ("routing", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
