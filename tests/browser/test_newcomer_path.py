"""The newcomer's path, in a real browser, reading what each page says: sign
up, make a badge with a phone number that is not one, see the page refuse it
with an example, fix it, confirm, edit the confirmed badge, withdraw the
opt-in. A full-page screenshot of each step goes to NEWCOMER_SCREENSHOTS
(default artifacts/screenshots/newcomer/, 01-signup.png onwards); a real worker
syncs to the AC sandbox, which ends up holding what the pages promised."""
import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import re_path
from django.views.static import serve
from PIL import Image, ImageDraw

from badgemaker.urls import urlpatterns as site_urlpatterns
from crm_sync.models import ConsentRecord
from tests.factories import EventFactory
from tests.processes import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "grace.hopper@example.com"
EXAMPLE = "for example +44 7400 123456"
NOT_A_NUMBER = f"This isn't a phone number we can use. Enter a number with its country code, {EXAMPLE}."


def serve_media(request, path):
    return serve(request, path, document_root=django_settings.MEDIA_ROOT)


# The site's URLs, and the uploaded photos (Django serves them only with DEBUG on, which tests turn off).
urlpatterns = site_urlpatterns + [re_path(r"^media/(?P<path>.*)$", serve_media)]


class Screenshots:
    """Numbered full-page screenshots, in the order the newcomer sees the pages."""

    def __init__(self, page):
        self.page = page
        self.folder = Path(os.environ.get("NEWCOMER_SCREENSHOTS") or ROOT / "artifacts" / "screenshots" / "newcomer")
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("[0-9][0-9]-*.png"):
            old.unlink()
        self.taken = 0

    def take(self, name):
        self.taken += 1
        self.page.screenshot(path=str(self.folder / f"{self.taken:02d}-{name}.png"), full_page=True)


def text_of(page):
    """What the attendee reads: the page's visible text, white space as one space."""
    return " ".join(page.inner_text("main").split())


def field_errors(page, name):
    return page.locator(f".field:has([name={name}]) .errorlist").inner_text().strip()


def a_photo(path):
    image = Image.new("RGB", (320, 320), "#2f5bea")
    ImageDraw.Draw(image).ellipse((60, 60, 260, 260), fill="#ffd166")
    image.save(path)
    return path


def wait_for_contact(sandbox, predicate, worker):
    contact = wait_for(lambda: (c := sandbox.control.contact(EMAIL)) and predicate(c) and c, timeout=30)
    assert contact, (sandbox.control.contact(EMAIL), worker.output()[-3000:])
    return contact


def test_the_newcomers_path_reads_right_at_every_step(page, live_server, worker, ac_sandbox, settings, tmp_path):
    settings.ROOT_URLCONF = __name__
    settings.MEDIA_ROOT = tmp_path / "media"
    EventFactory(name="PyCon Demo 2026", slug="pycon-demo-2026", starts_on="2027-01-20")
    shots = Screenshots(page)
    photo = a_photo(tmp_path / "me at PyCon.png")

    # Sign up, on the way to the badge page.
    page.goto(f"{live_server.url}/accounts/signup/?next=/events/pycon-demo-2026/badge/")
    assert "Create your account" in text_of(page)
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=first_name]", "Grace")
    page.fill("input[name=last_name]", "Hopper")
    page.fill("input[name=password1]", "a long demo password")
    page.fill("input[name=password2]", "a long demo password")
    shots.take("signup")
    page.get_by_role("button", name="Sign up").click()

    # The badge page, with two phone numbers that are not valid numbers.
    page.wait_for_url("**/events/pycon-demo-2026/badge/")
    assert "Your badge for PyCon Demo 2026" in text_of(page)
    assert text_of(page).count("For example +44 7400 123456") == 2  # said before anything is typed
    page.fill("input[name=phone]", "07700 900123")
    page.fill("input[name=emergency_contact_name]", "Howard Aiken")
    page.fill("input[name=emergency_contact_phone]", "+44 7700 900456")
    page.fill("input[name=badge_name]", "Amazing Grace")
    page.set_input_files("input[name=profile_image]", str(photo))
    page.check("input[name=dietary_preferences][value=vegetarian]")
    page.check("input[name=volunteer_interests][value=speaker_support]")
    page.fill("textarea[name=dietary_requirements]", "No mushrooms\nNo olives")
    page.check("input[name=crm_opt_in]")
    shots.take("badge-form")
    page.get_by_role("button", name="Save and review").click()

    # Refused, on both fields, with an example of a number that works; the photo must be chosen again.
    page.wait_for_load_state()
    assert page.url.endswith("/events/pycon-demo-2026/badge/")
    assert "Please check the highlighted fields below." in text_of(page)
    assert field_errors(page, "phone") == NOT_A_NUMBER
    assert field_errors(page, "emergency_contact_phone") == NOT_A_NUMBER
    assert "Please choose your photo again" in text_of(page)
    assert page.input_value("input[name=badge_name]") == "Amazing Grace"  # the rest is kept
    shots.take("phone-refused")

    page.fill("input[name=phone]", "020 7946 0018")
    page.fill("input[name=emergency_contact_phone]", "+44 20 7946 0019")
    page.set_input_files("input[name=profile_image]", str(photo))
    page.get_by_role("button", name="Save and review").click()

    # Review: the badge, and the choice about emails.
    page.wait_for_url("**/badge/review/")
    review = text_of(page)
    assert "This is how your badge for PyCon Demo 2026 will look." in review
    assert "Amazing Grace" in review and "Vegetarian" in review and "Speaker support" in review
    assert "Emails from the organisers Yes: the organisers may email you about this and future events." in review
    shots.take("review")
    page.get_by_role("button", name="Confirm my badge").click()

    page.wait_for_url("**/badge/confirmed/")
    confirmed = text_of(page)
    assert "Your badge is confirmed" in confirmed
    assert "We'll keep you posted about PyCon Demo 2026." in confirmed
    shots.take("confirmed")
    contact = wait_for_contact(ac_sandbox, lambda c: c["lists"].get("badge-maker-attendees") == 1, worker)
    assert contact["phone"] == "+442079460018"
    assert contact["fields"]["EMERGENCY_CONTACT_PHONE"] == "+442079460019"
    assert contact["fields"]["DIETARY_REQUIREMENTS"] == "No mushrooms\nNo olives"
    assert contact["fields"]["BADGE_IMAGE_URL"].endswith(".png")

    # Edit the confirmed badge: saved at once, and the page says so.
    page.get_by_role("link", name="Edit my badge").click()
    page.wait_for_url("**/events/pycon-demo-2026/badge/")
    editing = text_of(page)
    assert "Your badge is confirmed. Changes you save here are kept at once; there is nothing to confirm again." \
        in editing
    assert "Your photo now" in editing and "Remove this photo" in editing
    assert page.locator(".photo-thumb").evaluate("img => img.naturalWidth") > 0  # the photo itself, shown
    page.fill("input[name=badge_name]", "Grace Hopper")
    shots.take("edit-confirmed-badge")
    page.get_by_role("button", name="Save changes").click()

    page.wait_for_url("**/badge/confirmed/")
    saved = text_of(page)
    assert ("Your changes are saved. Your badge stays confirmed; the organisers' records are updated in the "
            "background.") in saved
    assert "confirm again" not in saved and "Grace Hopper" in saved
    assert "We'll keep you posted about PyCon Demo 2026." in saved
    shots.take("changes-saved")
    wait_for_contact(ac_sandbox, lambda c: c["fields"].get("BADGE_NAME") == "Grace Hopper", worker)

    # Withdraw the opt-in.
    page.get_by_role("link", name="Edit my badge").click()
    page.wait_for_url("**/events/pycon-demo-2026/badge/")
    page.uncheck("input[name=crm_opt_in]")
    shots.take("withdraw-opt-in")
    page.get_by_role("button", name="Save changes").click()

    page.wait_for_url("**/badge/confirmed/")
    withdrawn = text_of(page)
    assert "Your changes are saved. Your badge stays confirmed" in withdrawn
    # Taken off by the worker now, or already (whichever the page met).
    assert ("You've withdrawn your agreement to emails, so we're taking you off our mailing list." in withdrawn
            or "You've withdrawn your agreement to emails, so you're no longer on our mailing list." in withdrawn)
    assert "didn't opt in" not in withdrawn and "keep you posted" not in withdrawn
    shots.take("opt-in-withdrawn")
    contact = wait_for_contact(ac_sandbox, lambda c: c["lists"].get("badge-maker-attendees") == 2, worker)
    assert contact["fields"]["BADGE_NAME"] == "Grace Hopper"
    assert ConsentRecord.objects.filter(person__email=EMAIL, opted_in=False, source="badge_page").exists()

    # Later, the review page and the confirmation still say where they stand.
    page.goto(f"{live_server.url}/events/pycon-demo-2026/badge/review/")
    later = text_of(page)
    assert "Emails from the organisers No: the organisers won't email you." in later
    assert "Confirm my badge" not in later and "nothing to confirm again" in later
    shots.take("review-after-withdrawing")
    page.goto(f"{live_server.url}/events/pycon-demo-2026/badge/confirmed/")
    assert "You've withdrawn your agreement to emails, so you're no longer on our mailing list." in text_of(page)
    assert shots.taken == 10
