"""Tasks of the knowledge base (queued with ``core.tasks.task_enqueue``)."""

from knowledge.retrieval import live_matrix


def classifier_build() -> None:
    """Train the entry classifier for the current chunks and store it
    (``ClassifierSnapshot``), unless it is stored already: processes then load it."""
    live_matrix().scorer  # noqa: B018 - loads the stored classifier, or trains and stores it
