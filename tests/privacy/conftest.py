from tests.analytics.conftest import admin_client, week  # noqa: F401  (the analytics week, for the figures)
