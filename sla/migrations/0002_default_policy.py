from django.db import migrations

from sla.models import DEFAULT_TARGETS


def create_default_policy(apps, schema_editor):
    SLAPolicy = apps.get_model("sla", "SLAPolicy")
    SLATarget = apps.get_model("sla", "SLATarget")
    if SLAPolicy.objects.filter(is_default=True).exists():
        return
    policy = SLAPolicy.objects.create(name="Standard", is_default=True, is_active=True)
    for priority, (first_response, resolution) in DEFAULT_TARGETS.items():
        SLATarget.objects.create(
            policy=policy, priority=priority, first_response_seconds=first_response, resolution_seconds=resolution
        )


class Migration(migrations.Migration):
    dependencies = [("sla", "0001_initial")]

    operations = [migrations.RunPython(create_default_policy, migrations.RunPython.noop)]
