"""The fake AC account for unit tests: a `responses`-based stand-in for AC
at the HTTP boundary, the one every unit test that needs AC uses (through
the `fake_ac` fixture, tests/conftest.py).

It answers with the shapes AC documents (docs/activecampaign.md) and records every call, so
a test can assert the exact requests a sync made. Integration and end-to-end
tests use the AC sandbox (crm_sync.sandbox) over real sockets instead.
"""
import json
import re
import secrets
from urllib.parse import parse_qs, urlsplit

from badgemaker.badges.models import DIETARY_CHOICES, VOLUNTEER_CHOICES

AC_URL = "https://badgemaker.api-us1.com"
# A fresh random key per run, long enough that finding it anywhere is no accident.
API_KEY = secrets.token_urlsafe(36)
BASE = AC_URL + "/api/3"
PERSTAGS = {
    "DATE_OF_BIRTH": "date", "DIETARY_PREFERENCES": "checkbox", "DIETARY_REQUIREMENTS": "textarea",
    "VOLUNTEER_INTERESTS": "checkbox", "TWITTER": "text", "INSTAGRAM": "text", "FACEBOOK": "text",
    "LINKEDIN": "text", "TIKTOK": "text", "BADGE_NAME": "text", "BADGE_IMAGE_URL": "text",
    "EMERGENCY_CONTACT_NAME": "text", "EMERGENCY_CONTACT_PHONE": "text", "EVENTS_ATTENDED": "textarea",
    "LAST_EVENT": "text", "LAST_BADGE_CONFIRMED": "date", "BADGEMAKER_USER_ID": "hidden",
}
FIELD_IDS = {perstag: str(40 + i) for i, perstag in enumerate(PERSTAGS)}
# The checkbox fields' options, value and label alike (the sandbox's differ, as in real accounts).
FIELD_OPTIONS = [
    {"id": f"{FIELD_IDS[perstag]}{n}", "field": FIELD_IDS[perstag], "value": label, "label": label}
    for perstag, choices in (("DIETARY_PREFERENCES", DIETARY_CHOICES), ("VOLUNTEER_INTERESTS", VOLUNTEER_CHOICES))
    for n, (_, label) in enumerate(choices)
]
LIST_ID = "7"


class FakeAC:
    """AC as `rsps` (a responses.RequestsMock) answers it: contacts, tags,
    the account's fields and lists. `sync_status` forces /contact/sync's status;
    `delete_reply` forces DELETE /contacts/{id}'s answer, `deleted` lists what it deleted."""

    def __init__(self, rsps):
        self.rsps = rsps
        self.contacts = {}  # id -> email
        self.tags = {"1": "badge-maker-2019"}  # a decoy that contains our tag's name
        self.contact_tags = {}  # contact id -> set of tag ids
        self.next_id = 500
        self.sync_status = None  # force 200/201
        self.field_values = {}  # contact id -> {field id: value}, as contact/sync set them
        self.contact_lists = {}  # contact id -> {list id: status}
        self.deleted = []  # contact ids, in the order DELETE /contacts/{id} removed them
        self.delete_reply = None  # (status, body) to answer DELETE /contacts/{id} with instead
        self._register()

    # -- inspection ----------------------------------------------------------
    def calls(self, method=None, path=None):
        found = []
        for call in self.rsps.calls:
            request = call.request
            url = urlsplit(request.url)
            short = url.path[len("/api/3"):]
            if method and request.method != method:
                continue
            if path and not re.fullmatch(path, short):
                continue
            body = json.loads(request.body) if request.body else None
            found.append((request.method, short, body))
        return found

    # -- canned answers ------------------------------------------------------
    def _register(self):
        r = self.rsps
        r.add_callback("GET", BASE + "/fields", callback=self._fields)
        r.add_callback("GET", BASE + "/lists", callback=self._lists)
        r.add_callback("GET", BASE + "/tags", callback=self._search_tags)
        r.add_callback("POST", BASE + "/tags", callback=self._create_tag)
        r.add_callback("POST", BASE + "/contact/sync", callback=self._sync)
        r.add_callback("PUT", re.compile(re.escape(BASE) + r"/contacts/\d+"), callback=self._put)
        r.add_callback("GET", re.compile(re.escape(BASE) + r"/contacts/\d+/contactTags"), callback=self._read_tags)
        r.add_callback("POST", BASE + "/contactTags", callback=self._tag)
        r.add_callback("POST", BASE + "/contactLists", callback=self._list_status)
        # Erasure and subject access (crm_sync/erasure.py).
        r.add_callback("GET", BASE + "/contacts", callback=self._find_contacts)
        one_contact = re.escape(BASE) + r"/contacts/(\d+)"
        r.add_callback("GET", re.compile(one_contact + r"(\?.*)?$"), callback=self._get_contact)
        r.add_callback("DELETE", re.compile(one_contact + r"(\?.*)?$"), callback=self._delete_contact)
        r.add_callback("GET", re.compile(one_contact + r"/fieldValues"), callback=self._read_field_values)
        r.add_callback("GET", re.compile(one_contact + r"/contactLists"), callback=self._read_lists)
        r.add_callback("GET", re.compile(re.escape(BASE) + r"/tags/\d+"), callback=self._get_tag)

    def _json(self, status, body):
        return status, {"Content-Type": "application/json"}, json.dumps(body)

    def _fields(self, request):
        fields = [{"id": FIELD_IDS[p], "perstag": p, "title": p.title(), "type": t,
                   "options": [option["id"] for option in FIELD_OPTIONS if option["field"] == FIELD_IDS[p]]}
                  for p, t in PERSTAGS.items()]
        fields.append({"id": "99", "perstag": "BADGE_NAME_OLD", "title": "Badge name (old)", "type": "text", "options": []})
        return self._json(200, {"fields": fields, "fieldOptions": FIELD_OPTIONS, "meta": {"total": str(len(fields))}})

    def _lists(self, request):
        lists = [{"id": "6", "stringid": "badge-maker-attendees-old", "name": "Old"},
                 {"id": LIST_ID, "stringid": "badge-maker-attendees", "name": "Badge Maker Attendees"}]
        return self._json(200, {"lists": lists, "meta": {"total": "2"}})

    def _search_tags(self, request):
        term = parse_qs(urlsplit(request.url).query).get("search", [""])[0].lower()
        found = [{"id": i, "tag": name, "tagType": "contact"} for i, name in self.tags.items() if term in name.lower()]
        return self._json(200, {"tags": found, "meta": {"total": str(len(found))}})

    def _create_tag(self, request):
        name = json.loads(request.body)["tag"]["tag"]
        self.next_id += 1
        self.tags[str(self.next_id)] = name
        return self._json(201, {"tag": {"id": str(self.next_id), "tag": name, "tagType": "contact"}})

    def _sync(self, request):
        email = json.loads(request.body)["contact"]["email"]
        values = json.loads(request.body)["contact"].get("fieldValues") or []
        existing = next((i for i, e in self.contacts.items() if e.lower() == email.lower()), None)
        if existing is None:
            self.next_id += 1
            existing = str(self.next_id)
            self.contacts[existing] = email
            status = 201
        else:
            status = 200
        self.field_values.setdefault(existing, {}).update({str(value["field"]): value["value"] for value in values})
        return self._json(self.sync_status or status, {"contact": {"id": existing, "email": email}, "fieldValues": []})

    def _put(self, request):
        contact_id = request.url.rstrip("/").split("/")[-1]
        email = json.loads(request.body)["contact"]["email"]
        if any(e.lower() == email.lower() and i != contact_id for i, e in self.contacts.items()):
            return self._json(422, {"errors": [{"title": "Email address already exists in the system",
                                                "detail": "", "code": "duplicate",
                                                "source": {"pointer": "/data/attributes/email"}}]})
        self.contacts[contact_id] = email
        return self._json(200, {"contact": {"id": contact_id, "email": email}})

    def _read_tags(self, request):
        contact_id = request.url.split("/contacts/")[1].split("/")[0]
        items = [{"contact": contact_id, "tag": t, "id": f"{contact_id}{t}"} for t in self.contact_tags.get(contact_id, ())]
        return self._json(200, {"contactTags": items, "meta": {"total": str(len(items))}})

    def _tag(self, request):
        body = json.loads(request.body)["contactTag"]
        self.contact_tags.setdefault(str(body["contact"]), set()).add(str(body["tag"]))
        return self._json(201, {"contactTag": {"contact": body["contact"], "tag": body["tag"], "id": "900"}})

    def _list_status(self, request):
        body = json.loads(request.body)["contactList"]
        self.contact_lists.setdefault(str(body["contact"]), {})[str(body["list"])] = int(body["status"])
        return self._json(200, {"contactList": {**body, "sdate": "2026-11-27T10:00:00-06:00"}})

    # -- erasure and subject access ----------------------------------------------
    @staticmethod
    def _contact_id_of(request):
        return request.url.split("/contacts/")[1].split("/")[0].split("?")[0]

    def _missing(self, contact_id):
        return self._json(404, {"message": f"No Result found for Subscriber with id {contact_id}"})

    def _find_contacts(self, request):
        email = parse_qs(urlsplit(request.url).query).get("email", [""])[0].lower()
        found = [{"id": i, "email": e} for i, e in self.contacts.items() if not email or e.lower() == email]
        return self._json(200, {"contacts": found, "meta": {"total": str(len(found))}})

    def _get_contact(self, request):
        contact_id = self._contact_id_of(request)
        if contact_id not in self.contacts:
            return self._missing(contact_id)
        contact = {"id": contact_id, "email": self.contacts[contact_id], "firstName": "Ada", "lastName": "Lovelace",
                   "phone": "", "links": {"contactTags": f"{BASE}/contacts/{contact_id}/contactTags"},
                   "fieldValues": list(self.field_values.get(contact_id, {}))}
        return self._json(200, {"contact": contact})

    def _delete_contact(self, request):
        contact_id = self._contact_id_of(request)
        if self.delete_reply is not None:
            return self._json(*self.delete_reply)
        if self.contacts.pop(contact_id, None) is None:
            return self._missing(contact_id)
        self.deleted.append(contact_id)
        return self._json(200, {})

    def _read_field_values(self, request):
        contact_id = self._contact_id_of(request)
        items = [{"contact": contact_id, "field": field, "value": value, "id": f"{contact_id}{field}"}
                 for field, value in self.field_values.get(contact_id, {}).items()]
        return self._json(200, {"fieldValues": items, "meta": {"total": str(len(items))}})

    def _read_lists(self, request):
        contact_id = self._contact_id_of(request)
        items = [{"contact": contact_id, "list": list_id, "status": str(status), "id": f"{contact_id}{list_id}"}
                 for list_id, status in self.contact_lists.get(contact_id, {}).items()]
        return self._json(200, {"contactLists": items, "meta": {"total": str(len(items))}})

    def _get_tag(self, request):
        tag_id = request.url.rstrip("/").split("/")[-1]
        if tag_id not in self.tags:
            return self._json(404, {"message": f"No Result found for Tag with id {tag_id}"})
        return self._json(200, {"tag": {"id": tag_id, "tag": self.tags[tag_id], "tagType": "contact"}})
