# The AC sandbox's fixtures (ac_sandbox, ac_sandbox_server), as any project using crm_sync would enable them.
pytest_plugins = ["crm_sync.sandbox.pytest_plugin"]
