"""The three families as plain torch modules. Importing this package registers every net."""

from glassnet.nets import asr, cnn, det, mlp, rnn, seq  # noqa: F401  (registers every net)
from glassnet.nets._registry import (
    create_net,
    get_net_entry,
    list_nets,
    net_config,
    register_net,
)

__all__ = ["create_net", "get_net_entry", "list_nets", "net_config", "register_net"]
