"""No tables: privacy works on the other apps' rows. The module exists so that
Django sends this app its post_migrate signal (which schedules the retention sweep)."""
