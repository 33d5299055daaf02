"""ActiveCampaign as a CRM backend (the `crm_sync.crm.CrmBackend` protocol):
the live sync's operations, with AC's quirks handled here and nowhere else.

It is given a client and a catalog (`catalog.AccountCatalog`) and keeps no
state of its own beyond them. The quirks are documented in
docs/activecampaign.md.
"""
import re
from urllib.parse import urlsplit

from ..crm import Upserted
from ..errors import BadResponse, Conflict, ContactGone, NotFound, ValidationFailed
from .client import is_loopback
from .payloads import SUBSCRIBED, contact_body, contact_list_body, contact_tag_body


class ActiveCampaignBackend:
    def __init__(self, client, catalog, list_stringid):
        self.client = client
        self.catalog = catalog
        self.list_stringid = list_stringid

    def close(self):
        self.client.close()

    # -- contacts ------------------------------------------------------------
    def upsert_contact(self, payload, *, contact_id="", previous_email=""):
        """Create or update the contact with every value of `payload` in one
        call. Returns Upserted."""
        try:
            return self._upsert_once(payload, contact_id, previous_email)
        except ValidationFailed as error:
            # A stored field id AC no longer knows: read the fields again once.
            if self.catalog.fields_fresh or "field" not in str(error).lower():
                raise
            self.catalog.forget_fields()
            return self._upsert_once(payload, contact_id, previous_email)

    def _upsert_once(self, payload, contact_id, previous_email):
        body = contact_body(payload, self.catalog.field_ids(payload.fields))
        email_changed = bool(previous_email) and previous_email != payload.email
        if email_changed and not contact_id:
            # Imported in bulk: AC gave no id. Find the contact by the email it has.
            contact_id = self.find_contact(previous_email)
        if email_changed and contact_id:
            # contact/sync matches on email, so it would make a second
            # contact; update ours by id instead.
            try:
                answer = self.client.request("PUT", f"/contacts/{contact_id}", json_body=body)
                return Upserted(self._contact_id(answer), created=False)
            except NotFound:
                contact_id = ""  # deleted in AC: contact/sync creates it again
            except ValidationFailed as error:
                if "exist" in str(error).lower() or "duplicate" in str(error).lower():
                    raise Conflict(
                        f"{payload.email} already belongs to another AC contact; nothing was merged "
                        f"(AC said: {error})", status=error.status, body=error.body,
                    ) from error
                raise
        answer = self.client.request("POST", "/contact/sync", json_body=body)
        return Upserted(self._contact_id(answer), created=answer.status == 201 and not contact_id)

    @staticmethod
    def _contact_id(answer):
        try:
            return str(answer.body["contact"]["id"])
        except (KeyError, TypeError) as error:
            raise BadResponse(f"AC's answer to the contact update has no contact id: {str(answer.body)[:200]}",
                              status=answer.status) from error

    def find_contact(self, email):
        """The id of the contact AC holds under `email`, or ""."""
        found = self.client.get("/contacts", email=email).get("contacts") or []
        return str(found[0]["id"]) if found else ""

    def erase(self, contact_id):
        """Delete the contact. One AC no longer has counts as erased."""
        try:
            self.client.request("DELETE", f"/contacts/{contact_id}")
        except NotFound:
            pass

    # -- tags ------------------------------------------------------------------
    def tags_of(self, contact_id, names):
        """Those of `names` the contact already has (one paged read)."""
        attached = {
            str(item.get("tag"))
            for item in self.client.get_all(f"/contacts/{contact_id}/contactTags", "contactTags")["contactTags"]
        }
        return [name for name in names if self.catalog.tag_id(name) in attached]

    def add_tag(self, contact_id, name):
        """Attach one tag, creating it in the account if needed."""
        for first_try in (True, False):
            tag_id = self.catalog.tag_id(name)
            try:
                self.client.post("/contactTags", contact_tag_body(contact_id, tag_id))
                return
            except NotFound as error:
                if not first_try:
                    raise ContactGone(f"AC contact {contact_id} no longer exists; it will be created again",
                                      status=error.status, body=error.body) from error
                self.catalog.forget_tag(name)  # the tag was deleted in AC: look it up again
            except ValidationFailed as error:
                # AC's answer to a tag the contact already has varies: take
                # "already there" as done.
                text = str(error).lower()
                if "already" in text or "duplicate" in text or "exists" in text:
                    return
                raise

    # -- the list --------------------------------------------------------------
    def set_list_status(self, contact_id, status, *, resubscribe=False):
        """Subscribe (1) or unsubscribe (2) the contact on the configured list.
        `resubscribe`: they were unsubscribed before, which AC accepts only
        with a source id saying so."""
        list_id = self.catalog.list_id(self.list_stringid)
        self.client.post("/contactLists", contact_list_body(
            list_id, contact_id, status, resubscribe=resubscribe and status == SUBSCRIBED))


# AC's API host for an account, e.g. `acme.api-us1.com`; its web app lives at `acme.activehosted.com`.
API_HOST = re.compile(r"\.api-us\d+\.com$")


def contact_url(account_url, contact_id):
    """Where staff see a contact in AC's web app: `{account web URL}/app/contacts/{id}`,
    the web URL being the API URL with `.api-usN.com` turned into `.activehosted.com`.
    For the loopback sandbox, its root page (it lists every contact). None if unknown."""
    if not (account_url and contact_id):
        return None
    parts = urlsplit(account_url)
    if not parts.hostname:
        return None
    if is_loopback(parts.hostname):
        return f"{parts.scheme}://{parts.netloc}/"
    return f"https://{API_HOST.sub('.activehosted.com', parts.hostname)}/app/contacts/{contact_id}"
