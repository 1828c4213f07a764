from django.apps import AppConfig


class HandoffConfig(AppConfig):
    name = "handoff"

    def ready(self) -> None:
        # leads cannot import handoff: it calls the hooks registered here when events arrive.
        from handoff import autopromotion
        from leads import hooks

        hooks.on_events_recorded(autopromotion.auto_promote_on_events)

        from handoff.notifications import notify_re_engaged

        # A re-engaged lead's owner is told through the notification outbox (leads cannot
        # write handoff's rows).
        hooks.on_leads_re_engaged(notify_re_engaged)

        from django.contrib.auth.signals import user_logged_in

        from handoff.timezones import remember_at_login

        # The viewer's zone is looked up once, at login, into the session that login saves
        # anyway: a page then pays no query for it (handoff.timezones).
        user_logged_in.connect(remember_at_login, dispatch_uid="handoff.timezones.login")
