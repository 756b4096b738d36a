import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class KnowledgeConfig(AppConfig):
    name = "knowledge"

    def ready(self):
        from django_q.signals import post_spawn

        post_spawn.connect(_worker_warm, dispatch_uid="knowledge-worker-warm")


def _worker_warm(sender, proc_name, **kwargs):
    """A django-q2 worker loads the embedding model as it starts, not with its
    first question: the customers whose questions a fresh worker took waited the
    1-2 s of loading (bench.realtime's bot reply p99 at 10 msg/s: 2.0 s)."""
    from knowledge.embeddings import embed_array

    try:
        embed_array(["warm up"])
    except Exception:
        logger.exception("could not load the embedding model in %s", proc_name)
