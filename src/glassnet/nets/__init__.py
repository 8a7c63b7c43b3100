"""The three families as plain torch modules. Importing this package registers every net:
each module of it that calls `register_net("...")` (a new net is a new module)."""

from glassnet.discovery import import_declaring
from glassnet.nets._registry import (
    create_net,
    get_net_entry,
    list_nets,
    net_config,
    register_net,
)

import_declaring(__name__, 'register_net("')

__all__ = ["create_net", "get_net_entry", "list_nets", "net_config", "register_net"]
