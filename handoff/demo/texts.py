"""What the people of the demo story write: return reasons with their effect on the lead, BANT
answers, reps' questions, marketers' notes."""

from __future__ import annotations

# The feedback app's default reasons (feedback.taxonomy): code -> (lead effect, cooldown days,
# a note). The feedback demo attaches its ReturnFeedback rows to these returns.
RETURNS = {
    "not-icp": ("disqualify", 0, "Agency reselling to one client; not a buyer."),
    "no-budget": ("recycle", 90, "Budget frozen until next fiscal year."),
    "not-ready": ("recycle", 60, "Evaluating in two quarters."),
    "bad-data": ("recycle", 14, "Phone number bounces, email is a role address."),
    "duplicate": ("disqualify", 0, "Same person as an open opportunity."),
}
BANT = [
    {"budget": "Approved, ~$40k/yr", "authority": "VP Sales signs", "need": "Leads wait days "
     "for a first call", "timeline": "Live this quarter"},
    {"budget": "$25k set aside", "authority": "Head of RevOps with CFO", "need": "No SLA "
     "visibility across teams", "timeline": "Decision in 6 weeks"},
    {"budget": "Pending, likely yes", "authority": "CRO", "need": "Routing by region is "
     "manual", "timeline": "Pilot next month"},
]  # fmt: skip
QUESTIONS = [
    "Which product line did they ask about on the demo form?",
    "Is this the same company as the existing account in Toronto?",
    "Do we know the team size? The form says 1-10 but the title says VP.",
]
NOTES = [
    "Visited pricing three times this week and asked for a demo.",
    "Webinar attendee, downloaded the ROI guide, strong fit.",
    "Came through a partner referral; wants a call before Friday.",
    "Downloaded the security whitepaper and asked about single sign-on.",
]
