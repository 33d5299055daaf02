"""The embedded broker: kombu's filesystem transport, with messages written atomically.

kombu writes a message straight into the queue folder, so a worker polling
the folder can claim the file between its creation and its first byte, read
an empty message and stop with "Unrecoverable error: JSONDecodeError". Here a
message is written under a name no queue matches, then renamed into place:
a rename is atomic, so a reader sees the whole message or none of it.
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"  # ends in ".part": no queue's reader picks it up
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel

    @property
    def default_connection_params(self):
        # A folder has no host: without this kombu "reverts to 'localhost'" and
        # warns on every connection (the worker, the web app, a cron check).
        return {}
