"""Date formats for English: every date-time shown names its zone (the viewer's, activated per
request by handoff.timezones), in the admin as on the pages."""

DATETIME_FORMAT = "D j M Y, H:i T"
SHORT_DATETIME_FORMAT = "j M Y, H:i T"
