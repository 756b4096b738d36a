"""ASGI entry point: HTTP through Django, websockets through Channels.

Origins are checked against ALLOWED_HOSTS before any consumer runs; each
consumer then checks permission in ``connect()`` before accepting. At start-up
(ASGI lifespan) the process starts what it runs beside its sockets: the watch over
its live stream and the timers (``core.live``); a server without lifespan
events starts them with its first socket.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from conversations.ws_urls import websocket_urlpatterns  # noqa: E402
from core import live  # noqa: E402
from core.bodylimit import BodyLimit  # noqa: E402


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            live.process_start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        # Bodies past BATON_MAX_REQUEST_BYTES are refused before Django reads them.
        "http": BodyLimit(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        "lifespan": lifespan,
    }
)
