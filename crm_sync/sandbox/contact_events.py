"""What a contact does that fires webhooks, and the events AC sends for it.

Three kinds of change fire events (docs/activecampaign.md §8, §11.2):

- the contact's own actions, made on the sandbox's page or through the
  control API: unsubscribing and subscribing (``initiated_from=public``) and
  a hard bounce of their address (``system``);
- a change of list status through the API (``POST /contactLists``). AC sends
  it to webhooks registered for the ``api`` source and, by the bug AC
  acknowledged (§11.2), to those registered for ``admin`` too, as
  ``initiated_from=admin``. A receiver that leaves ``api`` out still hears
  its own writes.

Every method runs inside the caller's store transaction. The events are
built there, from the state as changed, and handed to the ``WebhookSender``
only once the transaction commits.
"""

import json
import urllib.parse

from .store import now_text
from .webhook_sender import Target

# Which registered sources hear a change, in order of preference: a webhook
# hears it as the first of these its ``sources`` contain.
PUBLIC = ("public",)
SYSTEM = ("system",)
API_CHANGE = ("api", "admin")
SUBSCRIBED, UNSUBSCRIBED = 1, 2


class ContactActionError(Exception):
    """A control action that cannot be done: the control API answers ``status`` with the message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def event_body(event_type, contact, tags, list_id, date_time, initiated_from, extra=()):
    """The form body AC posts: bracketed keys, tags as one comma+space separated string (§8)."""
    pairs = [
        ("type", event_type),
        ("date_time", date_time),
        ("initiated_from", initiated_from),
        # AC does not document initiated_by's values; the sandbox repeats the source.
        ("initiated_by", initiated_from),
        ("list", str(list_id)),
        ("contact[id]", str(contact["id"])),
        ("contact[email]", contact["email"]),
        ("contact[first_name]", contact["first_name"]),
        ("contact[last_name]", contact["last_name"]),
        ("contact[phone]", contact["phone"]),
        ("contact[tags]", ", ".join(tags)),
        *extra,
    ]
    return urllib.parse.urlencode(pairs).encode()


def _hears(webhook, event_type, list_id, origins):
    """The source ``webhook`` hears this event as, or None if it does not hear it."""
    if not webhook["active"] or event_type not in json.loads(webhook["events"]):
        return None
    if webhook["listid"] not in (0, list_id):
        return None
    sources = json.loads(webhook["sources"])
    return next((source for source in origins if source in sources), None)


class ContactEvents:
    """Applies the contact's actions and fires the events they cause, over one ``Store``."""

    def __init__(self, store, sender):
        self.store = store
        self.sender = sender

    # -- the contact's own actions (control API and page) --------------------

    def unsubscribe(self, email, reason="", stringid=None):
        """Unsubscribe from the list ``stringid``, or from every list the contact is subscribed to."""
        contact = self._contact(email)
        memberships = self._memberships(contact, stringid, SUBSCRIBED, create=False)
        extra = (("unsubscribe[reason]", reason),)
        return self._change_status(contact, memberships, UNSUBSCRIBED, "unsubscribe", extra)

    def subscribe(self, email, stringid=None):
        """Subscribe to the list ``stringid`` (joining it if need be), or again to every list left."""
        contact = self._contact(email)
        memberships = self._memberships(contact, stringid, UNSUBSCRIBED, create=True)
        return self._change_status(contact, memberships, SUBSCRIBED, "subscribe", ())

    def bounce(self, email, stringid=None):
        """A hard bounce of the contact's address on the list ``stringid`` or on each list they are subscribed to.

        Nothing is changed in the account: only the event is sent.
        """
        contact = self._contact(email)
        memberships = self._memberships(contact, stringid, SUBSCRIBED, create=False)
        if not memberships:
            raise ContactActionError(400, f"{email} is subscribed to no list: no campaign could have bounced")
        date_time = now_text()
        for membership in memberships:
            self._fire("bounce", contact["id"], membership["list_id"], date_time, SYSTEM, (("bounce[type]", "hard"),))
        return {"contact": str(contact["id"]), "changes": [
            {"list": self.store.get_list(m["list_id"])["stringid"], "date_time": date_time} for m in memberships]}

    def _contact(self, email):
        if not isinstance(email, str) or not email:
            raise ContactActionError(400, "email is required")
        contact = self.store.find_contact_by_email(email)
        if contact is None:
            raise ContactActionError(404, f"no contact with email {email}")
        return contact

    def _memberships(self, contact, stringid, status, create):
        """The memberships an action applies to: the named list's, or every one with ``status``.

        A named list the contact is not on is joined when ``create`` (a
        subscribe), else refused.
        """
        if stringid is None:
            return self.store.subscribed_lists(contact["id"], status)
        if not isinstance(stringid, str):
            raise ContactActionError(400, "list must be a list's stringid")
        mailing_list = self.store.find_list_by_stringid_ci(stringid)
        if mailing_list is None:
            raise ContactActionError(404, f"no list with stringid {stringid}")
        membership = self.store.find_contact_list(contact["id"], mailing_list["id"])
        if membership is None and not create:
            raise ContactActionError(400, f"{contact['email']} is not on the list {stringid}")
        if membership is None:
            return [{"list_id": mailing_list["id"], "sourceid": 0, "status": None}]
        return [membership] if membership["status"] == status else []

    def _change_status(self, contact, memberships, status, event_type, extra):
        changes = []
        for membership in memberships:
            row = self.store.set_contact_list(contact["id"], membership["list_id"], status, membership["sourceid"])
            self.store.touch_contact(contact["id"])
            self._fire(event_type, contact["id"], row["list_id"], row["udate"], PUBLIC, extra)
            changes.append({"list": self.store.get_list(row["list_id"])["stringid"], "status": status,
                            "date_time": row["udate"]})
        return {"contact": str(contact["id"]), "changes": changes}

    # -- the API -------------------------------------------------------------

    def list_status_changed_by_api(self, membership):
        """``POST /contactLists`` changed ``membership``'s status: AC's event, to ``api`` and ``admin`` webhooks."""
        if membership["status"] == SUBSCRIBED:
            event_type, extra = "subscribe", ()
        else:
            event_type, extra = "unsubscribe", (("unsubscribe[reason]", ""),)
        self._fire(event_type, membership["contact_id"], membership["list_id"], membership["udate"], API_CHANGE, extra)

    # -- events --------------------------------------------------------------

    def _fire(self, event_type, contact_id, list_id, date_time, origins, extra):
        """Build the event for every webhook that hears it; queue them once the transaction commits."""
        heard = [(webhook, _hears(webhook, event_type, list_id, origins)) for webhook in self.store.all_webhooks()]
        heard = [(webhook, source) for webhook, source in heard if source]
        if not heard:
            return
        contact = self.store.get_contact(contact_id)
        tag_names = {row["id"]: row["tag"] for row in self.store.all_tags()}
        tags = [tag_names[row["tag_id"]] for row in self.store.contact_tags_for(contact_id)]
        targets = [Target(webhook["id"], webhook["url"], source,
                          event_body(event_type, contact, tags, list_id, date_time, source, extra))
                   for webhook, source in heard]
        event = {"type": event_type, "email": contact["email"], "contact": str(contact_id),
                 "list": str(list_id), "date_time": date_time}
        self.store.on_commit(lambda: self.sender.enqueue(event, targets))
