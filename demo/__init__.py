"""Demo data for `make run`: the team, the knowledge base and the rules of every app.

At the top of the dependency graph: it imports the apps it seeds, nothing imports it
but the tests that want the demo knowledge base."""
