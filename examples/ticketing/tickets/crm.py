"""How a customer becomes an ActiveCampaign contact: the one table to edit.

crm_sync finds this class through `CRM_SYNC["MAPPING"]`. AC custom fields
are named by perstag (the account's ids differ); these perstags exist in the
AC sandbox's seeded account (crm_sync/sandbox/account-fields.json).
"""
from django.db.models import Q
from django.utils.text import slugify

from crm_sync.mapping import CrmMapping, Field


def conferences(attendee):
    """Every paid-for conference, oldest payment first, one per line."""
    names = []
    for registration in attendee.records:  # confirmed records, the latest last
        if registration.conference not in names:
            names.append(registration.conference)
    return "\n".join(names)


def name_on_badge(attendee):
    customer, latest = attendee.person, attendee.latest
    return latest.name_on_badge or f"{customer.first_name} {customer.last_name}".strip()


class TicketingMapping(CrmMapping):
    """A person is a `Customer`; a paid `Registration` makes them a contact;
    `Customer.marketing_consent` is their consent to be emailed."""

    # Names on the record (Registration) and person (Customer) models.
    person_field = "customer"          # Registration.customer -> Customer
    confirmed_at_field = "paid_at"     # "confirmed" = paid_at is set (the default confirmed_filter)
    changed_at_field = "updated_at"    # auto_now: lets the reconciler find queryset.update()s
    opt_in_field = "marketing_consent"

    # The admin's SyncLog list: shown, filtered and searched on.
    record_event_field = "conference"
    person_search_fields = ("first_name", "last_name")
    record_search_fields = ("conference", "name_on_badge")

    # `a` is an Attendee: a.person (the Customer), a.records (paid
    # registrations, the latest last) and a.latest.
    contact = {
        "firstName": Field("firstName", "text", lambda a: a.person.first_name),
        "lastName": Field("lastName", "text", lambda a: a.person.last_name),
    }
    fields = [
        Field("BADGE_NAME", "text", name_on_badge),
        Field("LAST_EVENT", "text", lambda a: a.latest.conference),
        Field("LAST_BADGE_CONFIRMED", "date", lambda a: a.latest.paid_at),
        Field("EVENTS_ATTENDED", "textarea", conferences),
    ]

    def tags(self, attendee):
        """Tags are only ever added: one per conference and per ticket type bought."""
        tags = {"ticketing"}
        for registration in attendee.records:
            tags.add(f"conference:{slugify(registration.conference)}")
            tags.add(f"ticket:{registration.ticket_type}")
        return sorted(tags)

    def event_filter(self, event):
        """`manage.py resync_crm --event "<conference>"`."""
        return Q(conference=event)
