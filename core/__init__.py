"""The shared kernel every app builds on: database helpers, the outbox, tasks,
the timers, the live stream, configuration cache, rate limits, headers, environment
parsing and secrets (docs/architecture.md). No app imports from here upward."""
