"""A local emulator of the ActiveCampaign API v3, for tests and development.

It answers as ActiveCampaign (AC) was seen to answer (docs/activecampaign.md
§11), and where AC's behaviour is undocumented it picks the variant that is
hardest on the client, so a client that passes against the sandbox should
survive the real thing. A few choices are deliberately stricter than AC (a
value matching no option is refused, where AC stores it silently). See
``docs/sandbox.md`` for how to run it and for every such choice.

The sandbox never imports the rest of ``crm_sync``: it exists to check that
code, so it must not share any of it.

Modules, in the order a request meets them:

- ``server``       the ``Sandbox``: HTTP listeners, and the pipeline every API
                   request goes through (auth, rate limit, faults, handler).
- ``faults``       the fault/config object the control API edits.
- ``rate_limit``   sliding-window counters (5 per second, bulk per minute).
- ``api``          the ``/api/3`` endpoints.
- ``schema``       the endpoints that create fields, fieldRels, options,
                   lists and list groups.
- ``replies``      how an endpoint stops early (``Reply``, ``BadRequest``).
- ``webhooks``     ``/webhooks``: registering, listing and deleting webhooks,
                   and masking their URLs in every view.
- ``contact_events`` the changes that fire webhooks (the contact's unsubscribe,
                   subscribe and bounce; the API's list status changes) and
                   the form bodies AC posts for them.
- ``webhook_sender`` the delivery queue and its thread: AC's 5 s timeout, no
                   retry, 410 switches a webhook off; the webhook faults.
- ``bulk_import``  ``/import/bulk_import`` validation and delayed processing.
- ``validation``   email, contact attribute and custom field value rules.
- ``limits``       the table of assumed length limits, and documented limits.
- ``shapes``       AC's JSON shapes for rows and errors.
- ``store``        the SQLite state (the only module that speaks SQL).
- ``seed``         the account's catalog plus decoys, with per-seed ids.
- ``recorder``     the request log and the stats.
- ``control_api``  the ``/_sandbox/`` control endpoints (server side).
- ``page``         the HTML page at ``/``, with a contact's buttons.
- ``control``      ``SandboxControl``, a small client for the control API.
- ``pytest_plugin`` fixtures that start a sandbox for a test session.
"""
