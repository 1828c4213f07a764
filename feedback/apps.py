from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"

    def ready(self) -> None:
        # Reasons are remembered per process (feedback.services): a change forgets them here.
        from django.db.models.signals import post_delete, post_save

        from feedback.models import RejectionReason
        from feedback.services import forget_reasons

        post_save.connect(forget_reasons, sender=RejectionReason, dispatch_uid="forget_reasons")
        post_delete.connect(forget_reasons, sender=RejectionReason, dispatch_uid="forget_reasons_d")
